import { afterEach, describe, expect, it } from 'vitest';
import { NoSlotAvailable } from '../../src/errors.js';
import { cleanupPools, eventually, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('dispatch', () => {
  it('is FIFO: queued tasks start in the order they were submitted', async () => {
    const pool = await simPool((b) => b.slots(1));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await pool.submit(`t${i} [[sim:delay 20]]`));
    await eventually(async () => (await pool.listTasks({ state: 'completed' })).length === 6, 10_000);
    const tasks = await Promise.all(ids.map((id) => pool.task(id)));
    const started = [...tasks].sort((a, b) => (a.startedAtMs ?? 0) - (b.startedAtMs ?? 0)).map((t) => t.id);
    expect(started).toEqual(ids);
    for (let i = 1; i < tasks.length; i++) {
      expect(tasks[i].startedAtMs).toBeGreaterThanOrEqual(tasks[i - 1].completedAtMs ?? Infinity);
    }
  });

  it('fails with NoSlotAvailable after the assignment timeout', async () => {
    const pool = await simPool((b) => b.slots(1).config({ slotAssignmentTimeoutSecs: 0.3 }));
    const blocker = await pool.submit('busy [[sim:hang]]');
    await eventually(async () => (await pool.task(blocker)).state === 'running');
    const started = Date.now();
    const error = await pool.run('waits').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSlotAvailable);
    expect((error as Error).message).toBe('no slot available after waiting 0.3s');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await pool.cancel(blocker);
  });

  it('with automatic dispatch off, a slot claims the oldest queued task', async () => {
    const pool = await simPool((b) => b.slots(2).autoDispatch(false));
    const first = await pool.submit('first [[sim:text one]]');
    const second = await pool.submit('second');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await pool.task(first)).state).toBe('pending');
    expect(await pool.claim('slot-1')).toBe(first);
    expect(await pool.claim('slot-1')).toBeUndefined(); // busy now
    await eventually(async () => (await pool.result(first)) !== undefined);
    expect((await pool.task(first)).slotId).toBe('slot-1');
    expect((await pool.task(second)).state).toBe('pending');
    expect(await pool.claim('slot-0')).toBe(second);
    await expect(pool.claim('slot-7')).rejects.toMatchObject({ code: 'slot_not_found' });
  });

  it('a claim is answered in every phase: it hands out queued work while the pool drains, and nothing once stopped', async () => {
    const pool = await simPool((b) => b.slots(1).autoDispatch(false));
    const queued = await pool.submit('queued [[sim:text done]]');
    const drained = pool.drain({ queued: 'finish' });
    await eventually(() => pool.status().shutdown);
    expect(await pool.claim('slot-0')).toBe(queued);
    await drained;
    expect((await pool.task(queued)).state).toBe('completed');
    expect(await pool.claim('slot-0')).toBeUndefined();
  });
});
