/**
 * The pool statechart's back-pressure hooks: what a pressure signal, a finished run, a due retry and the end
 * of a pause do to the pool's context. The arithmetic is in `backpressure.ts`; these helpers only apply it
 * and arm or cancel the two kinds of timers it needs (one per task waiting out its backoff, one for a pause).
 * While there is no pressure a finished run costs one property check here.
 */
import {
  concurrencyStatus,
  decrease,
  forgetTask,
  increase,
  markCancelled,
  isPressureRetry,
  pause,
  pauseOfSignal,
  planRetry,
  pressureOfResult,
  resume,
  startWaiting,
  stopWaiting,
  type Backpressure,
  type ConcurrencyStatus,
  type PressureSignal,
  type RetryDecision,
} from './backpressure.js';
import { errorCodeOf } from './failure.js';
import type { Enqueue, PoolContext } from './pool.js';
import type { SlotJob, TaskId, TaskResult } from './types.js';

/** The id of the timer that ends a pause. */
export const RESUME_TIMER = 'pressure-resume';

/** The id of the timer that queues a task again after its backoff. */
export function retryTimer(taskId: TaskId): string {
  return `retry:${taskId}`;
}

/** How the pool's back-pressure changed, as the pool reports it (an emitted `pressure` event). */
export type PressureChange = 'throttled' | 'recovered' | 'paused' | 'resumed';

/** The emitted event of a back-pressure change. */
export interface PressureEmitted {
  type: 'pressure';
  change: PressureChange;
  concurrency: ConcurrencyStatus;
}

/** Slots that count towards the limit: not being removed, not stopped. */
function slotCount(context: PoolContext): number {
  let count = 0;
  for (const id of context.slotOrder) {
    if (context.slotStates[id] !== 'stopped' && !context.removing.includes(id)) count++;
  }
  return count;
}

/** True when a finished run can change the back-pressure state (the check a run pays without pressure). */
export function runTouchesPressure(context: PoolContext, taskId: TaskId, result: TaskResult): boolean {
  const state = context.backpressure;
  return (
    result.apiErrorStatus !== undefined ||
    state.limit !== undefined ||
    taskId in state.attempts ||
    taskId in state.cancelledRuns
  );
}

/** A pressure signal from a running agent: an `api_retry` cuts the limit, a used-up window pauses dispatch. */
export function notePressureSignal(context: PoolContext, signal: PressureSignal, enqueue: Enqueue): void {
  if (context.phase === 'stopped') return;
  const now = context.clock();
  const before = context.backpressure;
  const config = context.config.backpressure;
  const until = pauseOfSignal(signal);
  let after = before;
  if (until !== undefined) after = pause(before, until, now);
  else if (signal.kind === 'rate_limit' && signal.status === 'rejected') {
    after = decrease(before, 'rate_limit_window', slotCount(context), now, config);
  } else if (isPressureRetry(signal)) after = decrease(before, 'api_retry', slotCount(context), now, config);
  if (after === before) return;
  enqueue.assign({ backpressure: after });
  if (after.pausedUntil !== undefined && after.pausedUntil !== before.pausedUntil) {
    enqueue.cancel(RESUME_TIMER);
    enqueue.raise({ type: 'PRESSURE.RESUME' }, { delay: after.pausedUntil - now, id: RESUME_TIMER });
  }
  report(context, before, after, enqueue);
}

/**
 * A finished run of a task: a success raises the limit; a run that failed on HTTP 429/529 cuts it and sends
 * the task into backoff (it is queued again later), or, with its retries used up, fails it as `rate_limited`.
 * Returns the result to hand to the task, or `undefined` when the task went into backoff.
 */
export function settleRunPressure(
  context: PoolContext,
  job: SlotJob | undefined,
  taskId: TaskId,
  result: TaskResult,
  enqueue: Enqueue,
): TaskResult | undefined {
  const before = context.backpressure;
  const config = context.config.backpressure;
  const pressure = pressureOfResult(result);
  if (pressure === undefined) {
    let after = forgetTask(before, taskId);
    if (result.success) after = increase(after, slotCount(context), config);
    if (after !== before) {
      enqueue.assign({ backpressure: after });
      report(context, before, after, enqueue);
    }
    return result;
  }
  const now = context.clock();
  let after = decrease(before, pressure, slotCount(context), now, config);
  const decision: RetryDecision = job
    ? planRetry(after, taskId, now, config, context.random)
    : { kind: 'exhausted', attempts: after.attempts[taskId] ?? 0 };
  if (decision.kind === 'retry' && job) {
    after = startWaiting(after, job, decision.attempt);
    enqueue.assign({ backpressure: after });
    enqueue.raise({ type: 'PRESSURE.RETRY', taskId }, { delay: decision.delayMs, id: retryTimer(taskId) });
    report(context, before, after, enqueue);
    return undefined;
  }
  after = forgetTask(after, taskId);
  enqueue.assign({ backpressure: after });
  report(context, before, after, enqueue);
  return rateLimitedResult(result, decision.kind === 'exhausted' ? decision.attempts : 0);
}

/** The failed result of a task whose rate-limit retries are used up: the run's result, as `rate_limited`. */
export function rateLimitedResult(result: TaskResult, attempts: number): TaskResult {
  const failure = {
    kind: 'rate_limited' as const,
    status: result.apiErrorStatus ?? 529,
    attempts,
    ...(result.partialOutput !== undefined && { partialOutput: result.partialOutput }),
  };
  return { ...result, failure, errorCode: errorCodeOf(failure) };
}

/** A task's backoff is over: it is queued again (at the back) and dispatch runs. */
export function retryDue(context: PoolContext, taskId: TaskId, enqueue: Enqueue): void {
  const job = context.backpressure.waiting[taskId];
  if (!job) return;
  enqueue.assign({ backpressure: stopWaiting(context.backpressure, taskId) });
  enqueue({ type: 'enqueueTask', params: { job } });
  enqueue({ type: 'dispatch' });
}

/** The pause is over: dispatch runs again. */
export function resumeDispatch(context: PoolContext, enqueue: Enqueue): void {
  const before = context.backpressure;
  const after = resume(before);
  if (after === before) return;
  enqueue.assign({ backpressure: after });
  report(context, before, after, enqueue);
  enqueue({ type: 'dispatch' });
}

/**
 * Forgets tasks that are being cancelled: their retries, and their backoff (its timer disarmed); a running one is
 * marked so that its run's end is not retried. `'all'` takes every task in backoff. Returns the ids that were in
 * backoff.
 */
export function dropWaiting(context: PoolContext, taskIds: Iterable<TaskId> | 'all', enqueue: Enqueue): TaskId[] {
  const before = context.backpressure;
  const ids = taskIds === 'all' ? Object.keys(before.waiting) : [...taskIds];
  let state: Backpressure = before;
  const waiting: TaskId[] = [];
  for (const id of ids) {
    if (id in state.waiting) {
      waiting.push(id);
      enqueue.cancel(retryTimer(id));
    }
    state = id in context.running ? markCancelled(state, id) : forgetTask(state, id);
  }
  if (state !== before) enqueue.assign({ backpressure: state });
  return waiting;
}

/**
 * A task ended: its retry count goes (the pool keeps nothing of a task once it has ended), unless its run is
 * still in progress (a cancelled run's end is awaited, so that it is not retried).
 */
export function forgetEnded(context: PoolContext, taskId: TaskId): Backpressure {
  const state = context.backpressure;
  if (!(taskId in state.attempts) || taskId in context.running) return state;
  return forgetTask(state, taskId);
}

/** Disarms every back-pressure timer (the pool stopped). */
export function disarmPressureTimers(context: PoolContext, enqueue: Enqueue): void {
  enqueue.cancel(RESUME_TIMER);
  for (const id of Object.keys(context.backpressure.waiting)) enqueue.cancel(retryTimer(id));
}

/** Emits what changed: the limit cut or back to the slots, a pause begun or ended. */
function report(context: PoolContext, before: Backpressure, after: Backpressure, enqueue: Enqueue): void {
  const changes: PressureChange[] = [];
  if (after.limit !== undefined && (before.limit === undefined || after.limit < before.limit))
    changes.push('throttled');
  if (before.limit !== undefined && after.limit === undefined) changes.push('recovered');
  if (after.pausedUntil !== undefined && after.pausedUntil !== before.pausedUntil) changes.push('paused');
  if (before.pausedUntil !== undefined && after.pausedUntil === undefined) changes.push('resumed');
  if (changes.length === 0) return;
  const concurrency = concurrencyStatus(after, slotCount(context));
  for (const change of changes) enqueue.emit({ type: 'pressure', change, concurrency });
}
