/**
 * The budget ledger: what the pool has spent, what running tasks hold, and whether new work fits.
 *
 * A task reserves its cap when it is dispatched and settles its real cost when it ends, so concurrent tasks
 * can never together spend past the pool budget. Pure functions over plain data.
 */
import type { TaskId } from './types.js';

/** Spend and reservations in microdollars. */
export interface BudgetLedger {
  /** The pool budget; `undefined` means no limit. */
  limitMicrodollars?: number;
  /** Settled spend. */
  spentMicrodollars: number;
  /** Caps held by running tasks. */
  reservations: Record<TaskId, number>;
  /** What a task without its own cap reserves (default: the budget divided by the number of slots). */
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

/** Checks, at submission, whether a task may be accepted at all. */
export function admissionRefusal(ledger: BudgetLedger, taskCapMicrodollars?: number): BudgetRefusal | undefined {
  if (ledger.limitMicrodollars === undefined) return undefined;
  if (ledger.spentMicrodollars >= ledger.limitMicrodollars) {
    return {
      code: 'budget_exhausted',
      spentMicrodollars: ledger.spentMicrodollars,
      limitMicrodollars: ledger.limitMicrodollars,
    };
  }
  const remaining = remainingMicrodollars(ledger);
  if (taskCapMicrodollars !== undefined && taskCapMicrodollars > remaining) {
    return { code: 'task_budget_exceeds_remaining', taskMicrodollars: taskCapMicrodollars, remainingMicrodollars: remaining };
  }
  return undefined;
}

/**
 * Decides, at dispatch, what a task reserves: an amount to hold, `wait` until running tasks settle, or a
 * refusal when nothing running could ever free enough.
 */
export function planReservation(
  ledger: BudgetLedger,
  taskCapMicrodollars: number | undefined,
  slotCount: number,
): { kind: 'reserve'; amount: number } | { kind: 'wait' } | { kind: 'refuse'; refusal: BudgetRefusal } {
  if (ledger.limitMicrodollars === undefined) return { kind: 'reserve', amount: taskCapMicrodollars ?? 0 };
  const refusal = admissionRefusal(ledger, taskCapMicrodollars);
  const anyRunning = Object.keys(ledger.reservations).length > 0;
  if (refusal) return anyRunning ? { kind: 'wait' } : { kind: 'refuse', refusal };
  const free = unreservedMicrodollars(ledger);
  const fairShare = Math.floor(ledger.limitMicrodollars / Math.max(1, slotCount));
  // A task needs its whole cap (or its whole share) free: the sum of reservations never exceeds the budget.
  const wanted = taskCapMicrodollars ?? ledger.defaultReserveMicrodollars ?? fairShare;
  if (free <= 0 || wanted > free || wanted <= 0) {
    if (anyRunning) return { kind: 'wait' };
    if (free > 0 && wanted > free) {
      // The task's reservation (its cap, or its share of the budget) is more than what is left.
      return { kind: 'refuse', refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: wanted, remainingMicrodollars: free } };
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
  return { kind: 'reserve', amount: wanted };
}

/** Releases a task's reservation and books what it really spent. */
export function settle(ledger: BudgetLedger, taskId: TaskId, costMicrodollars: number): BudgetLedger {
  const { [taskId]: _released, ...reservations } = ledger.reservations;
  return { ...ledger, spentMicrodollars: ledger.spentMicrodollars + costMicrodollars, reservations };
}

/** Holds an amount for a task. */
export function reserve(ledger: BudgetLedger, taskId: TaskId, amount: number): BudgetLedger {
  return { ...ledger, reservations: { ...ledger.reservations, [taskId]: amount } };
}
