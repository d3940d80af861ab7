/**
 * Admission: whether the pool accepts a request now. One pure function per kind of request, used by the pool
 * statechart, which reports every refusal back as an emitted `decision` event (the facade turns it into the
 * typed error). Nothing else decides whether work is accepted.
 */
import { admissionRefusal, type BudgetLedger, type BudgetRefusal } from './budget.js';

/** The pool's phases. */
export type PoolPhase = 'running' | 'draining' | 'stopped';

/** Why a request was refused. */
export type AdmissionRefusal =
  | BudgetRefusal
  | { code: 'pool_shutdown' }
  | { code: 'scale_limit_exceeded'; requestedSlots: number; limitSlots: number; bound: 'max' | 'min' };

/** What a task submission asks for. */
export interface TaskAdmissionRequest {
  /** The task's own spend cap, if any. */
  capMicrodollars?: number;
  /** A step of a chain already running: still admitted while the pool drains. */
  internal: boolean;
}

/** Whether a task (or a chain: `internal` false, no cap) is accepted in this phase with this ledger. */
export function admitTask(
  phase: PoolPhase,
  ledger: BudgetLedger,
  floorMicrodollars: number,
  request: TaskAdmissionRequest,
): AdmissionRefusal | undefined {
  if (phase === 'stopped' || (phase === 'draining' && !request.internal)) return { code: 'pool_shutdown' };
  return admissionRefusal(ledger, request.capMicrodollars, floorMicrodollars);
}

/** Whether the pool may go from `current` active slots to `target` within its scaling bounds. */
export function admitScale(
  phase: PoolPhase,
  current: number,
  target: number,
  bounds: { minSlots: number; maxSlots: number },
): AdmissionRefusal | undefined {
  if (phase !== 'running') return { code: 'pool_shutdown' };
  if (target > current && target > bounds.maxSlots) {
    return { code: 'scale_limit_exceeded', requestedSlots: target, limitSlots: bounds.maxSlots, bound: 'max' };
  }
  if (target < current && target < bounds.minSlots) {
    return { code: 'scale_limit_exceeded', requestedSlots: target, limitSlots: bounds.minSlots, bound: 'min' };
  }
  return undefined;
}
