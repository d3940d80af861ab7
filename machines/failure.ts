/**
 * Failures as data: why a task did not succeed, as a discriminated union carried on its `TaskResult`
 * (`result.failure`), made here from what the run reported. `errorCodeOf` gives the stable string code;
 * the facade maps a failure to the exported error classes in one place (`src/failure-errors.ts`).
 */
import type { RunOutcome, TaskResult } from './types.js';

/** Why a task failed. */
export type TaskFailure =
  /** Cancelled before it produced a result (its process was interrupted, then killed). */
  | { kind: 'cancelled' }
  /** Ran past its timeout; interrupted, then killed. */
  | { kind: 'timeout' }
  /** The process ended without a result line. */
  | { kind: 'crashed'; exitCode?: number; signal?: string }
  /** The process never started. */
  | { kind: 'spawn_failed' }
  /** The pool budget is used up (or below the floor an uncapped run needs). */
  | { kind: 'budget_exhausted'; spentMicrodollars: number; limitMicrodollars: number }
  /** The task's reservation is more than the pool has left. */
  | { kind: 'task_budget_exceeds_remaining'; taskMicrodollars: number; remainingMicrodollars: number }
  /** The agent used up its turns. */
  | { kind: 'max_turns' }
  /** The agent's own spend cap (`--max-budget-usd`) stopped it. */
  | { kind: 'max_budget' }
  /** The run stopped at a tool-permission prompt. */
  | { kind: 'permission_prompt'; tool: string }
  /** The model API answered with an error. */
  | { kind: 'api_error'; status?: number }
  /**
   * The model API kept refusing with HTTP 429 (rate limited) or 529 (overloaded): the pool queued the task again
   * `attempts` times with backoff, then gave up. `partialOutput` is what the last run streamed before the error.
   */
  | { kind: 'rate_limited'; status: number; attempts: number; partialOutput?: string }
  /** The agent reported another error in its result line. */
  | { kind: 'agent_error'; subtype?: string }
  /** The pool stopped while the task ran; found on restart. */
  | { kind: 'interrupted' }
  /** No slot could run the task (none at all, all errored for good, or none free within the timeout). */
  | { kind: 'no_slot_available'; reason: string }
  /** The pool was shut down before the task could run. */
  | { kind: 'pool_shutdown' }
  /** Rejected by its reviewer as often as allowed. */
  | { kind: 'max_rejections'; rejections: number }
  /** A fault inside the pool. */
  | { kind: 'internal_error' };

/** The kinds of `TaskFailure`. */
export type FailureKind = TaskFailure['kind'];

/** The stable code of a failure, as `TaskResult.errorCode` carries it. */
export type ErrorCode =
  | 'cancelled'
  | 'timeout'
  | 'crashed'
  | 'spawn_failed'
  | 'budget_exhausted'
  | 'task_budget_exceeds_remaining'
  | 'max_turns'
  | 'max_budget'
  | 'permission_prompt_detected'
  | 'api_error'
  | 'rate_limited'
  | 'agent_error'
  | 'interrupted'
  | 'no_slot_available'
  | 'pool_shutdown'
  | 'max_rejections'
  | 'internal_error'
  /** `fanOut` results of tasks the facade refused or that were cancelled before they ran. */
  | 'task_cancelled'
  | 'invalid_input';

/** The code of a failure. */
export function errorCodeOf(failure: TaskFailure): ErrorCode {
  return failure.kind === 'permission_prompt' ? 'permission_prompt_detected' : failure.kind;
}

/** A result the pool itself makes for a task that could not run (or stopped), with its failure. */
export function poolFailure(output: string, failure: TaskFailure): TaskResult {
  return {
    output,
    success: false,
    costMicrodollars: 0,
    turnsUsed: 0,
    elapsedMs: 0,
    errorCode: errorCodeOf(failure),
    failure,
  };
}

/** Why a run's result is a failure, from what the run reported; `undefined` for a success. */
export function failureOfRun(outcome: RunOutcome): TaskFailure | undefined {
  const { result } = outcome;
  if (result.failure) return result.failure;
  if (result.success) return undefined;
  switch (outcome.kind) {
    case 'aborted':
      return { kind: 'cancelled' };
    case 'timeout':
      return { kind: 'timeout' };
    case 'spawn_failed':
      return { kind: 'spawn_failed' };
    case 'crashed':
      if (result.errorCode === 'internal_error') return { kind: 'internal_error' };
      return {
        kind: 'crashed',
        ...(result.exitCode !== undefined && { exitCode: result.exitCode }),
        ...(result.signal && { signal: result.signal }),
      };
    case 'ok':
      if (result.apiErrorStatus !== undefined) return { kind: 'api_error', status: result.apiErrorStatus };
      if (result.subtype === 'error_max_turns') return { kind: 'max_turns' };
      if (result.subtype === 'error_max_budget_usd') return { kind: 'max_budget' };
      return { kind: 'agent_error', ...(result.subtype && { subtype: result.subtype }) };
  }
}

/** The result with its failure (and code) filled in from the run, when it failed. */
export function withFailure(outcome: RunOutcome): TaskResult {
  const failure = failureOfRun(outcome);
  if (!failure) return outcome.result;
  return { ...outcome.result, failure, errorCode: outcome.result.errorCode ?? errorCodeOf(failure) };
}
