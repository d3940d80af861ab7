/**
 * The one place where failures and refusals (data made by the statecharts) become the exported error classes.
 */
import type { AdmissionRefusal } from '../../machines/admission.js';
import type { SlotId, TaskRecord, TaskResult } from '../../machines/types.js';
import {
  BudgetExhausted,
  NoSlotAvailable,
  PermissionPromptDetected,
  PoolError,
  PoolShutdown,
  RateLimited,
  ScaleLimitExceeded,
  TaskBudgetExceedsRemaining,
  TaskCancelled,
} from '../errors.js';

/** The typed error for a refused request. */
export function errorForRefusal(refusal: AdmissionRefusal): PoolError {
  switch (refusal.code) {
    case 'pool_shutdown':
      return new PoolShutdown();
    case 'budget_exhausted':
      return new BudgetExhausted(refusal.spentMicrodollars, refusal.limitMicrodollars);
    case 'task_budget_exceeds_remaining':
      return new TaskBudgetExceedsRemaining(refusal.taskMicrodollars / 1e6, refusal.remainingMicrodollars / 1e6);
    case 'scale_limit_exceeded':
      return new ScaleLimitExceeded(
        refusal.bound === 'max'
          ? `cannot scale up to ${refusal.requestedSlots} slots: exceeds max_slots (${refusal.limitSlots})`
          : `cannot scale down to ${refusal.requestedSlots} slots: below min_slots (${refusal.limitSlots})`,
      );
  }
}

/**
 * The typed error a failed result stands for, when the failure is the pool's (it never ran, or could not):
 * `run` throws these; other failures are returned as results.
 */
export function errorForResult(
  result: TaskResult,
  slotId: SlotId | undefined,
  slotAssignmentTimeoutSecs: number,
): PoolError | undefined {
  const failure = result.failure;
  if (result.success || !failure) return undefined;
  switch (failure.kind) {
    case 'no_slot_available':
      return new NoSlotAvailable(slotAssignmentTimeoutSecs, result.output);
    case 'pool_shutdown':
      return new PoolShutdown();
    case 'budget_exhausted':
      return new BudgetExhausted(failure.spentMicrodollars, failure.limitMicrodollars);
    case 'task_budget_exceeds_remaining':
      return new TaskBudgetExceedsRemaining(failure.taskMicrodollars / 1e6, failure.remainingMicrodollars / 1e6);
    case 'permission_prompt':
      return new PermissionPromptDetected(failure.tool, slotId ?? '', result.stderr ?? '');
    case 'rate_limited':
      return new RateLimited(failure.status, failure.attempts, failure.partialOutput ?? '', result);
    default:
      return undefined;
  }
}

/** What `run` gives for a finished task: its result, or the typed error of a pool failure or a cancel. */
export function resultOrThrow(record: TaskRecord, slotAssignmentTimeoutSecs: number): TaskResult {
  if (record.state === 'cancelled') throw new TaskCancelled(record.id);
  const result = record.result;
  if (!result) throw new PoolError('internal_error', `task ${record.id} ended without a result`);
  const error = errorForResult(result, record.slotId, slotAssignmentTimeoutSecs);
  if (error) throw error;
  return result;
}

/** A failed result standing for an error `run` threw (what `fanOut` gives in its place). */
export function resultOfError(error: PoolError): TaskResult {
  return {
    output: error.message,
    success: false,
    costMicrodollars: 0,
    turnsUsed: 0,
    elapsedMs: 0,
    errorCode: error.code as NonNullable<TaskResult['errorCode']>,
  };
}
