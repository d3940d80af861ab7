/**
 * Typed errors. Every error the pool throws is a `PoolError` with a stable `code`.
 */
import { formatUsd, usdToMicrodollars } from '../machines/budget.js';
import type { TaskResult, TaskState } from '../machines/types.js';
import type { StoreErrorCode } from './store/errors.js';
import type { WorktreeErrorCode } from './worktree.js';

/** The stable codes of the pool's errors (the worktree and store errors add their own). */
export type PoolErrorCode = CoreErrorCode | WorktreeErrorCode | StoreErrorCode;

/** The codes of the errors defined in this file. */
export type CoreErrorCode =
  | 'budget_exhausted'
  | 'task_budget_exceeds_remaining'
  | 'no_slot_available'
  | 'pool_shutdown'
  | 'task_not_found'
  | 'slot_not_found'
  | 'invalid_task_state'
  | 'scale_limit'
  | 'invalid_input'
  | 'permission_prompt_detected'
  | 'rate_limited'
  | 'permission_request_not_found'
  | 'task_cancelled'
  | 'not_found'
  | 'internal_error'
  | 'route_failed';

/** Base class of every error the pool throws. */
export class PoolError extends Error {
  /** A stable, machine-readable code. */
  readonly code: PoolErrorCode;

  constructor(code: PoolErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The pool budget is used up. */
export class BudgetExhausted extends PoolError {
  constructor(
    readonly spentMicrodollars: number,
    readonly limitMicrodollars: number,
  ) {
    super(
      'budget_exhausted',
      `budget exhausted: spent ${formatUsd(spentMicrodollars)} of ${formatUsd(limitMicrodollars)}`,
    );
  }
}

/** A task's own cap is more than the pool has left. */
export class TaskBudgetExceedsRemaining extends PoolError {
  constructor(
    readonly taskBudgetUsd: number,
    readonly remainingUsd: number,
  ) {
    super(
      'task_budget_exceeds_remaining',
      `task budget ${formatUsd(usdToMicrodollars(taskBudgetUsd))} exceeds remaining pool budget ` +
        formatUsd(usdToMicrodollars(remainingUsd)),
    );
  }
}

/** No slot became idle within the assignment timeout. */
export class NoSlotAvailable extends PoolError {
  constructor(
    readonly timeoutSecs: number,
    detail?: string,
  ) {
    super('no_slot_available', detail ?? `no slot available after waiting ${timeoutSecs}s`);
  }
}

/** The pool has been drained and takes no new work. */
export class PoolShutdown extends PoolError {
  constructor() {
    super('pool_shutdown', 'pool is shut down');
  }
}

/** No task (or chain) has this id. */
export class TaskNotFound extends PoolError {
  constructor(readonly taskId: string) {
    super('task_not_found', `task not found: ${taskId}`);
  }
}

/** No slot has this id. */
export class SlotNotFound extends PoolError {
  constructor(readonly slotId: string) {
    super('slot_not_found', `slot not found: ${slotId}`);
  }
}

/** The operation needs the task in another state (e.g. approve of a task not pending review). */
export class InvalidTaskState extends PoolError {
  constructor(
    readonly taskId: string,
    readonly state: TaskState,
    expected: string,
  ) {
    super('invalid_task_state', `task ${taskId} is not ${expected} (state: ${state})`);
  }
}

/** A scale request would leave the pool outside `scaling.minSlots`/`maxSlots`. */
export class ScaleLimitExceeded extends PoolError {
  constructor(message: string) {
    super('scale_limit', message);
  }
}

/** The input of an operation is invalid; nothing was changed. */
export class InvalidInput extends PoolError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

/** A run stopped at a tool-permission prompt. */
export class PermissionPromptDetected extends PoolError {
  constructor(
    readonly toolName: string,
    readonly slotId: string,
    readonly stderr: string,
  ) {
    super(
      'permission_prompt_detected',
      `permission prompt detected: ${toolName}. Add it to allowed_tools or use a broader permission mode`,
    );
  }
}

/**
 * The model API kept refusing a task with HTTP 429 (rate limited) or 529 (overloaded): the pool queued it again
 * as often as its back-pressure `retryLimit` allows, then gave up. `partialOutput` is what the last run streamed
 * before the error (empty when nothing); `result` is the task's failed result.
 */
export class RateLimited extends PoolError {
  constructor(
    readonly status: number,
    readonly attempts: number,
    readonly partialOutput: string,
    readonly result: TaskResult,
  ) {
    super(
      'rate_limited',
      `the model API refused the task with HTTP ${status} ${status === 529 ? '(overloaded)' : '(rate limited)'} ` +
        `after ${attempts} retr${attempts === 1 ? 'y' : 'ies'} with backoff`,
    );
  }
}

/** No open tool-permission question has this id (never asked, already answered, or its run has ended). */
export class PermissionRequestNotFound extends PoolError {
  constructor(readonly requestId: string) {
    super(
      'permission_request_not_found',
      `no open permission request ${requestId}: it was never asked, is already answered, or its run has ended`,
    );
  }
}

/** A task was cancelled before it produced a result. */
export class TaskCancelled extends PoolError {
  constructor(readonly taskId: string) {
    super('task_cancelled', `task cancelled: ${taskId}`);
  }
}
