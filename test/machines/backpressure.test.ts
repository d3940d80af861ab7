/**
 * Back-pressure arithmetic: the AIMD concurrency limit, pauses, the backoff of rate-limit retries, and the
 * cap dispatch applies.
 */
import { describe, expect, it } from 'vitest';
import {
  backpressureConfigProblems,
  concurrencyStatus,
  decrease,
  defaultBackpressureConfig,
  effectiveLimit,
  forgetTask,
  increase,
  initialBackpressure,
  isConstrained,
  isPressureRetry,
  pause,
  pauseOfSignal,
  planRetry,
  pressureOfResult,
  resume,
  retryDelayMs,
  startAllowance,
  startWaiting,
  stopWaiting,
  type BackpressureConfig,
} from '../../machines/backpressure.js';
import { planDispatch } from '../../machines/dispatch.js';
import { emptyQueue, enqueue, queuedJobs } from '../../machines/queue.js';
import type { TaskResult } from '../../machines/types.js';

const config = (over: Partial<BackpressureConfig> = {}): BackpressureConfig => ({
  ...defaultBackpressureConfig(),
  ...over,
});
const failed = (status?: number): TaskResult => ({
  output: 'API Error',
  success: false,
  costMicrodollars: 0,
  turnsUsed: 0,
  elapsedMs: 1,
  ...(status !== undefined && { apiErrorStatus: status }),
});

describe('AIMD limit', () => {
  it('starts unthrottled: the slots are the limit and dispatch is not capped', () => {
    const state = initialBackpressure();
    expect(isConstrained(state)).toBe(false);
    expect(effectiveLimit(state, 8)).toBe(8);
    expect(startAllowance(state, 100)).toBe(Infinity);
    expect(concurrencyStatus(state, 8)).toEqual({ limit: 8, throttled: false, retryingTasks: 0 });
  });

  it('halves from the slot count, then from the limit, never below the minimum', () => {
    const c = config({ backoffBaseMs: 0 });
    let state = decrease(initialBackpressure(), 'overloaded', 8, 1_000, c);
    expect(state.limit).toBe(4);
    expect(state.reason).toBe('overloaded');
    state = decrease(state, 'api_retry', 8, 1_001, c);
    expect(state.limit).toBe(2);
    expect(state.reason).toBe('api_retry');
    state = decrease(state, 'api_retry', 8, 1_002, c);
    state = decrease(state, 'api_retry', 8, 1_003, c);
    expect(state.limit).toBe(1);
    const floorTwo = decrease(state, 'api_retry', 8, 1_004, config({ backoffBaseMs: 0, minConcurrency: 2 }));
    expect(floorTwo.limit).toBe(2);
  });

  it('cuts once per backoff base interval, so one burst seen by many runs cuts once', () => {
    const c = config({ backoffBaseMs: 1_000 });
    const once = decrease(initialBackpressure(), 'overloaded', 8, 10_000, c);
    expect(decrease(once, 'overloaded', 8, 10_999, c)).toBe(once);
    expect(decrease(once, 'overloaded', 8, 11_000, c).limit).toBe(2);
  });

  it('uses the factor and rounds down', () => {
    const state = decrease(initialBackpressure(), 'rate_limited', 10, 0, config({ decreaseFactor: 0.75 }));
    expect(state.limit).toBe(7);
  });

  it('a pool with fewer slots than the minimum keeps its slot count as the floor', () => {
    const state = decrease(initialBackpressure(), 'overloaded', 2, 0, config({ minConcurrency: 4 }));
    expect(state.limit).toBe(2);
  });

  it('adds the step per success and recovers at the slot count', () => {
    const c = config({ increaseStep: 0.5 });
    let state = decrease(initialBackpressure(), 'overloaded', 4, 0, c);
    expect(state.limit).toBe(2);
    state = increase(state, 4, c);
    expect(state.limit).toBe(2.5);
    expect(effectiveLimit(state, 4)).toBe(2);
    expect(startAllowance(state, 1)).toBe(1);
    state = increase(increase(state, 4, c), 4, c);
    expect(state.limit).toBe(3.5);
    state = increase(state, 4, c);
    expect(state.limit).toBeUndefined();
    expect(state.reason).toBeUndefined();
    expect(isConstrained(state)).toBe(false);
  });

  it('an unthrottled state is returned as it is by a success (no copy on the common path)', () => {
    const state = initialBackpressure();
    expect(increase(state, 4, config())).toBe(state);
  });

  it('caps dispatch at the limit minus the running runs', () => {
    const state = decrease(initialBackpressure(), 'overloaded', 8, 0, config());
    expect(startAllowance(state, 0)).toBe(4);
    expect(startAllowance(state, 3)).toBe(1);
    expect(startAllowance(state, 6)).toBe(0);
  });
});

describe('pauses', () => {
  it('a rejected rate_limit_event pauses until its reset; allowed ones do not', () => {
    expect(pauseOfSignal({ kind: 'rate_limit', status: 'rejected', resetsAtMs: 5_000 })).toBe(5_000);
    expect(pauseOfSignal({ kind: 'rate_limit', status: 'allowed', resetsAtMs: 5_000 })).toBeUndefined();
    expect(pauseOfSignal({ kind: 'rate_limit', status: 'allowed_warning', resetsAtMs: 5_000 })).toBeUndefined();
    expect(pauseOfSignal({ kind: 'api_retry', status: 529 })).toBeUndefined();
  });

  it('pauses dispatch entirely until resumed, keeping the later of two pauses', () => {
    let state = pause(initialBackpressure(), 5_000, 1_000);
    expect(state.pausedUntil).toBe(5_000);
    expect(state.reason).toBe('rate_limit_window');
    expect(startAllowance(state, 0)).toBe(0);
    expect(isConstrained(state)).toBe(true);
    expect(pause(state, 4_000, 1_000)).toBe(state);
    state = pause(state, 9_000, 1_000);
    expect(state.pausedUntil).toBe(9_000);
    expect(concurrencyStatus(state, 3)).toEqual({
      limit: 3,
      throttled: false,
      reason: 'rate_limit_window',
      pausedUntilMs: 9_000,
      retryingTasks: 0,
    });
    state = resume(state);
    expect(state.pausedUntil).toBeUndefined();
    expect(state.reason).toBeUndefined();
    expect(startAllowance(state, 0)).toBe(Infinity);
  });

  it('a reset in the past does not pause', () => {
    const state = initialBackpressure();
    expect(pause(state, 1_000, 1_000)).toBe(state);
  });

  it('resuming keeps a limit that was cut meanwhile', () => {
    const paused = pause(decrease(initialBackpressure(), 'overloaded', 8, 0, config()), 5_000, 0);
    const resumed = resume(paused);
    expect(resumed.limit).toBe(4);
    expect(resumed.reason).toBe('rate_limit_window');
  });
});

describe('what counts as pressure', () => {
  it('results that failed on HTTP 529 or 429, nothing else', () => {
    expect(pressureOfResult(failed(529))).toBe('overloaded');
    expect(pressureOfResult(failed(429))).toBe('rate_limited');
    expect(pressureOfResult(failed(500))).toBeUndefined();
    expect(pressureOfResult(failed())).toBeUndefined();
    expect(pressureOfResult({ ...failed(529), success: true })).toBeUndefined();
  });

  it('api_retry lines, except for a bad key or a bad request', () => {
    expect(isPressureRetry({ kind: 'api_retry', status: 529, error: 'overloaded' })).toBe(true);
    expect(isPressureRetry({ kind: 'api_retry', status: 429, error: 'rate_limit' })).toBe(true);
    expect(isPressureRetry({ kind: 'api_retry', status: 503 })).toBe(true);
    expect(isPressureRetry({ kind: 'api_retry' })).toBe(true);
    expect(isPressureRetry({ kind: 'api_retry', status: 401, error: 'authentication_failed' })).toBe(false);
    expect(isPressureRetry({ kind: 'api_retry', error: 'authentication_failed' })).toBe(false);
    expect(isPressureRetry({ kind: 'api_retry', status: 400 })).toBe(false);
    expect(isPressureRetry({ kind: 'rate_limit', status: 'rejected' })).toBe(false);
  });
});

describe('retries with backoff', () => {
  it('doubles from the base up to the maximum, with half of it jittered', () => {
    const c = config({ backoffBaseMs: 1_000, backoffMaxMs: 5_000 });
    expect(retryDelayMs(1, c, () => 0)).toBe(500);
    expect(retryDelayMs(1, c, () => 0.999_999)).toBe(1_000);
    expect(retryDelayMs(2, c, () => 0.5)).toBe(1_500);
    expect(retryDelayMs(3, c, () => 0)).toBe(2_000);
    expect(retryDelayMs(4, c, () => 0)).toBe(2_500);
    expect(retryDelayMs(9, c, () => 0.999_999)).toBe(5_000);
  });

  it('clamps a random source outside [0, 1)', () => {
    const c = config({ backoffBaseMs: 1_000 });
    expect(retryDelayMs(1, c, () => 7)).toBe(1_000);
    expect(retryDelayMs(1, c, () => -1)).toBe(500);
  });

  it('retries up to the limit, counting attempts per task, then gives up', () => {
    const c = config({ retryLimit: 2, backoffBaseMs: 100, backoffMaxMs: 1_000 });
    const job = { taskId: 't', prompt: 'p' };
    let state = initialBackpressure();
    const first = planRetry(state, 't', 0, c, () => 0);
    expect(first).toEqual({ kind: 'retry', attempt: 1, delayMs: 50 });
    state = startWaiting(state, job, 1);
    expect(state.waiting).toEqual({ t: job });
    expect(concurrencyStatus(state, 2).retryingTasks).toBe(1);
    state = stopWaiting(state, 't');
    expect(state.waiting).toEqual({});
    expect(state.attempts).toEqual({ t: 1 });
    expect(planRetry(state, 't', 0, c, () => 0)).toEqual({ kind: 'retry', attempt: 2, delayMs: 100 });
    state = stopWaiting(startWaiting(state, job, 2), 't');
    expect(planRetry(state, 't', 0, c, () => 0)).toEqual({ kind: 'exhausted', attempts: 2 });
    expect(planRetry(state, 'other', 0, c, () => 0).kind).toBe('retry');
    state = forgetTask(state, 't');
    expect(state.attempts).toEqual({});
  });

  it('a retry waits at least until a pause ends', () => {
    const state = pause(initialBackpressure(), 30_000, 10_000);
    expect(planRetry(state, 't', 10_000, config(), () => 0)).toEqual({ kind: 'retry', attempt: 1, delayMs: 20_000 });
  });

  it('a retry limit of 0 fails at once', () => {
    expect(planRetry(initialBackpressure(), 't', 0, config({ retryLimit: 0 }), () => 0)).toEqual({
      kind: 'exhausted',
      attempts: 0,
    });
  });
});

describe('dispatch under a limit', () => {
  const queue = ['a', 'b', 'c', 'd'].reduce(
    (q, taskId) => enqueue(q, { job: { taskId, prompt: taskId }, queuedAt: 0 }),
    emptyQueue(),
  );
  const view = (maxStarts?: number) => ({
    queue,
    ledger: { spentMicrodollars: 0, reservations: {} },
    slotOrder: ['s0', 's1', 's2', 's3'],
    slotStates: { s0: 'idle', s1: 'idle', s2: 'idle', s3: 'idle' } as const,
    removing: [],
    autoDispatch: true,
    floorMicrodollars: 0,
    maxStarts,
  });

  it('starts no more than the allowance, leaving the rest queued in order', () => {
    const plan = planDispatch(view(2));
    expect(plan.starts.map((s) => s.taskId)).toEqual(['a', 'b']);
    expect(queuedJobs(plan.queue).map((e) => e.job.taskId)).toEqual(['c', 'd']);
  });

  it('starts nothing while paused (allowance 0), and everything without a cap', () => {
    expect(planDispatch(view(0)).starts).toEqual([]);
    expect(planDispatch(view(0)).queue).toBe(queue);
    expect(planDispatch(view()).starts).toHaveLength(4);
  });
});

describe('config validation', () => {
  it('accepts the defaults', () => {
    expect(backpressureConfigProblems(defaultBackpressureConfig())).toEqual([]);
  });

  it('names every bad value', () => {
    const problems = backpressureConfigProblems({
      minConcurrency: 0,
      decreaseFactor: 1,
      increaseStep: 0,
      retryLimit: -1,
      backoffBaseMs: 1.5,
      backoffMaxMs: Number.NaN,
    });
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/minConcurrency must be an integer >= 1, got 0/);
    expect(problems.join('\n')).toMatch(/decreaseFactor must be a number between 0 and 1/);
    expect(problems.join('\n')).toMatch(/increaseStep must be a number greater than 0/);
  });

  it('refuses a maximum below the base', () => {
    expect(backpressureConfigProblems(config({ backoffBaseMs: 2_000, backoffMaxMs: 1_000 }))).toEqual([
      'backpressure.backoffMaxMs (1000) is less than backpressure.backoffBaseMs (2000)',
    ]);
  });
});

describe('edges', () => {
  it('validation names values of the wrong type and accepts the bounds', () => {
    const problems = (over: Record<string, unknown>) =>
      backpressureConfigProblems({ ...defaultBackpressureConfig(), ...over } as BackpressureConfig);
    expect(problems({ minConcurrency: '2' })).toEqual(['backpressure.minConcurrency must be an integer >= 1, got "2"']);
    expect(problems({ decreaseFactor: 0 })).toHaveLength(1);
    expect(problems({ decreaseFactor: '0.5' })).toHaveLength(1);
    expect(problems({ decreaseFactor: 0.999 })).toEqual([]);
    expect(problems({ increaseStep: Infinity })).toHaveLength(1);
    expect(problems({ increaseStep: '1' })).toHaveLength(1);
    expect(problems({ increaseStep: 0.01 })).toEqual([]);
    expect(problems({ backoffBaseMs: 500, backoffMaxMs: 500 })).toEqual([]);
    // The order of base and maximum is only checked once both are valid numbers.
    expect(problems({ backoffBaseMs: -1, backoffMaxMs: 0 })).toEqual([
      'backpressure.backoffBaseMs must be an integer >= 0, got -1',
    ]);
  });

  it('returns the same state when nothing changes', () => {
    const state = initialBackpressure();
    expect(resume(state)).toBe(state);
    expect(stopWaiting(state, 'nobody')).toBe(state);
    expect(forgetTask(state, 'nobody')).toBe(state);
    const paused = pause(state, 5_000, 0);
    expect(pause(paused, 5_000, 0)).toBe(paused);
  });

  it('recovering while paused keeps the pause as the reason', () => {
    const c = config();
    const state = pause(decrease(initialBackpressure(), 'overloaded', 2, 0, c), 9_000, 0);
    const recovered = increase(state, 2, c);
    expect(recovered.limit).toBeUndefined();
    expect(recovered.pausedUntil).toBe(9_000);
    expect(recovered.reason).toBe('rate_limit_window');
  });

  it('status shows only what is set', () => {
    expect(concurrencyStatus(initialBackpressure(), 2)).toStrictEqual({ limit: 2, throttled: false, retryingTasks: 0 });
    const cut = decrease(initialBackpressure(), 'api_retry', 4, 0, config());
    expect(concurrencyStatus(cut, 4)).toStrictEqual({
      limit: 2,
      throttled: true,
      reason: 'api_retry',
      retryingTasks: 0,
    });
  });

  it('a 500 retry is pressure; a bad request is not, with or without a status', () => {
    expect(isPressureRetry({ kind: 'api_retry', status: 500 })).toBe(true);
    expect(isPressureRetry({ kind: 'api_retry', status: 499 })).toBe(false);
    expect(isPressureRetry({ kind: 'api_retry', error: 'invalid_request' })).toBe(false);
    expect(isPressureRetry({ kind: 'api_retry', error: 'server_error' })).toBe(true);
  });
});
