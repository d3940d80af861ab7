/**
 * Slot health and the supervisor: slots go Errored when their agent cannot start or crashes too often; the
 * supervisor restarts them (back to Idle, restartCount + 1) up to `maxRestarts`; the task that was on the slot
 * fails with the failure details, and tasks no slot can ever run fail fast.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NoSlotAvailable, PoolShutdown } from '../../src/errors.js';
import { Pool, type PoolBuilder } from '../../src/pool/index.js';
import { cleanupPools, eventually, processExists, simPool, waitForPid } from '../support/sim-pool.js';

const built: Pool[] = [];

afterEach(async () => {
  for (const pool of built.splice(0)) await pool.drain({ timeoutMs: 100 });
  await cleanupPools();
});

/** A pool whose agent binary does not exist: every spawn fails. */
async function brokenPool(configure: (builder: PoolBuilder) => PoolBuilder): Promise<Pool> {
  const pool = await configure(Pool.builder({ binary: '/nonexistent/claude' })).build();
  built.push(pool);
  return pool;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('startSupervisor', () => {
  it('returns undefined when supervisorEnabled is false (the default), a handle with stop() otherwise', async () => {
    const off = await simPool((b) => b.slots(1));
    expect(off.config().supervisorEnabled).toBe(false);
    expect(off.startSupervisor()).toBeUndefined();
    const on = await simPool((b) => b.slots(1).config({ supervisorEnabled: true }));
    const handle = on.startSupervisor();
    expect(handle).toBeDefined();
    expect(typeof handle?.stop).toBe('function');
    handle?.stop();
    handle?.stop(); // stopping twice is harmless
  });
});

describe('a slot whose agent cannot start', () => {
  it('goes Errored at once; the task fails with the spawn details; later tasks fail fast without a supervisor', async () => {
    const pool = await brokenPool((b) => b.slots(1));
    const result = await pool.run('hello');
    expect(result).toMatchObject({ success: false, errorCode: 'spawn_failed', costMicrodollars: 0 });
    expect(result.output).toContain('could not start claude');
    expect(result.output).toContain('ENOENT');
    expect(result.failedCommand).toContain('/nonexistent/claude');
    const [task] = await pool.listTasks();
    expect(task).toMatchObject({ state: 'failed', slotId: 'slot-0' });
    expect(task.result?.errorCode).toBe('spawn_failed');

    expect(pool.slots()[0]).toMatchObject({ state: 'errored', restartCount: 0, tasksCompleted: 0 });
    expect(pool.slots()[0].lastError).toContain('ENOENT');
    expect(pool.status()).toMatchObject({ totalSlots: 1, erroredSlots: 1, idleSlots: 0, failedTasks: 1 });
    await pool.flush();
    expect((await pool.store().getSlot('slot-0'))?.state).toBe('errored');

    // No supervisor: the slot can never run anything again, so a new task fails at once with a clear error.
    const started = Date.now();
    const error = await pool.run('again').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSlotAvailable);
    expect((error as Error).message).toMatch(/^no slot can run this task: every slot is errored or stopped/);
    expect((error as Error).message).toContain('slot-0 errored after 0 restart(s): could not start claude');
    expect(Date.now() - started).toBeLessThan(pool.config().slotAssignmentTimeoutSecs * 1000);
    const id = await pool.submit('queued');
    await eventually(async () => (await pool.task(id)).state === 'failed');
    expect((await pool.result(id))?.errorCode).toBe('no_slot_available');
  });

  it('is restarted by the supervisor up to maxRestarts, each restart taking one queued task, then stays Errored', async () => {
    const pool = await brokenPool((b) =>
      b.slots(1).config({ supervisorEnabled: true, maxRestarts: 2 }).restartDelayMs(20),
    );
    const supervisor = pool.startSupervisor();
    expect(supervisor).toBeDefined();
    const ids = [await pool.submit('one'), await pool.submit('two'), await pool.submit('three')];
    await eventually(async () => {
      const states = await Promise.all(ids.map(async (id) => (await pool.task(id)).state));
      return states.every((state) => state === 'failed');
    });
    // Every queued task ran (after a restart) and failed with the spawn error; none was lost or skipped.
    for (const id of ids) expect((await pool.result(id))?.errorCode).toBe('spawn_failed');
    await eventually(() => pool.slots()[0].state === 'errored' && pool.slots()[0].restartCount === 2);
    // The limit is reached: no further restart, however long we wait.
    await sleep(200);
    expect(pool.slots()[0]).toMatchObject({ state: 'errored', restartCount: 2 });
    expect(pool.status()).toMatchObject({ erroredSlots: 1, failedTasks: 3 });
    const error = await pool.run('four').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSlotAvailable);
    expect((error as Error).message).toContain('slot-0 errored after 2 restart(s)');
    supervisor?.stop();
  });
});

describe('a slot whose agent crashes', () => {
  it('goes Errored after crashThreshold crashes in a row; the supervisor restarts it; the limit holds', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ supervisorEnabled: true, maxRestarts: 1, crashThreshold: 2 }).restartDelayMs(20),
    );
    pool.startSupervisor();
    const ok = await pool.run('fine [[sim:cost 0.01]]');
    expect(pool.slots()[0]).toMatchObject({ sessionId: ok.sessionId, tasksCompleted: 1 });

    // One crash: the slot stays usable, the streak is counted.
    const first = await pool.run('boom [[sim:crash "segfault one"]]');
    expect(first).toMatchObject({ success: false, errorCode: 'crashed', exitCode: 1 });
    expect(first.stderr).toContain('segfault one');
    expect(first.failedCommand).toContain('--output-format stream-json');
    expect(pool.slots()[0]).toMatchObject({ state: 'idle', consecutiveCrashes: 1, tasksCompleted: 1 });

    // A success in between resets the streak.
    await pool.run('fine again');
    expect(pool.slots()[0].consecutiveCrashes).toBe(0);
    await pool.run('boom [[sim:crash]]');

    // The second crash in a row: Errored; the task still fails with the crash details.
    const second = await pool.run('boom [[sim:crash "segfault two"]]');
    expect(second).toMatchObject({ success: false, errorCode: 'crashed' });
    expect(second.stderr).toContain('segfault two');
    const crashed = (await pool.listTasks({ state: 'failed' })).map((task) => task.result?.errorCode);
    expect(crashed).toEqual(['crashed', 'crashed', 'crashed']);

    // The supervisor restarts it: Idle, restartCount 1, streak and session cleared; it works again.
    await eventually(() => pool.slots()[0].state === 'idle' && pool.slots()[0].restartCount === 1);
    const restarted = pool.slots()[0];
    expect(restarted.consecutiveCrashes).toBe(0);
    expect(restarted.sessionId).toBeUndefined();
    expect(restarted.lastError).toBeUndefined();
    const after = await pool.run('works [[sim:echo-args]]');
    expect(after.success).toBe(true);
    expect(after.output).not.toContain('--resume');
    await pool.flush();
    expect(await pool.store().getSlot('slot-0')).toMatchObject({ state: 'idle', restartCount: 1 });

    // Two more crashes: Errored again, and maxRestarts (1) is used up.
    await pool.run('boom [[sim:crash]]');
    await pool.run('boom [[sim:crash]]');
    await sleep(150);
    expect(pool.slots()[0]).toMatchObject({ state: 'errored', restartCount: 1 });
    expect(pool.status().erroredSlots).toBe(1);
    await expect(pool.run('never')).rejects.toBeInstanceOf(NoSlotAvailable);
  });

  it('leaves the other slots working: new tasks go to the healthy slot', async () => {
    const pool = await simPool((b) => b.slots(2).config({ crashThreshold: 1 }));
    const crash = await pool.run('boom [[sim:crash]]');
    expect(crash.errorCode).toBe('crashed');
    expect(pool.slots().map((slot) => slot.state)).toEqual(['errored', 'idle']);
    const results = await pool.fanOut(['a', 'b', 'c']);
    expect(results.every((result) => result.success)).toBe(true);
    const slotsUsed = (await pool.listTasks({ state: 'completed' })).map((task) => task.slotId);
    expect(slotsUsed).toEqual(['slot-1', 'slot-1', 'slot-1']);
    expect(pool.status()).toMatchObject({ erroredSlots: 1, idleSlots: 1, completedTasks: 3, failedTasks: 1 });
  });

  it('a timeout or a cancel does not count as a crash', async () => {
    const pool = await simPool((b) => b.slots(1).config({ crashThreshold: 1 }));
    const timedOut = await pool.run('slow [[sim:hang]]', { config: { timeoutSecs: 0.2 } });
    expect(timedOut.errorCode).toBe('timeout');
    expect(pool.slots()[0]).toMatchObject({ state: 'idle', consecutiveCrashes: 0 });
    const id = await pool.submit('forever [[sim:hang]]');
    await eventually(async () => (await pool.task(id)).state === 'running');
    await pool.cancel(id);
    expect(pool.slots()[0]).toMatchObject({ state: 'idle', consecutiveCrashes: 0 });
  });
});

describe('stopping the supervisor', () => {
  it('cancels a pending restart; starting it again restarts errored slots at once', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ supervisorEnabled: true, maxRestarts: 3, crashThreshold: 1 }).restartDelayMs(1_000),
    );
    const supervisor = pool.startSupervisor();
    await pool.run('boom [[sim:crash]]');
    expect(pool.slots()[0].state).toBe('errored');
    supervisor?.stop(); // the restart was due 1 s after the crash
    await sleep(1_300);
    expect(pool.slots()[0]).toMatchObject({ state: 'errored', restartCount: 0 });

    const again = pool.startSupervisor();
    await eventually(() => pool.slots()[0].state === 'idle');
    expect(pool.slots()[0].restartCount).toBe(1);
    expect((await pool.run('works')).success).toBe(true);
    again?.stop();
  });

  it('a slot that errors while no supervisor runs is restarted when one starts', async () => {
    const pool = await brokenPool((b) => b.slots(1).config({ supervisorEnabled: true, maxRestarts: 1 }));
    await pool.run('x');
    expect(pool.slots()[0]).toMatchObject({ state: 'errored', restartCount: 0 });
    pool.startSupervisor();
    await eventually(() => pool.slots()[0].restartCount === 1);
    expect(pool.slots()[0].state).toBe('idle');
  });
});

describe('drain with an errored slot', () => {
  it('stops errored slots too', async () => {
    const pool = await brokenPool((b) => b.slots(2));
    await pool.run('x');
    expect(pool.slots().map((slot) => slot.state)).toEqual(['errored', 'idle']);
    const summary = await pool.drain();
    expect(summary).toMatchObject({ totalTasksCompleted: 0, totalCostMicrodollars: 0 });
    expect(pool.slots().map((slot) => slot.state)).toEqual(['stopped', 'stopped']);
    expect(pool.status()).toMatchObject({ stoppedSlots: 2, erroredSlots: 0, shutdown: true });
  });
});

describe('cancelling a run that does not report within the grace period', () => {
  it('abandons it: the task is Cancelled, the slot Idle, the process gone, and the slot takes new work', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false).cancelGraceMs(1));
    const file = join(mkdtempSync(join(tmpdir(), 'claude-pool-pid-')), 'agent.pid');
    const id = await pool.submit(`forever [[sim:pidfile ${file}]] [[sim:hang]]`);
    await waitForPid(file);
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(processExists(Number(readFileSync(file, 'utf8')))).toBe(false);
    expect(pool.slots()[0]).toMatchObject({ state: 'idle', tasksCompleted: 0 });
    expect((await pool.run('next [[sim:text fine]]')).output).toBe('fine');
  });
});

describe('review decisions while the pool stops', () => {
  it('a rejected task cannot run again once the pool drains: it fails with pool is shut down', async () => {
    const pool = await simPool((b) => b.slots(2));
    const reviewed = await pool.submitWithReview('draft [[sim:text v1]]');
    const other = await pool.submitWithReview('other draft');
    await eventually(async () => (await pool.task(reviewed)).state === 'pending_review');
    await eventually(async () => (await pool.task(other)).state === 'pending_review');

    // While draining (a task is still running).
    const running = await pool.submit('long [[sim:delay 400]]');
    await eventually(async () => (await pool.task(running)).state === 'running');
    const drained = pool.drain();
    expect(pool.status().shutdown).toBe(true);
    await pool.rejectResult(reviewed, 'try again');
    expect(await pool.task(reviewed)).toMatchObject({ state: 'failed', rejectionCount: 1 });
    expect((await pool.result(reviewed))?.output).toBe('pool is shut down');
    await drained;
    expect((await pool.task(running)).state).toBe('completed');

    // After the pool has stopped.
    await pool.rejectResult(other, 'again');
    expect((await pool.task(other)).state).toBe('failed');
    expect((await pool.result(other))?.errorCode).toBe('pool_shutdown');
    await expect(pool.submit('more')).rejects.toBeInstanceOf(PoolShutdown);
  });
});
