/**
 * Pool-wide back-pressure on the simulated agent (a child process per run): a burst of HTTP 529s cuts the
 * concurrency limit and recovers, `api_retry` lines throttle while a run goes on, a task past its retry limit
 * fails as RateLimited with its partial output, and a used-up rate-limit window pauses dispatch until it resets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, from, lastValueFrom } from 'rxjs';
import { effectiveLimit } from '../../machines/backpressure.js';
import { InvalidInput, RateLimited } from '../../src/errors.js';
import type { PoolEvent } from '../../src/observe.js';
import type { Pool } from '../../src/pool/index.js';
import { cleanupPools, simBuilder, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

type PressureEvent = Extract<PoolEvent, { type: 'pool.throttled' | 'pool.recovered' | 'pool.paused' | 'pool.resumed' }>;
const PRESSURE_TYPES = ['pool.throttled', 'pool.recovered', 'pool.paused', 'pool.resumed'];

/** Every back-pressure event of the pool, and every task start, in order. */
function recordEvents(pool: Pool): PoolEvent[] {
  const events: PoolEvent[] = [];
  pool.events$.subscribe((event) => {
    if (PRESSURE_TYPES.includes(event.type) || event.type === 'task.started') events.push(event);
  });
  return events;
}

/**
 * Watches the supervisor: every time it starts runs, the runs in progress must be within the limit. Returns the
 * starts that broke it (none expected) and the lowest limit seen.
 */
function watchStarts(pool: Pool): { violations: string[]; lowest: () => number } {
  const violations: string[] = [];
  let lowest = Infinity;
  let runningBefore = 0;
  pool.supervisor.subscribe((snapshot) => {
    const { running, backpressure, slotOrder } = snapshot.context;
    const count = Object.keys(running).length;
    const limit = effectiveLimit(backpressure, slotOrder.length);
    lowest = Math.min(lowest, limit);
    if (count > runningBefore && count > limit) violations.push(`${count} running with a limit of ${limit}`);
    runningBefore = count;
  });
  return { violations, lowest: () => lowest };
}

/** A task's final record. */
function finalOf(pool: Pool, id: string) {
  return lastValueFrom(pool.task$(id));
}

function nextEvent(pool: Pool, type: PressureEvent['type']): Promise<PressureEvent> {
  return firstValueFrom(pool.events$.pipe(filter((event): event is PressureEvent => event.type === type)));
}

describe('back-pressure options', () => {
  it('bad values are typed errors naming the setting', async () => {
    const build = (backpressure: object) => simBuilder().config({ backpressure }).build();
    await expect(build({ decreaseFactor: 1 })).rejects.toThrow(InvalidInput);
    await expect(build({ decreaseFactor: 1 })).rejects.toThrow(
      /backpressure.decreaseFactor must be a number between 0/,
    );
    await expect(build({ minConcurrency: 0 })).rejects.toThrow(/backpressure.minConcurrency must be an integer >= 1/);
    await expect(build({ retryLimit: 1.5 })).rejects.toThrow(/backpressure.retryLimit must be an integer >= 0/);
    await expect(build({ backoffBaseMs: 500, backoffMaxMs: 100 })).rejects.toThrow(/backoffMaxMs \(100\) is less/);
    await expect(build({ retrylimit: 3 })).rejects.toThrow(/unknown backpressure setting\(s\) retrylimit/);
    await expect(
      simBuilder()
        .config({ backpressure: 3 as never })
        .build(),
    ).rejects.toThrow(/backpressure must be an object/);
  });

  it('fills what is not given with the defaults', async () => {
    const pool = await simPool((b) => b.config({ backpressure: { retryLimit: 9 } }));
    expect(pool.config().backpressure).toEqual({
      minConcurrency: 1,
      decreaseFactor: 0.5,
      increaseStep: 1,
      retryLimit: 9,
      backoffBaseMs: 1_000,
      backoffMaxMs: 60_000,
    });
  });
});

describe('back-pressure', () => {
  it('a burst of 529s on 8 slots cuts concurrency, loses no task, and recovers after it', async () => {
    const burst = 10;
    const pool = await simPool((b) =>
      b
        .slots(8)
        .random(() => 0.5)
        .config({ backpressure: { retryLimit: burst, backoffBaseMs: 100, backoffMaxMs: 400 } }),
    );
    const events = recordEvents(pool);
    const starts = watchStarts(pool);
    const recovered = nextEvent(pool, 'pool.recovered');
    const prompts = Array.from(
      { length: 24 },
      (_, i) => `task ${i} [[sim:fail-times ${burst} burst 529]] [[sim:text done-${i}]] [[sim:delay 20]]`,
    );
    const results = await pool.fanOut(prompts);

    // No task lost or failed: every one ran to its answer.
    expect(results.map((r) => r.success)).toEqual(prompts.map(() => true));
    expect(results.map((r) => r.output)).toEqual(prompts.map((_, i) => `done-${i}`));
    // Concurrency dropped, and dispatch never started runs past the limit.
    const throttled = events.filter((e): e is PressureEvent => e.type === 'pool.throttled');
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled[0].concurrency).toMatchObject({ throttled: true, limit: 4 });
    expect(['overloaded', 'api_retry']).toContain(throttled[0].concurrency.reason);
    expect(starts.lowest()).toBeLessThan(8);
    expect(starts.violations).toEqual([]);
    // It recovered to the slot count once the burst was over.
    // (Tasks may still be waiting out their backoff when the limit is back: the two are independent.)
    expect((await recovered).concurrency).toMatchObject({ limit: 8, throttled: false });
    const last = events.filter((e) => PRESSURE_TYPES.includes(e.type)).at(-1);
    expect(last?.type).toBe('pool.recovered');
    expect(pool.status().concurrency).toEqual({ limit: 8, throttled: false, retryingTasks: 0 });
  }, 120_000);

  it('an api_retry throttles the pool while its run goes on', async () => {
    const pool = await simPool((b) => b.slots(4));
    const throttled = nextEvent(pool, 'pool.throttled');
    const id = await pool.submit('retrying [[sim:api-retry 2 529]] [[sim:hang]]');
    const event = await throttled;
    expect(event.concurrency).toMatchObject({ limit: 2, throttled: true, reason: 'api_retry' });
    const task = await pool.task(id);
    expect(task.state).toBe('running');
    expect(task.result).toBeUndefined();
    expect(pool.status().concurrency).toMatchObject({ limit: 2, throttled: true, reason: 'api_retry' });
    await pool.cancel(id);
    // Successes raise the limit one step each, back to the slot count.
    const recovered = nextEvent(pool, 'pool.recovered');
    await pool.fanOut(['one', 'two']);
    expect((await recovered).concurrency).toMatchObject({ limit: 4, throttled: false });
  }, 60_000);

  it('past its retry limit a task fails as RateLimited, keeping its partial output', async () => {
    const pool = await simPool((b) =>
      b.slots(2).config({ backpressure: { retryLimit: 2, backoffBaseMs: 20, backoffMaxMs: 50 } }),
    );
    const error = await pool
      .run('cut short [[sim:fail-times 5 always 529]] [[sim:text "half an answer"]]')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimited);
    const limited = error as RateLimited;
    expect(limited.code).toBe('rate_limited');
    expect(limited.status).toBe(529);
    expect(limited.attempts).toBe(2);
    expect(limited.partialOutput).toBe('half an answer');
    expect(limited.result.failure).toEqual({
      kind: 'rate_limited',
      status: 529,
      attempts: 2,
      partialOutput: 'half an answer',
    });
    expect(limited.result.errorCode).toBe('rate_limited');
    expect(limited.result.output).toMatch(/^API Error: 529 Overloaded/);
    const [record] = await pool.listTasks({ state: 'failed' });
    expect(record.result?.failure?.kind).toBe('rate_limited');
    // A 500 is not pressure: it fails at once, as an API error.
    const failed = await pool.run('broken [[sim:error api-error 500]]');
    expect(failed.failure).toEqual({ kind: 'api_error', status: 500 });
  }, 60_000);

  it('a used-up rate-limit window pauses dispatch until it resets, then resumes', async () => {
    const pool = await simPool((b) => b.slots(2).config({ backpressure: { backoffBaseMs: 20, backoffMaxMs: 50 } }));
    const events = recordEvents(pool);
    const paused = nextEvent(pool, 'pool.paused');
    const resumed = nextEvent(pool, 'pool.resumed');
    const first = await pool.submit('window [[sim:rate-limit 1500 window]] [[sim:text first]]');
    const pause = await paused;
    const until = pause.concurrency.pausedUntilMs ?? 0;
    expect(until).toBeGreaterThan(Date.now());
    expect(pause.concurrency.reason).toBe('rate_limit_window');
    expect(pool.status().concurrency).toMatchObject({ pausedUntilMs: until, reason: 'rate_limit_window' });
    // Submitted during the pause: it waits, though a slot is free.
    const second = await pool.submit('waits [[sim:text second]]');
    expect((await pool.task(second)).state).toBe('pending');
    await resumed;
    const [a, b] = await Promise.all([finalOf(pool, first), finalOf(pool, second)]);
    expect(a.result?.output).toBe('first');
    expect(b.result?.output).toBe('second');
    // Nothing started between the pause and its end; both started after the reset.
    const order = events.map((e) => (e.type === 'task.started' ? `started ${e.task.id}` : e.type));
    const pausedAt = order.indexOf('pool.paused');
    const resumedAt = order.indexOf('pool.resumed');
    expect(pausedAt).toBeGreaterThanOrEqual(0);
    expect(order.slice(pausedAt, resumedAt).filter((e) => e.startsWith('started'))).toEqual([]);
    expect(order.indexOf(`started ${second}`)).toBeGreaterThan(resumedAt);
    expect(b.startedAtMs).toBeGreaterThanOrEqual(until - 20);
    // The first task stays Running through its backoff; its retry ran after the reset.
    expect(a.state).toBe('completed');
    expect(a.completedAtMs).toBeGreaterThanOrEqual(until - 20);
    expect(pool.status().concurrency).toEqual({ limit: 2, throttled: false, retryingTasks: 0 });
  }, 60_000);

  it('a task queued through a pause does not run out its slot-assignment wait meanwhile', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ slotAssignmentTimeoutSecs: 0.3, backpressure: { backoffBaseMs: 20, backoffMaxMs: 50 } }),
    );
    const paused = nextEvent(pool, 'pool.paused');
    const first = await pool.submit('window [[sim:rate-limit 1200 window]] [[sim:text first]]');
    await paused;
    // Queued during a pause four times longer than the wait it is allowed: it still runs after the reset.
    const second = await pool.submit('waits [[sim:text second]]');
    const [a, b] = await Promise.all([finalOf(pool, first), finalOf(pool, second)]);
    expect([a.state, b.state]).toEqual(['completed', 'completed']);
    expect(b.result?.output).toBe('second');
  }, 60_000);

  it('a cancel during the backoff ends the task and its timer', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ backpressure: { retryLimit: 3, backoffBaseMs: 60_000, backoffMaxMs: 60_000 } }),
    );
    const id = await pool.submit('backs off [[sim:fail-times 1 once 429]]');
    await firstValueFrom(from(pool.supervisor).pipe(filter((s) => id in s.context.backpressure.waiting)));
    expect(pool.status().concurrency?.retryingTasks).toBe(1);
    expect((await pool.task(id)).state).toBe('running');
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(pool.status().concurrency?.retryingTasks).toBe(0);
    expect(pool.supervisor.getSnapshot().context.backpressure.waiting).toEqual({});
    // The pool takes work again at once (the 429 cut the limit of one slot to its floor of one).
    expect((await pool.run('next [[sim:text fine]]')).output).toBe('fine');
  }, 60_000);
});
