/**
 * Pool-wide back-pressure: how many runs the pool may have at once while the model API pushes back, when
 * dispatch is paused, and how long a task that failed only because of rate limiting waits before it is queued
 * again. Pure: the clock and the random source are arguments.
 *
 * The limit follows additive-increase / multiplicative-decrease (AIMD), as TCP's congestion window does:
 * - a pressure signal (an `api_retry` line while a run goes on, or a run that ended on HTTP 429/529) multiplies
 *   the limit by `decreaseFactor` (never below `minConcurrency`), at most once per `backoffBaseMs`, so that one
 *   burst seen by many runs at once cuts the limit once;
 * - every successful run adds `increaseStep`; once the limit reaches the slot count the pool is unthrottled
 *   again (`limit` unset: no limit but the slots).
 * A `rate_limit_event` whose window is used up pauses dispatch until the window resets.
 */
import { emptyKeyed, withKey, withoutKey } from './keyed.js';
import type { SlotJob, TaskId, TaskResult } from './types.js';

/** The back-pressure settings of a pool. */
export interface BackpressureConfig {
  /** The limit never goes below this many runs (default 1). */
  minConcurrency: number;
  /** A pressure signal multiplies the limit by this, in (0, 1) (default 0.5). */
  decreaseFactor: number;
  /** A successful run adds this to the limit, > 0 (default 1). */
  increaseStep: number;
  /** How often a task that failed only because of rate limiting or overload is queued again (default 5). */
  retryLimit: number;
  /** The first retry waits about this long; each further one twice as long (default 1000 ms). */
  backoffBaseMs: number;
  /** No retry waits longer than this (default 60000 ms). */
  backoffMaxMs: number;
}

/** The default back-pressure settings. */
export function defaultBackpressureConfig(): BackpressureConfig {
  return {
    minConcurrency: 1,
    decreaseFactor: 0.5,
    increaseStep: 1,
    retryLimit: 5,
    backoffBaseMs: 1_000,
    backoffMaxMs: 60_000,
  };
}

/**
 * What is wrong with a back-pressure config (one message per problem; empty when it is valid). Every field is
 * checked, so that a value of the wrong type (from a config file) is named, not silently used.
 */
export function backpressureConfigProblems(config: BackpressureConfig): string[] {
  const problems: string[] = [];
  const integer = (name: keyof BackpressureConfig, min: number) => {
    const value: unknown = config[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      problems.push(`backpressure.${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
    }
  };
  integer('minConcurrency', 1);
  integer('retryLimit', 0);
  integer('backoffBaseMs', 0);
  integer('backoffMaxMs', 0);
  const factor: unknown = config.decreaseFactor;
  if (typeof factor !== 'number' || !(factor > 0 && factor < 1)) {
    problems.push(
      `backpressure.decreaseFactor must be a number between 0 and 1 (exclusive), got ${JSON.stringify(factor)}`,
    );
  }
  const step: unknown = config.increaseStep;
  if (typeof step !== 'number' || !Number.isFinite(step) || !(step > 0)) {
    problems.push(`backpressure.increaseStep must be a number greater than 0, got ${JSON.stringify(step)}`);
  }
  if (problems.length === 0 && config.backoffMaxMs < config.backoffBaseMs) {
    problems.push(
      `backpressure.backoffMaxMs (${config.backoffMaxMs}) is less than backpressure.backoffBaseMs (${config.backoffBaseMs})`,
    );
  }
  return problems;
}

/** Why the pool is throttled: the last pressure signal that cut its limit. */
export type PressureReason =
  /** A run reported an `api_retry` (the CLI is retrying an API call that failed). */
  | 'api_retry'
  /** A run ended on HTTP 529 (the API is overloaded). */
  | 'overloaded'
  /** A run ended on HTTP 429 (rate limited). */
  | 'rate_limited'
  /** A `rate_limit_event` said the usage window is used up. */
  | 'rate_limit_window';

/** A pressure signal from a run, as the agent adapter reports it while the run goes on. */
export type PressureSignal =
  /** `system/api_retry`: the CLI retries an API call (`status` is the HTTP status, when it had one). */
  | { kind: 'api_retry'; attempt?: number; status?: number; error?: string; retryDelayMs?: number }
  /** `rate_limit_event`: `status` is `allowed`, `allowed_warning` or `rejected`; `resetsAtMs` is Unix ms. */
  | { kind: 'rate_limit'; status: string; resetsAtMs?: number; rateLimitType?: string };

/** The pool's back-pressure state. */
export interface Backpressure {
  /** The most runs that may be in progress; unset while the pool is not throttled (the slots are the limit). */
  readonly limit?: number;
  /** Why the limit is what it is (set while throttled or paused). */
  readonly reason?: PressureReason;
  /** When the limit was last cut (Unix ms). */
  readonly lastDecreaseAt?: number;
  /** Dispatch is paused until then (Unix ms). */
  readonly pausedUntil?: number;
  /** Rate-limit retries each task has used (only tasks that have used one). */
  readonly attempts: Readonly<Record<TaskId, number>>;
  /** Tasks waiting out their backoff before they are queued again, with their work. */
  readonly waiting: Readonly<Record<TaskId, SlotJob>>;
  /** Running tasks that were cancelled: however their run ends, it is not retried. */
  readonly cancelledRuns: Readonly<Record<TaskId, true>>;
}

/** No pressure: not throttled, not paused, nothing waiting. */
export function initialBackpressure(): Backpressure {
  return { attempts: emptyKeyed(), waiting: emptyKeyed(), cancelledRuns: emptyKeyed() };
}

/** True while the pool is throttled or paused (dispatch then counts runs against the limit). */
export function isConstrained(state: Backpressure): boolean {
  return state.limit !== undefined || state.pausedUntil !== undefined;
}

/** The limit as a whole number of runs: the slot count while not throttled. */
export function effectiveLimit(state: Backpressure, slots: number): number {
  return state.limit === undefined ? slots : Math.floor(state.limit);
}

/** How many more runs dispatch may start now, with `running` in progress (`Infinity` when unconstrained). */
export function startAllowance(state: Backpressure, running: number): number {
  if (state.pausedUntil !== undefined) return 0;
  if (state.limit === undefined) return Infinity;
  return Math.max(0, Math.floor(state.limit) - running);
}

/**
 * Multiplicative decrease: the limit (the slot count when unthrottled) times the factor, rounded down, at least
 * `minConcurrency` (or the slot count, when there are fewer slots). Within `backoffBaseMs` of the last cut the
 * state is returned unchanged.
 */
export function decrease(
  state: Backpressure,
  reason: PressureReason,
  slots: number,
  now: number,
  config: BackpressureConfig,
): Backpressure {
  if (state.lastDecreaseAt !== undefined && now - state.lastDecreaseAt < config.backoffBaseMs) return state;
  const current = state.limit ?? slots;
  const floor = Math.max(1, Math.min(config.minConcurrency, slots));
  const limit = Math.max(floor, Math.floor(current * config.decreaseFactor));
  return { ...state, limit, reason, lastDecreaseAt: now };
}

/** Additive increase after a successful run; reaching the slot count ends the throttling. */
export function increase(state: Backpressure, slots: number, config: BackpressureConfig): Backpressure {
  if (state.limit === undefined) return state;
  const limit = state.limit + config.increaseStep;
  if (limit >= slots) {
    const { limit: _limit, reason: _reason, ...rest } = state;
    return state.pausedUntil === undefined ? rest : { ...rest, reason: 'rate_limit_window' };
  }
  return { ...state, limit };
}

/** Pauses dispatch until `until` (Unix ms); a pause that ends later is kept, one in the past is ignored. */
export function pause(state: Backpressure, until: number, now: number): Backpressure {
  if (until <= now || (state.pausedUntil !== undefined && state.pausedUntil >= until)) return state;
  return { ...state, pausedUntil: until, reason: 'rate_limit_window' };
}

/** Ends the pause (its timer fired). */
export function resume(state: Backpressure): Backpressure {
  if (state.pausedUntil === undefined) return state;
  const { pausedUntil: _until, reason, ...rest } = state;
  return rest.limit === undefined ? rest : { ...rest, reason };
}

/**
 * Whether an `api_retry` is API pressure: it is, unless its HTTP status is a 4xx other than 429 (a bad key or
 * a bad request is retried by the CLI too, but more room would not help).
 */
export function isPressureRetry(signal: PressureSignal): boolean {
  if (signal.kind !== 'api_retry') return false;
  if (signal.error === 'authentication_failed' || signal.error === 'invalid_request') return false;
  const status = signal.status;
  return status === undefined || status === 429 || status < 400 || status >= 500;
}

/** What a run's failed result says about API pressure: overloaded (529), rate limited (429), or nothing. */
export function pressureOfResult(result: TaskResult): 'overloaded' | 'rate_limited' | undefined {
  if (result.success) return undefined;
  if (result.apiErrorStatus === 529) return 'overloaded';
  if (result.apiErrorStatus === 429) return 'rate_limited';
  return undefined;
}

/** When a `rate_limit_event` says the window is used up: the time it resets (Unix ms), else `undefined`. */
export function pauseOfSignal(signal: PressureSignal): number | undefined {
  if (signal.kind !== 'rate_limit' || signal.status !== 'rejected') return undefined;
  return signal.resetsAtMs;
}

/**
 * The wait before the `attempt`-th retry (1-based): exponential, `backoffBaseMs · 2^(attempt−1)` capped at
 * `backoffMaxMs`, with "equal jitter": half of it fixed, the other half scaled by `random()` in [0, 1).
 */
export function retryDelayMs(attempt: number, config: BackpressureConfig, random: () => number): number {
  const exponential = config.backoffBaseMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(config.backoffMaxMs, exponential);
  const jitter = Math.min(1, Math.max(0, random()));
  return Math.round(capped / 2 + (capped / 2) * jitter);
}

/** A task's rate-limit retry: `retry` with its attempt number and delay, or `exhausted` when none are left. */
export type RetryDecision =
  { kind: 'retry'; attempt: number; delayMs: number } | { kind: 'exhausted'; attempts: number };

/**
 * Whether a task that failed because of rate limiting or overload is queued again: yes, after `delayMs`, while
 * it has used fewer than `retryLimit` retries. The delay is at least the time left of a pause.
 */
export function planRetry(
  state: Backpressure,
  taskId: TaskId,
  now: number,
  config: BackpressureConfig,
  random: () => number,
): RetryDecision {
  const used = state.attempts[taskId] ?? 0;
  if (used >= config.retryLimit || taskId in state.cancelledRuns) return { kind: 'exhausted', attempts: used };
  const attempt = used + 1;
  const paused = state.pausedUntil === undefined ? 0 : state.pausedUntil - now;
  return { kind: 'retry', attempt, delayMs: Math.max(paused, retryDelayMs(attempt, config, random)) };
}

/** The state with a task put in backoff (its attempt counted, its work kept until it is queued again). */
export function startWaiting(state: Backpressure, job: SlotJob, attempt: number): Backpressure {
  return {
    ...state,
    attempts: withKey(state.attempts, job.taskId, attempt),
    waiting: withKey(state.waiting, job.taskId, job),
  };
}

/** The state without a task's backoff (it is queued again; its attempts still count). */
export function stopWaiting(state: Backpressure, taskId: TaskId): Backpressure {
  if (!(taskId in state.waiting)) return state;
  return { ...state, waiting: withoutKey(state.waiting, taskId) };
}

/** The state without anything about a task (it ended). */
export function forgetTask(state: Backpressure, taskId: TaskId): Backpressure {
  if (!(taskId in state.attempts) && !(taskId in state.waiting) && !(taskId in state.cancelledRuns)) return state;
  return {
    ...state,
    attempts: withoutKey(state.attempts, taskId),
    waiting: withoutKey(state.waiting, taskId),
    cancelledRuns: withoutKey(state.cancelledRuns, taskId),
  };
}

/** The state with a running task marked cancelled (its run's end will not be retried). */
export function markCancelled(state: Backpressure, taskId: TaskId): Backpressure {
  const forgotten = forgetTask(state, taskId);
  return { ...forgotten, cancelledRuns: withKey(forgotten.cancelledRuns, taskId, true as const) };
}

/** How the pool's back-pressure is now, as `status()` and the events show it. */
export interface ConcurrencyStatus {
  /** The most runs at once now (the slot count while not throttled). */
  limit: number;
  /** True while the limit is below the slot count. */
  throttled: boolean;
  /** Why the pool is throttled or paused. */
  reason?: PressureReason;
  /** Dispatch is paused until then (Unix ms). */
  pausedUntilMs?: number;
  /** Tasks waiting out a rate-limit backoff before they are queued again. */
  retryingTasks: number;
}

/** The status view of a back-pressure state. */
export function concurrencyStatus(state: Backpressure, slots: number): ConcurrencyStatus {
  const status: ConcurrencyStatus = {
    limit: effectiveLimit(state, slots),
    throttled: state.limit !== undefined,
    retryingTasks: Object.keys(state.waiting).length,
  };
  // While paused, the pause is the reason (whatever cut the limit meanwhile).
  const reason = state.pausedUntil !== undefined ? 'rate_limit_window' : state.reason;
  if (reason !== undefined) status.reason = reason;
  if (state.pausedUntil !== undefined) status.pausedUntilMs = state.pausedUntil;
  return status;
}
