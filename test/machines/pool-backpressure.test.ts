/**
 * Back-pressure in the pool statechart, driven directly with stand-in agents and XState's simulated clock: the
 * AIMD limit caps dispatch, a run that ends on HTTP 529 sends its task into a backoff on the machine's clock,
 * the retry limit ends in `rate_limited`, and a used-up window pauses dispatch until its delayed resume.
 */
import { describe, expect, it } from 'vitest';
import { outcome, testPool } from './pool-harness.js';

const overloaded = (partialOutput?: string) =>
  outcome('ok', 5, {
    output: 'API Error: 529 Overloaded',
    success: false,
    apiErrorStatus: 529,
    ...(partialOutput !== undefined && { partialOutput }),
  });
const config = (retryLimit = 3) => ({
  backpressure: { retryLimit, backoffBaseMs: 1_000, backoffMaxMs: 8_000 },
});

describe('back-pressure in the pool statechart', () => {
  it('a 529 cuts the limit and sends its task into a backoff; dispatch keeps under the limit', () => {
    const p = testPool({ slots: 4, config: config() });
    for (const id of ['a', 'b', 'c', 'd', 'e']) p.submit(id);
    expect(Object.keys(p.context().running)).toEqual(['a', 'b', 'c', 'd']);
    p.finish('slot-0', overloaded());
    expect(p.context().backpressure).toMatchObject({ limit: 2, reason: 'overloaded', attempts: { a: 1 } });
    expect(Object.keys(p.context().backpressure.waiting)).toEqual(['a']);
    // The task is still being worked on: nothing told it the run failed.
    expect(p.task('a')?.state).toBe('running');
    expect(p.emitted.filter((e) => e.type === 'pressure')).toEqual([
      {
        type: 'pressure',
        change: 'throttled',
        concurrency: { limit: 2, throttled: true, reason: 'overloaded', retryingTasks: 1 },
      },
    ]);
    // slot-0 is idle and e is queued, but three runs are in progress against a limit of two.
    expect(p.queued()).toEqual(['e']);
    // The backoff (random 0: half of the base) runs on the machine's clock.
    p.advance(499);
    expect(p.queued()).toEqual(['e']);
    p.advance(1);
    expect(p.queued()).toEqual(['e', 'a']);
    // A success raises the limit by one step: two in progress against three, so one more (e) starts.
    p.finish('slot-1', outcome('ok'));
    expect(p.context().backpressure.limit).toBe(3);
    expect(p.queued()).toEqual(['a']);
    expect(Object.keys(p.context().running).sort()).toEqual(['c', 'd', 'e']);
    p.finish('slot-2', outcome('ok'));
    // Back at the slot count: the pool is no longer throttled, and a starts.
    expect(p.context().backpressure.limit).toBeUndefined();
    expect(p.emitted.at(-1)).toMatchObject({ type: 'pressure', change: 'recovered', concurrency: { limit: 4 } });
    expect(p.queued()).toEqual([]);
    expect(p.runs.filter((r) => r.job.taskId === 'a')).toHaveLength(2);
    const slotOfA = p.context().running.a;
    p.finish(slotOfA, outcome('ok'));
    expect(p.task('a')).toMatchObject({ state: 'completed', result: { success: true } });
    expect(p.context().backpressure.attempts).toEqual({});
  });

  it('past the retry limit the task fails as rate_limited, keeping its partial output', () => {
    const p = testPool({ slots: 1, config: config(2) });
    p.submit('a');
    p.finish('slot-0', overloaded('first half'));
    p.advance(500);
    expect(p.runs).toHaveLength(2);
    p.finish('slot-0', overloaded('second half'));
    // The second retry waits twice as long.
    p.advance(999);
    expect(p.runs).toHaveLength(2);
    p.advance(1);
    expect(p.runs).toHaveLength(3);
    p.finish('slot-0', overloaded('third half'));
    expect(p.task('a')).toMatchObject({
      state: 'failed',
      result: {
        errorCode: 'rate_limited',
        output: 'API Error: 529 Overloaded',
        failure: { kind: 'rate_limited', status: 529, attempts: 2, partialOutput: 'third half' },
      },
    });
    expect(p.context().backpressure.attempts).toEqual({});
    expect(p.context().backpressure.waiting).toEqual({});
  });

  it('cuts at most once per backoff base interval', () => {
    const p = testPool({ slots: 8, config: config() });
    for (let i = 0; i < 8; i++) p.submit(`t${i}`);
    const signal = { kind: 'api_retry' as const, status: 529, error: 'overloaded' };
    for (let i = 0; i < 8; i++) p.actor.send({ type: 'AGENT.PRESSURE', slotId: `slot-${i}`, taskId: `t${i}`, signal });
    expect(p.context().backpressure.limit).toBe(4);
    p.advance(1_000);
    p.actor.send({ type: 'AGENT.PRESSURE', slotId: 'slot-0', taskId: 't0', signal });
    expect(p.context().backpressure.limit).toBe(2);
    // A bad key is retried by the CLI too, but it is not pressure.
    p.advance(1_000);
    p.actor.send({
      type: 'AGENT.PRESSURE',
      slotId: 'slot-0',
      taskId: 't0',
      signal: { kind: 'api_retry', status: 401, error: 'authentication_failed' },
    });
    expect(p.context().backpressure.limit).toBe(2);
  });

  it('a used-up window pauses dispatch until its reset, then resumes', () => {
    const p = testPool({ slots: 2, config: config() });
    p.submit('a');
    p.actor.send({
      type: 'AGENT.PRESSURE',
      slotId: 'slot-0',
      taskId: 'a',
      signal: { kind: 'rate_limit', status: 'rejected', resetsAtMs: p.now() + 5_000 },
    });
    expect(p.context().backpressure.pausedUntil).toBe(6_000);
    expect(p.emitted.at(-1)).toMatchObject({
      type: 'pressure',
      change: 'paused',
      concurrency: { pausedUntilMs: 6_000 },
    });
    p.submit('b');
    expect(p.queued()).toEqual(['b']);
    // An `allowed` window changes nothing.
    p.actor.send({
      type: 'AGENT.PRESSURE',
      slotId: 'slot-0',
      taskId: 'a',
      signal: { kind: 'rate_limit', status: 'allowed', resetsAtMs: p.now() + 50_000 },
    });
    p.advance(4_999);
    expect(p.queued()).toEqual(['b']);
    p.advance(1);
    expect(p.queued()).toEqual([]);
    expect(p.context().running.b).toBe('slot-1');
    expect(p.emitted.at(-1)).toMatchObject({ type: 'pressure', change: 'resumed' });
    expect(p.context().backpressure.pausedUntil).toBeUndefined();
  });

  it('a run that was cancelled is not retried, whatever it ended with', () => {
    const p = testPool({ slots: 1, config: config() });
    p.submit('a');
    p.actor.send({ type: 'CANCEL', taskId: 'a' });
    expect(p.context().backpressure.cancelledRuns).toEqual({ a: true });
    p.finish('slot-0', overloaded());
    expect(p.context().backpressure.waiting).toEqual({});
    expect(p.context().backpressure.cancelledRuns).toEqual({});
    expect(p.task('a')?.state).toBe('cancelled');
    p.advance(10_000);
    expect(p.runs).toHaveLength(1);
  });

  it('a drain cancels tasks in backoff and stops; its timers are gone', () => {
    const p = testPool({ slots: 1, config: config() });
    p.submit('a');
    p.finish('slot-0', overloaded());
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    expect(p.state()).toBe('stopped');
    expect(p.task('a')?.state).toBe('cancelled');
    expect(p.context().drainCancelled).toEqual(['a']);
    p.advance(10_000);
    expect(p.runs).toHaveLength(1);
  });
});

describe('back-pressure in the pool statechart: edges', () => {
  it('a stopped pool ignores pressure signals', () => {
    const p = testPool({ slots: 2, config: config() });
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    expect(p.state()).toBe('stopped');
    p.actor.send({
      type: 'AGENT.PRESSURE',
      slotId: 'slot-0',
      taskId: 'x',
      signal: { kind: 'api_retry', status: 529 },
    });
    expect(p.context().backpressure.limit).toBeUndefined();
  });

  it('a rejected window without a reset time cuts the limit instead of pausing', () => {
    const p = testPool({ slots: 4, config: config() });
    p.actor.send({
      type: 'AGENT.PRESSURE',
      slotId: 'slot-0',
      taskId: 'x',
      signal: { kind: 'rate_limit', status: 'rejected' },
    });
    expect(p.context().backpressure).toMatchObject({ limit: 2, reason: 'rate_limit_window' });
    expect(p.context().backpressure.pausedUntil).toBeUndefined();
  });

  it('a later reset extends the pause (its timer moves); an earlier one changes nothing', () => {
    const p = testPool({ slots: 1, config: config() });
    const window = (resetsAtMs: number) =>
      p.actor.send({
        type: 'AGENT.PRESSURE',
        slotId: 'slot-0',
        taskId: 'x',
        signal: { kind: 'rate_limit', status: 'rejected', resetsAtMs },
      });
    window(6_000);
    window(9_000);
    window(7_000);
    expect(p.context().backpressure.pausedUntil).toBe(9_000);
    expect(p.emitted.filter((e) => e.type === 'pressure').map((e) => e.type === 'pressure' && e.change)).toEqual([
      'paused',
      'paused',
    ]);
    p.submit('a');
    p.advance(5_000);
    expect(p.queued()).toEqual(['a']);
    p.advance(3_000);
    expect(p.queued()).toEqual([]);
  });

  it('a run that failed for another reason does not raise the limit', () => {
    const p = testPool({ slots: 4, config: config() });
    for (const id of ['a', 'b']) p.submit(id);
    p.finish('slot-0', overloaded());
    expect(p.context().backpressure.limit).toBe(2);
    p.finish('slot-1', outcome('ok', 0, { success: false, apiErrorStatus: 500 }));
    expect(p.context().backpressure.limit).toBe(2);
    expect(p.task('b')?.result?.failure).toEqual({ kind: 'api_error', status: 500 });
  });

  it('a failure without partial output carries none', () => {
    const p = testPool({ slots: 1, config: config(0) });
    p.submit('a');
    p.finish('slot-0', overloaded());
    expect(p.task('a')?.result?.failure).toStrictEqual({ kind: 'rate_limited', status: 529, attempts: 0 });
  });

  it('cancelling one task in backoff leaves the other’s timer', () => {
    const p = testPool({ slots: 2, config: config() });
    for (const id of ['a', 'b']) p.submit(id);
    p.finish('slot-0', overloaded());
    p.finish('slot-1', overloaded());
    expect(Object.keys(p.context().backpressure.waiting)).toEqual(['a', 'b']);
    p.actor.send({ type: 'CANCEL', taskId: 'a' });
    expect(p.task('a')?.state).toBe('cancelled');
    expect(Object.keys(p.context().backpressure.waiting)).toEqual(['b']);
    p.advance(500);
    expect(p.context().running.b).toBeDefined();
    expect(p.runs.map((r) => r.job.taskId)).toEqual(['a', 'b', 'b']);
  });
});

describe('back-pressure in the pool statechart: what it reports', () => {
  it('reports each cut and the recovery, nothing for a cut at the floor or a step that does not recover', () => {
    const p = testPool({ slots: 4, config: config() });
    for (const id of ['a', 'b', 'c', 'd']) p.submit(id);
    const retry = { kind: 'api_retry' as const, status: 529 };
    p.actor.send({ type: 'AGENT.PRESSURE', slotId: 'slot-0', taskId: 'a', signal: retry });
    p.advance(1_000);
    p.actor.send({ type: 'AGENT.PRESSURE', slotId: 'slot-0', taskId: 'a', signal: retry });
    p.advance(1_000);
    // Already at the floor of one: nothing changes, nothing is reported.
    p.actor.send({ type: 'AGENT.PRESSURE', slotId: 'slot-0', taskId: 'a', signal: retry });
    // Two steps up report nothing; the third reaches the slot count.
    for (const slot of ['slot-0', 'slot-1', 'slot-2']) p.finish(slot, outcome('ok'));
    const reports = p.emitted.flatMap((e) => (e.type === 'pressure' ? [[e.change, e.concurrency.limit]] : []));
    expect(reports).toEqual([
      ['throttled', 2],
      ['throttled', 1],
      ['recovered', 4],
    ]);
    expect(p.context().backpressure.limit).toBeUndefined();
  });
});
