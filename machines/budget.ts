/**
 * The budget ledger: what the pool has spent, what running tasks hold, and whether new work fits.
 *
 * A task reserves its cap when it is dispatched and settles its real cost when it ends, so concurrent tasks
 * can never together spend past the pool budget. Pure functions over plain data.
 */
import { withKey, withoutKey } from './keyed.js';
import type { TaskFailure } from './failure.js';
import type { TaskId } from './types.js';

/** Spend and reservations in microdollars. */
export interface BudgetLedger {
  /** The pool budget; `undefined` means no limit. */
  limitMicrodollars?: number;
  /** Settled spend. */
  spentMicrodollars: number;
  /** Caps held by running tasks. */
  reservations: Record<TaskId, number>;
  /** What a task without its own cap reserves (default: its share of what is unreserved; see `planReservation`). */
  defaultReserveMicrodollars?: number;
}

/** Why work cannot start: the pool budget is used up, or a task's cap is more than what is left. */
export type BudgetRefusal =
  | { code: 'budget_exhausted'; spentMicrodollars: number; limitMicrodollars: number }
  | { code: 'task_budget_exceeds_remaining'; taskMicrodollars: number; remainingMicrodollars: number };

/** Converts USD to integer microdollars (truncated). */
export function usdToMicrodollars(usd: number): number {
  if (!Number.isFinite(usd) || usd <= 0) return 0;
  // Round away binary noise (0.021232 - 0.010552 is 0.010679999…) before truncating.
  return Math.trunc(Math.round(usd * 1e9) / 1e3);
}

/** Sum of the caps held by running tasks. */
export function reservedTotal(ledger: BudgetLedger): number {
  let total = 0;
  for (const amount of Object.values(ledger.reservations)) total += amount;
  return total;
}

/** Budget left after settled spend (ignores reservations); `Infinity` without a limit. */
export function remainingMicrodollars(ledger: BudgetLedger): number {
  if (ledger.limitMicrodollars === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, ledger.limitMicrodollars - ledger.spentMicrodollars);
}

/** Budget left after settled spend and reservations; `Infinity` without a limit. */
export function unreservedMicrodollars(ledger: BudgetLedger): number {
  return Math.max(0, remainingMicrodollars(ledger) - reservedTotal(ledger));
}

/** Formats microdollars as dollars, exactly: at least two decimals, up to six (`$0.80`, `$0.018052`). */
export function formatUsd(microdollars: number): string {
  const negative = microdollars < 0;
  const whole = Math.trunc(Math.abs(microdollars) / 1e6);
  let fraction = String(Math.abs(microdollars) % 1e6).padStart(6, '0');
  while (fraction.length > 2 && fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return `${negative ? '-' : ''}$${whole}.${fraction}`;
}

/** The text of a budget refusal, with exact amounts (the same text the typed errors carry). */
export function refusalText(refusal: BudgetRefusal): string {
  if (refusal.code === 'budget_exhausted') {
    return `budget exhausted: spent ${formatUsd(refusal.spentMicrodollars)} of ${formatUsd(refusal.limitMicrodollars)}`;
  }
  return (
    `task budget ${formatUsd(refusal.taskMicrodollars)} exceeds remaining pool budget ` +
    `${formatUsd(refusal.remainingMicrodollars)}`
  );
}

/**
 * Checks, at submission, whether a task may be accepted at all: the budget must not be spent down below the
 * floor (an uncapped task could not complete a model call), and a task's own cap must fit in what is left.
 */
export function admissionRefusal(
  ledger: BudgetLedger,
  taskCapMicrodollars?: number,
  floorMicrodollars = 0,
): BudgetRefusal | undefined {
  if (ledger.limitMicrodollars === undefined) return undefined;
  const remaining = remainingMicrodollars(ledger);
  const needed = taskCapMicrodollars === undefined ? Math.max(1, floorMicrodollars) : 1;
  if (remaining < needed) {
    return {
      code: 'budget_exhausted',
      spentMicrodollars: ledger.spentMicrodollars,
      limitMicrodollars: ledger.limitMicrodollars,
    };
  }
  if (taskCapMicrodollars !== undefined && taskCapMicrodollars > remaining) {
    return {
      code: 'task_budget_exceeds_remaining',
      taskMicrodollars: taskCapMicrodollars,
      remainingMicrodollars: remaining,
    };
  }
  return undefined;
}

/** What a dispatch pass knows when it plans one task's reservation. */
export interface ReservationRequest {
  /** The task's own cap, if it has one. */
  capMicrodollars?: number;
  /** Idle slots this pass can still give work to, the one this task would take included (at least 1). */
  freeSlots: number;
  /** The least an uncapped task is given: below it a run could not complete a model call. */
  floorMicrodollars: number;
}

/**
 * Decides, at dispatch, what a task reserves: an amount to hold, `wait` until running tasks settle, or a
 * refusal when nothing running could ever free enough.
 *
 * A capped task reserves its cap. An uncapped task reserves its share of what is unreserved now, shared among
 * the slots that are free (so every free slot can start work), but never less than the floor; with
 * `defaultReserveMicrodollars` set it reserves that fixed amount instead. The sum of reservations never
 * exceeds what is left of the budget.
 */
export function planReservation(
  ledger: BudgetLedger,
  request: ReservationRequest,
): { kind: 'reserve'; amount: number } | { kind: 'wait' } | { kind: 'refuse'; refusal: BudgetRefusal } {
  const cap = request.capMicrodollars;
  if (ledger.limitMicrodollars === undefined) return { kind: 'reserve', amount: cap ?? 0 };
  const anyRunning = Object.keys(ledger.reservations).length > 0;
  const refusal = admissionRefusal(ledger, cap, request.floorMicrodollars);
  if (refusal) return anyRunning ? { kind: 'wait' } : { kind: 'refuse', refusal };
  const free = unreservedMicrodollars(ledger);
  let wanted: number;
  if (cap !== undefined) wanted = cap;
  else if (ledger.defaultReserveMicrodollars !== undefined) wanted = ledger.defaultReserveMicrodollars;
  else wanted = Math.min(free, Math.max(request.floorMicrodollars, Math.floor(free / Math.max(1, request.freeSlots))));
  if (wanted > 0 && wanted <= free && (cap !== undefined || wanted >= request.floorMicrodollars)) {
    return { kind: 'reserve', amount: wanted };
  }
  if (anyRunning) return { kind: 'wait' };
  if (cap !== undefined || ledger.defaultReserveMicrodollars !== undefined) {
    return {
      kind: 'refuse',
      refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: wanted, remainingMicrodollars: free },
    };
  }
  return {
    kind: 'refuse',
    refusal: {
      code: 'budget_exhausted',
      spentMicrodollars: ledger.spentMicrodollars,
      limitMicrodollars: ledger.limitMicrodollars,
    },
  };
}

/** Releases a task's reservation and books what it really spent. */
export function settle(ledger: BudgetLedger, taskId: TaskId, costMicrodollars: number): BudgetLedger {
  const reservations = withoutKey(ledger.reservations, taskId);
  return { ...ledger, spentMicrodollars: ledger.spentMicrodollars + costMicrodollars, reservations };
}

/** Holds an amount for a task. */
export function reserve(ledger: BudgetLedger, taskId: TaskId, amount: number): BudgetLedger {
  return { ...ledger, reservations: withKey(ledger.reservations, taskId, amount) };
}

/** A budget refusal as a task failure. */
export function budgetFailure(refusal: BudgetRefusal): TaskFailure {
  if (refusal.code === 'budget_exhausted') {
    return {
      kind: 'budget_exhausted',
      spentMicrodollars: refusal.spentMicrodollars,
      limitMicrodollars: refusal.limitMicrodollars,
    };
  }
  return {
    kind: 'task_budget_exceeds_remaining',
    taskMicrodollars: refusal.taskMicrodollars,
    remainingMicrodollars: refusal.remainingMicrodollars,
  };
}
