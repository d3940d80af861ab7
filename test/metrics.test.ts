/**
 * Session metrics: the pure `computeSessionMetrics` on hand-built records, and `Pool.sessionMetrics` on a
 * real pool with the simulated agent.
 */
import { taskRecord } from './support/records.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskRecord, TaskResult, TaskState } from '../machines/types.js';
import { computeSessionMetrics, type SessionMetrics } from '../src/metrics.js';
import { cleanupPools, eventually, simPool } from './support/sim-pool.js';

let serial = 0;

/** A task record in `state`, with a result when `result` is given. */
function task(state: TaskState, result?: Partial<TaskResult>, extra: Partial<TaskRecord> = {}): TaskRecord {
  serial += 1;
  const record: TaskRecord = taskRecord(`task-${serial}`, {
    prompt: 'p',
    state,
    createdAtMs: 1_000 + serial,
    ...extra,
  });
  if (result) {
    record.result = {
      output: 'out',
      success: state !== 'failed',
      costMicrodollars: 0,
      turnsUsed: 0,
      elapsedMs: 0,
      ...result,
    };
  }
  return record;
}

const EMPTY: Omit<SessionMetrics, 'sessionStartMs' | 'sessionDurationMs'> = {
  totalTasks: 0,
  completedTasks: 0,
  failedTasks: 0,
  cancelledTasks: 0,
  runningTasks: 0,
  pendingTasks: 0,
  totalSpendMicrodollars: 0,
  avgCostMicrodollars: 0,
  maxCostMicrodollars: 0,
  avgTurns: 0,
  avgElapsedMs: 0,
  minElapsedMs: 0,
  maxElapsedMs: 0,
  medianElapsedMs: 0,
  tasksByModel: {},
  modelBreakdown: [],
};

describe('computeSessionMetrics', () => {
  it('is all zeros without tasks, with the session start and duration', () => {
    expect(computeSessionMetrics([], undefined, 5_000, 7_500)).toEqual({
      ...EMPTY,
      sessionStartMs: 5_000,
      sessionDurationMs: 2_500,
    });
    // A clock that went backwards never gives a negative duration.
    expect(computeSessionMetrics([], {}, 5_000, 4_000).sessionDurationMs).toBe(0);
  });

  it('counts, sums and averages a mixed set, number by number', () => {
    const tasks = [
      task('completed', { model: 'haiku', costMicrodollars: 100, turnsUsed: 2, elapsedMs: 40 }),
      task('completed', { model: 'sonnet', costMicrodollars: 300, turnsUsed: 4, elapsedMs: 10 }),
      task('pending_review', { model: 'haiku', costMicrodollars: 200, turnsUsed: 3, elapsedMs: 30 }),
      task('failed', { model: 'sonnet', costMicrodollars: 50, turnsUsed: 1, elapsedMs: 5 }),
      task('cancelled'),
      task('running'),
      task('pending'),
      // No model, and an elapsed time of 0: counted as completed, left out of the timing and the breakdown.
      task('completed', { costMicrodollars: 0, turnsUsed: 1, elapsedMs: 0 }),
    ];
    expect(computeSessionMetrics(tasks, undefined, 1_000, 61_000)).toEqual({
      totalTasks: 8,
      completedTasks: 4, // pending_review counts as completed
      failedTasks: 1,
      cancelledTasks: 1,
      runningTasks: 1,
      pendingTasks: 1,
      totalSpendMicrodollars: 650, // failed runs' spend included
      avgCostMicrodollars: 162, // 650 / 4 completed, rounded down
      maxCostMicrodollars: 300,
      avgTurns: 2.5, // (2 + 4 + 3 + 1) / 4: completed tasks only
      avgElapsedMs: 26, // (40 + 10 + 30) / 3, rounded down; failed and 0 ms left out
      minElapsedMs: 10,
      maxElapsedMs: 40,
      medianElapsedMs: 30,
      tasksByModel: { haiku: 2, sonnet: 2 },
      modelBreakdown: [
        {
          model: 'sonnet',
          taskCount: 2,
          totalCostMicrodollars: 350,
          avgCostMicrodollars: 175,
          avgElapsedMs: 7, // (10 + 5) / 2, rounded down
          totalTurns: 5,
        },
        {
          model: 'haiku',
          taskCount: 2,
          totalCostMicrodollars: 300,
          avgCostMicrodollars: 150,
          avgElapsedMs: 35,
          totalTurns: 5,
        },
      ],
      sessionStartMs: 1_000,
      sessionDurationMs: 60_000,
    });
  });

  it('takes the median of an even count as the mean of the two middle values (rounded down)', () => {
    const elapsed = (values: number[]) =>
      computeSessionMetrics(
        values.map((elapsedMs) => task('completed', { elapsedMs })),
        undefined,
        0,
        0,
      );
    expect(elapsed([100, 10, 30, 20])).toMatchObject({
      medianElapsedMs: 25,
      minElapsedMs: 10,
      maxElapsedMs: 100,
      avgElapsedMs: 40,
    });
    expect(elapsed([10, 21])).toMatchObject({ medianElapsedMs: 15, avgElapsedMs: 15 });
    expect(elapsed([7])).toMatchObject({ medianElapsedMs: 7, minElapsedMs: 7, maxElapsedMs: 7, avgElapsedMs: 7 });
    expect(elapsed([5, 1, 3, 2, 4])).toMatchObject({ medianElapsedMs: 3, avgElapsedMs: 3 });
  });

  it('averages cost and turns only when something completed', () => {
    const metrics = computeSessionMetrics(
      [task('failed', { costMicrodollars: 900, turnsUsed: 5, elapsedMs: 50, model: 'opus' })],
      undefined,
      0,
      0,
    );
    expect(metrics).toMatchObject({
      totalSpendMicrodollars: 900,
      maxCostMicrodollars: 900,
      avgCostMicrodollars: 0,
      avgTurns: 0,
      avgElapsedMs: 0,
      medianElapsedMs: 0,
      completedTasks: 0,
      failedTasks: 1,
      tasksByModel: { opus: 1 },
    });
    expect(metrics.modelBreakdown).toEqual([
      {
        model: 'opus',
        taskCount: 1,
        totalCostMicrodollars: 900,
        avgCostMicrodollars: 900,
        avgElapsedMs: 50,
        totalTurns: 5,
      },
    ]);
  });

  it('sorts the breakdown by cost, most expensive first (ties by model name)', () => {
    const tasks = [
      task('completed', { model: 'b', costMicrodollars: 10 }),
      task('completed', { model: 'c', costMicrodollars: 30 }),
      task('completed', { model: 'a', costMicrodollars: 10 }),
      task('completed', { model: 'd', costMicrodollars: 20 }),
      task('completed', { model: 'b', costMicrodollars: 5 }),
    ];
    expect(
      computeSessionMetrics(tasks, undefined, 0, 0).modelBreakdown.map((m) => [m.model, m.totalCostMicrodollars]),
    ).toEqual([
      ['c', 30],
      ['d', 20],
      ['b', 15],
      ['a', 10],
    ]);
  });

  it('filters by creation time (inclusive), tags (any match) and model (exact, on the result)', () => {
    const early = task('completed', { model: 'haiku', costMicrodollars: 1 }, { createdAtMs: 100, tags: ['a'] });
    const middle = task('completed', { model: 'sonnet', costMicrodollars: 2 }, { createdAtMs: 200, tags: ['b', 'c'] });
    const late = task('failed', { model: 'haiku', costMicrodollars: 4 }, { createdAtMs: 300, tags: [] });
    const waiting = task('pending', undefined, { createdAtMs: 400, tags: ['a'] });
    const all = [early, middle, late, waiting];
    const pick = (filter: Parameters<typeof computeSessionMetrics>[1]) => computeSessionMetrics(all, filter, 0, 0);

    expect(pick({}).totalTasks).toBe(4);
    expect(pick({ sinceMs: 200 })).toMatchObject({ totalTasks: 3, totalSpendMicrodollars: 6, pendingTasks: 1 });
    expect(pick({ untilMs: 200 })).toMatchObject({ totalTasks: 2, totalSpendMicrodollars: 3 });
    expect(pick({ sinceMs: 150, untilMs: 350 })).toMatchObject({ totalTasks: 2, completedTasks: 1, failedTasks: 1 });
    expect(pick({ sinceMs: 500 })).toMatchObject({ ...EMPTY });
    expect(pick({ tags: ['a'] })).toMatchObject({ totalTasks: 2, completedTasks: 1, pendingTasks: 1 });
    expect(pick({ tags: ['zzz', 'c'] })).toMatchObject({ totalTasks: 1, totalSpendMicrodollars: 2 });
    expect(pick({ tags: [] }).totalTasks).toBe(4); // an empty tag list filters nothing
    // Model: exact match on result.model; tasks without a result are left out.
    expect(pick({ model: 'haiku' })).toMatchObject({
      totalTasks: 2,
      totalSpendMicrodollars: 5,
      pendingTasks: 0,
      tasksByModel: { haiku: 2 },
    });
    expect(pick({ model: 'Haiku' }).totalTasks).toBe(0);
    expect(pick({ model: 'haiku', sinceMs: 250, tags: ['a'] }).totalTasks).toBe(0);
    expect(pick({ model: 'haiku', sinceMs: 250 }).totalTasks).toBe(1);
  });

  it('leaves chain records out (their steps are counted as tasks of their own)', () => {
    const step = task('completed', { costMicrodollars: 70, turnsUsed: 1, elapsedMs: 9 });
    const chain = task('completed', { costMicrodollars: 70, elapsedMs: 12 }, { kind: 'chain', id: 'chain-1' });
    expect(computeSessionMetrics([step, chain], undefined, 0, 0)).toMatchObject({
      totalTasks: 1,
      totalSpendMicrodollars: 70,
      medianElapsedMs: 9,
    });
  });
});

describe('Pool.sessionMetrics', () => {
  afterEach(cleanupPools);

  it('reports a mixed session with two models, a failure and a cancellation, number by number', async () => {
    const before = Date.now();
    const pool = await simPool((b) => b.slots(1));
    const afterBuild = Date.now();
    const t1 = await pool.run('one [[sim:cost 0.01]] [[sim:turns 2]]', { config: { model: 'haiku' }, tags: ['x'] });
    const t2 = await pool.run('two [[sim:cost 0.03]] [[sim:turns 4]]', { config: { model: 'sonnet' } });
    const t3 = await pool.run('three [[sim:cost 0.02]] [[sim:turns 3]]', { config: { model: 'haiku' }, tags: ['y'] });
    const t4 = await pool.run('four [[sim:error max-turns]] [[sim:cost 0.005]]', {
      config: { model: 'sonnet', maxTurns: 2 },
    });
    expect([t1.costMicrodollars, t2.costMicrodollars, t3.costMicrodollars, t4.costMicrodollars]).toEqual([
      10_000, 30_000, 20_000, 5_000,
    ]);
    expect([t1.turnsUsed, t2.turnsUsed, t3.turnsUsed, t4.turnsUsed]).toEqual([2, 4, 3, 3]);
    expect([t1.model, t2.model, t4.model]).toEqual(['claude-haiku-5-5', 'claude-sonnet-5-5', 'claude-sonnet-5-5']);
    expect(t4.success).toBe(false);

    const cancelled = await pool.submitWithConfig('five [[sim:hang]]', { model: 'haiku' });
    await eventually(async () => (await pool.task(cancelled)).state === 'running');
    await pool.cancel(cancelled);
    const running = await pool.submit('six [[sim:hang]]');
    await eventually(async () => (await pool.task(running)).state === 'running');
    const pending = await pool.submit('seven');

    const metrics = pool.sessionMetrics();
    const elapsed = [t1, t2, t3].map((r) => r.elapsedMs).sort((a, b) => a - b);
    expect(elapsed.every((ms) => ms > 0)).toBe(true);
    expect(metrics).toMatchObject({
      totalTasks: 7,
      completedTasks: 3,
      failedTasks: 1,
      cancelledTasks: 1,
      runningTasks: 1,
      pendingTasks: 1,
      totalSpendMicrodollars: 65_000,
      avgCostMicrodollars: 21_666, // 65 000 / 3 completed
      maxCostMicrodollars: 30_000,
      avgTurns: 3, // (2 + 4 + 3) / 3
      minElapsedMs: elapsed[0],
      medianElapsedMs: elapsed[1],
      maxElapsedMs: elapsed[2],
      avgElapsedMs: Math.floor((elapsed[0] + elapsed[1] + elapsed[2]) / 3),
      tasksByModel: { 'claude-haiku-5-5': 2, 'claude-sonnet-5-5': 2 },
    });
    expect(metrics.modelBreakdown).toEqual([
      {
        model: 'claude-sonnet-5-5',
        taskCount: 2,
        totalCostMicrodollars: 35_000,
        avgCostMicrodollars: 17_500,
        avgElapsedMs: Math.floor((t2.elapsedMs + t4.elapsedMs) / 2),
        totalTurns: 7,
      },
      {
        model: 'claude-haiku-5-5',
        taskCount: 2,
        totalCostMicrodollars: 30_000,
        avgCostMicrodollars: 15_000,
        avgElapsedMs: Math.floor((t1.elapsedMs + t3.elapsedMs) / 2),
        totalTurns: 5,
      },
    ]);
    // The session started when the pool was built.
    expect(metrics.sessionStartMs).toBeGreaterThanOrEqual(before);
    expect(metrics.sessionStartMs).toBeLessThanOrEqual(afterBuild);
    expect(metrics.sessionDurationMs).toBeGreaterThanOrEqual(Date.now() - metrics.sessionStartMs - 1_000);
    expect(metrics.sessionDurationMs).toBeLessThanOrEqual(Date.now() - metrics.sessionStartMs);
    // The spend agrees with the pool's ledger.
    expect(pool.status().totalSpendMicrodollars).toBe(65_000);

    // Filters.
    const tasks = await pool.listTasks();
    expect(pool.sessionMetrics({ model: 'claude-haiku-5-5' })).toMatchObject({
      totalTasks: 2,
      completedTasks: 2,
      totalSpendMicrodollars: 30_000,
      avgCostMicrodollars: 15_000,
      avgTurns: 2.5,
    });
    expect(pool.sessionMetrics({ model: 'haiku' }).totalTasks).toBe(0); // the result's model, exactly
    expect(pool.sessionMetrics({ tags: ['y'] })).toMatchObject({ totalTasks: 1, totalSpendMicrodollars: 20_000 });
    expect(pool.sessionMetrics({ tags: ['x', 'y'] }).totalTasks).toBe(2);
    expect(pool.sessionMetrics({ sinceMs: tasks[2].createdAtMs })).toMatchObject({
      totalTasks: 5,
      completedTasks: 1,
      failedTasks: 1,
      cancelledTasks: 1,
      runningTasks: 1,
      pendingTasks: 1,
    });
    expect(pool.sessionMetrics({ untilMs: tasks[1].createdAtMs })).toMatchObject({
      totalTasks: 2,
      totalSpendMicrodollars: 40_000,
    });

    // As work finishes, the numbers follow.
    await pool.cancel(running);
    await eventually(async () => (await pool.task(pending)).state === 'completed');
    expect(pool.sessionMetrics()).toMatchObject({
      totalTasks: 7,
      completedTasks: 4,
      cancelledTasks: 2,
      runningTasks: 0,
      pendingTasks: 0,
    });
  });
});
