import { config as rxConfig, filter, firstValueFrom, lastValueFrom, scan, take, takeWhile, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { PoolEvent, PoolSnapshot } from '../src/observe.js';
import { TaskNotFound } from '../src/errors.js';
import { cleanupPools, eventually, simPool } from './support/sim-pool.js';

afterEach(cleanupPools);

describe('snapshot$', () => {
  it('emits the current pool on subscribe, frozen, with unchanged records keeping their identity', async () => {
    const pool = await simPool((b) => b.slots(2));
    const first = await firstValueFrom(pool.snapshot$);
    expect(Object.keys(first.slots)).toEqual(['slot-0', 'slot-1']);
    expect(first.phase).toBe('running');
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.slots['slot-0'])).toBe(true);

    const id = await pool.submit('one [[sim:text 1]]');
    await eventually(() => pool.snapshot().tasks.get(id)?.state === 'completed');
    const before = pool.snapshot();
    const other = await pool.submit('two [[sim:text 2]]');
    await eventually(() => pool.snapshot().tasks.get(other)?.state === 'completed');
    const after = pool.snapshot();
    expect(after).not.toBe(before);
    expect(after.tasks.get(id)).toBe(before.tasks.get(id)); // untouched task: same object
    expect(after.tasks.get(other)).not.toBe(before.tasks.get(other));
    expect(after.status.completedTasks).toBe(2);
    expect(after.status).toEqual(pool.status());
  });

  it('tracks budget and phase', async () => {
    const pool = await simPool((b) => b.slots(1).config({ budgetMicrodollars: 500_000 }));
    await pool.run('spend [[sim:cost 0.05]]');
    expect(pool.snapshot().budget).toEqual({
      limitMicrodollars: 500_000,
      spentMicrodollars: 50_000,
      reservedMicrodollars: 0,
    });
    const phases = lastValueFrom(
      pool.snapshot$.pipe(
        takeWhile((snapshot) => snapshot.phase !== 'stopped', true),
        toArray(),
      ),
    );
    await pool.drain();
    const seen = (await phases).map((snapshot: PoolSnapshot) => snapshot.phase);
    expect(seen[0]).toBe('running');
    expect(seen.at(-1)).toBe('stopped');
  });
});

describe('events$', () => {
  it('tells the story of a run as a typed event stream', async () => {
    const pool = await simPool((b) => b.slots(1).config({ budgetMicrodollars: 1_000_000 }));
    const events: PoolEvent[] = [];
    const subscription = pool.events$.subscribe((event) => events.push(event));
    const result = await pool.run('hello [[sim:text "a b"]] [[sim:chunks 2]] [[sim:cost 0.01]]');
    await eventually(() => events.some((e) => e.type === 'task.finished'));
    subscription.unsubscribe();
    const types = events.map((event) => event.type);
    expect(types.indexOf('task.submitted')).toBeLessThan(types.indexOf('task.started'));
    expect(types.indexOf('task.started')).toBeLessThan(types.indexOf('task.output'));
    expect(types.indexOf('task.output')).toBeLessThan(types.indexOf('task.finished'));
    const output = events.filter((e): e is Extract<PoolEvent, { type: 'task.output' }> => e.type === 'task.output');
    expect(output.map((e) => e.text).join('')).toBe('a b');
    const finished = events.find((e): e is Extract<PoolEvent, { type: 'task.finished' }> => e.type === 'task.finished');
    expect(finished?.task.result).toEqual(result);
    expect(
      events.filter((e) => e.type === 'slot.state').map((e) => (e as { slot: { state: string } }).slot.state),
    ).toEqual(['busy', 'idle']);
    expect(events.some((e) => e.type === 'budget.changed' && e.spentMicrodollars === 10_000)).toBe(true);
  });

  it('reports reviews, chain steps, messages and draining', async () => {
    const pool = await simPool((b) => b.slots(2));
    const events: PoolEvent[] = [];
    const subscription = pool.events$.subscribe((event) => events.push(event));
    const review = await pool.submitWithReview('draft');
    await eventually(async () => (await pool.task(review)).state === 'pending_review');
    await pool.rejectResult(review, 'again');
    await eventually(async () => (await pool.task(review)).state === 'pending_review');
    await pool.approveResult(review);
    const chain = await pool.submitChain(
      [
        { name: 'a', action: { type: 'prompt', prompt: 'x' } },
        { name: 'b', action: { type: 'prompt', prompt: 'y' } },
      ],
      { isolation: 'none' },
    );
    await pool.waitForChain(chain);
    pool.sendMessage('slot-0', 'slot-1', 'hi');
    await pool.drain();
    await eventually(() => events.some((e) => e.type === 'pool.stopped'));
    subscription.unsubscribe();
    const types = events.map((event) => event.type);
    expect(types.filter((t) => t.startsWith('review.'))).toEqual([
      'review.requested',
      'review.rejected',
      'review.requested',
      'review.approved',
    ]);
    const steps = events.filter((e) => e.type === 'chain.step.started' || e.type === 'chain.step.finished');
    expect(steps.map((e) => `${e.type}:${(e as { stepIndex: number }).stepIndex}`)).toEqual([
      'chain.step.started:0',
      'chain.step.finished:0',
      'chain.step.started:1',
      'chain.step.finished:1',
    ]);
    expect(types).toContain('message.sent');
    expect(types.indexOf('pool.draining')).toBeLessThan(types.indexOf('pool.stopped'));
  });

  it('a throwing or slow subscriber breaks neither the pool nor the other subscribers', async () => {
    const pool = await simPool((b) => b.slots(2));
    const reported: unknown[] = [];
    const previous = rxConfig.onUnhandledError;
    rxConfig.onUnhandledError = (error) => reported.push(error);
    try {
      const received: string[] = [];
      const throwing = pool.events$.subscribe(() => {
        throw new Error('consumer bug');
      });
      const slow = pool.events$.subscribe(() => {
        const until = Date.now() + 5;
        while (Date.now() < until) {
          // a consumer doing heavy synchronous work
        }
      });
      const healthy = pool.events$.subscribe((event) => received.push(event.type));
      const results = await pool.fanOut(['a [[sim:text 1]]', 'b [[sim:text 2]]', 'c [[sim:text 3]]']);
      expect(results.map((r) => r.output)).toEqual(['1', '2', '3']);
      await eventually(() => received.filter((t) => t === 'task.finished').length === 3);
      throwing.unsubscribe();
      slow.unsubscribe();
      healthy.unsubscribe();
      // RxJS reports a consumer's error on a timer of its own; let those timers run before checking.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(reported.length).toBeGreaterThan(0);
      expect(reported.every((error) => (error as Error).message === 'consumer bug')).toBe(true);
    } finally {
      rxConfig.onUnhandledError = previous;
    }
  });
});

describe('per-entity streams', () => {
  it('task$ completes at a final state but not at PendingReview', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitWithReview('draft [[sim:delay 50]]');
    const states = lastValueFrom(pool.task$(id).pipe(toArray()));
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await pool.approveResult(id);
    const seen = (await states).map((t) => t.state);
    expect(seen.at(-1)).toBe('completed');
    expect(seen).toContain('pending_review');
    expect(() => pool.task$('task-nope')).toThrow(TaskNotFound);
  });

  it('chain$ follows a chain to its end; messages$ delivers a slot its messages', async () => {
    const pool = await simPool((b) => b.slots(2));
    const id = await pool.submitChain([{ name: 'only', action: { type: 'prompt', prompt: 'go [[sim:delay 50]]' } }], {
      isolation: 'none',
    });
    const statuses = (await lastValueFrom(pool.chain$(id).pipe(toArray()))).map((p) => p.status);
    expect(statuses.at(-1)).toBe('completed');
    const inbox = firstValueFrom(pool.messages$('slot-1'));
    pool.sendMessage('slot-0', 'slot-1', 'ping');
    expect((await inbox).content).toBe('ping');
  });
});

describe('following a fan-out live with RxJS operators', () => {
  it('counts progress with scan and collects the final results with toArray', async () => {
    const pool = await simPool((b) => b.slots(3));
    const prompts = Array.from({ length: 6 }, (_, i) => `job ${i} [[sim:delay ${20 * (i % 3)}]] [[sim:text r${i}]]`);
    const finished$ = pool.events$.pipe(
      filter((e): e is Extract<PoolEvent, { type: 'task.finished' }> => e.type === 'task.finished'),
      take(prompts.length),
    );
    const progress = lastValueFrom(
      finished$.pipe(
        scan((done) => done + 1, 0),
        toArray(),
      ),
    );
    const outputs = lastValueFrom(finished$.pipe(toArray()));
    await pool.fanOut(prompts);
    expect(await progress).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await outputs).map((e) => e.task.result?.output).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  });
});

describe('subscriptions', () => {
  it('10,000 subscribe/unsubscribe cycles release everything', async () => {
    const pool = await simPool((b) => b.slots(1));
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc).toBeTypeOf('function');
    const cycle = () => {
      for (let i = 0; i < 10_000; i++) {
        const subscriptions = [
          pool.snapshot$.subscribe(() => {}),
          pool.events$.subscribe(() => {}),
          pool.status$.subscribe(() => {}),
          pool.messages$('slot-0').subscribe(() => {}),
        ];
        for (const subscription of subscriptions) subscription.unsubscribe();
      }
    };
    cycle(); // warm up
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc?.();
    const before = process.memoryUsage().heapUsed;
    cycle();
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc?.();
    const after = process.memoryUsage().heapUsed;
    expect(after - before).toBeLessThan(1_000_000);
    // The pool still works after all that.
    expect((await pool.run('still here [[sim:text yes]]')).output).toBe('yes');
  });
});

describe('describe()', () => {
  it('gives the current state of every actor: the supervisor with its slots, live tasks and chains', async () => {
    const pool = await simPool((b) => b.slots(2));
    const id = await pool.submit('slow [[sim:delay 400]]');
    await eventually(async () => (await pool.task(id)).state === 'running');
    const [supervisor] = pool.describe();
    expect(supervisor).toMatchObject({ id: expect.any(String), machine: 'pool', value: 'running' });
    const children = supervisor.children.map((child) => [child.id, child.machine, child.value]);
    expect(children).toContainEqual(['slot-0', 'slot', { busy: 'working' }]);
    expect(children).toContainEqual(['slot-1', 'slot', 'idle']);
    expect(children).toContainEqual([id, 'task', { running: 'working' }]);
    await pool.cancel(id);
    const chain = await pool.submitChain([{ name: 'a', action: { type: 'prompt', prompt: 'x [[sim:delay 200]]' } }], {
      isolation: 'none',
    });
    const chainActor = () =>
      pool.describe()[0].children.find((actor) => actor.machine === 'chain' && actor.id === chain);
    await eventually(() => chainActor() !== undefined);
    expect(chainActor()?.status).toBe('active');
    await pool.waitForChain(chain);
    // An ended chain leaves the supervisor (its record keeps the outcome).
    expect(chainActor()).toBeUndefined();
    expect((await pool.task(chain)).state).toBe('completed');
  });
});
