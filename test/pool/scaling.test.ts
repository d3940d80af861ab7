/**
 * Scaling: scaleUp / scaleDown / setTargetSlots within scaling.minSlots/maxSlots. Scale-down removes idle
 * slots first, least used first; a busy slot chosen is Retiring: it finishes its task, then goes away.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput, PoolShutdown, ScaleLimitExceeded } from '../../src/errors.js';
import type { Pool } from '../../src/pool/index.js';
import { cleanupPools, eventually, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

const ids = (pool: Pool) => pool.slots().map((slot) => slot.id);
const storedIds = async (pool: Pool) => {
  await pool.flush();
  return (await pool.store().listSlots()).map((slot) => slot.id);
};

async function runningOn(pool: Pool, prompt: string): Promise<{ id: string; slotId: string }> {
  const id = await pool.submit(prompt);
  await eventually(async () => (await pool.task(id)).state === 'running');
  return { id, slotId: (await pool.task(id)).slotId ?? '' };
}

describe('scaleUp', () => {
  it('adds slots with the next ids and the default config (or a given one), everywhere', async () => {
    const pool = await simPool((b) => b.slots(2).slotConfig({ name: 'first' }));
    expect(await pool.scaleUp(2)).toBe(4);
    expect(pool.slots().map((slot) => [slot.id, slot.state, slot.config])).toEqual([
      ['slot-0', 'idle', { name: 'first' }],
      ['slot-1', 'idle', {}],
      ['slot-2', 'idle', {}],
      ['slot-3', 'idle', {}],
    ]);
    expect(await pool.scaleUp(1, { name: 'extra', role: 'reviewer' })).toBe(5);
    expect(pool.slots()[4]).toMatchObject({
      id: 'slot-4',
      state: 'idle',
      config: { name: 'extra', role: 'reviewer' },
      tasksCompleted: 0,
      costMicrodollars: 0,
      restartCount: 0,
    });
    expect(pool.status()).toMatchObject({ totalSlots: 5, idleSlots: 5 });
    expect(await storedIds(pool)).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3', 'slot-4']);
    // The new slots take work.
    const results = await pool.fanOut(['a [[sim:delay 100]]', 'b [[sim:delay 100]]', 'c', 'd', 'e']);
    expect(results.every((result) => result.success)).toBe(true);
    expect(new Set((await pool.listTasks()).map((task) => task.slotId)).size).toBe(5);
  });

  it('gives a new slot a queued task at once', async () => {
    const pool = await simPool((b) => b.slots(1));
    const blocker = await runningOn(pool, 'block [[sim:hang]]');
    const queued = await pool.submit('waiting [[sim:text ran]]');
    expect((await pool.task(queued)).state).toBe('pending');
    await pool.scaleUp(1);
    await eventually(async () => (await pool.task(queued)).state === 'completed');
    expect((await pool.task(queued)).slotId).toBe('slot-1');
    await pool.cancel(blocker.id);
  });

  it('refuses to exceed max_slots and changes nothing; 0 returns the count', async () => {
    const pool = await simPool((b) => b.slots(2).config({ scaling: { minSlots: 1, maxSlots: 4 } }));
    await expect(pool.scaleUp(3)).rejects.toThrow(
      new ScaleLimitExceeded('cannot scale up to 5 slots: exceeds max_slots (4)'),
    );
    await expect(pool.scaleUp(3)).rejects.toMatchObject({ code: 'scale_limit' });
    expect(ids(pool)).toEqual(['slot-0', 'slot-1']);
    expect(await storedIds(pool)).toEqual(['slot-0', 'slot-1']);
    expect(await pool.scaleUp(0)).toBe(2);
    expect(await pool.scaleUp(2)).toBe(4);
    await expect(pool.scaleUp(1)).rejects.toThrow('cannot scale up to 5 slots: exceeds max_slots (4)');
    expect(ids(pool)).toHaveLength(4);
  });

  it('rejects a bad count or config with InvalidInput', async () => {
    const pool = await simPool((b) => b.slots(1));
    await expect(pool.scaleUp(-1)).rejects.toBeInstanceOf(InvalidInput);
    await expect(pool.scaleUp(1.5)).rejects.toBeInstanceOf(InvalidInput);
    await expect(pool.scaleDown(-1)).rejects.toBeInstanceOf(InvalidInput);
    await expect(pool.setTargetSlots(Number.NaN)).rejects.toBeInstanceOf(InvalidInput);
    await expect(pool.scaleUp(1, { permissionMode: 'yolo' as never })).rejects.toBeInstanceOf(InvalidInput);
    expect(ids(pool)).toEqual(['slot-0']);
  });
});

describe('scaleDown', () => {
  it('refuses to go below min_slots and changes nothing; 0 returns the count', async () => {
    const pool = await simPool((b) => b.slots(3).config({ scaling: { minSlots: 2, maxSlots: 8 } }));
    await expect(pool.scaleDown(2)).rejects.toThrow(
      new ScaleLimitExceeded('cannot scale down to 1 slots: below min_slots (2)'),
    );
    await expect(pool.scaleDown(7)).rejects.toThrow('cannot scale down to 0 slots: below min_slots (2)');
    expect(ids(pool)).toEqual(['slot-0', 'slot-1', 'slot-2']);
    expect(await storedIds(pool)).toEqual(['slot-0', 'slot-1', 'slot-2']);
    expect(await pool.scaleDown(0)).toBe(3);
    expect(await pool.scaleDown(1)).toBe(2);
    await expect(pool.scaleDown(1)).rejects.toThrow('cannot scale down to 1 slots: below min_slots (2)');
  });

  it('removes idle slots, least used first (newest first on a tie), from slots(), status() and the store', async () => {
    const pool = await simPool((b) => b.slots(4));
    // Usage: slot-0 runs three tasks, slot-1 one, slot-2 and slot-3 none.
    await pool.run('a');
    const blocker = await runningOn(pool, 'b [[sim:delay 300]]');
    expect(blocker.slotId).toBe('slot-0');
    await pool.run('c');
    await eventually(async () => (await pool.task(blocker.id)).state === 'completed');
    await pool.run('d');
    expect(pool.slots().map((slot) => slot.tasksCompleted)).toEqual([3, 1, 0, 0]);

    expect(await pool.scaleDown(1)).toBe(3);
    expect(ids(pool)).toEqual(['slot-0', 'slot-1', 'slot-2']);
    expect(await pool.scaleDown(1)).toBe(2);
    expect(ids(pool)).toEqual(['slot-0', 'slot-1']);
    expect(await pool.scaleDown(1)).toBe(1);
    expect(ids(pool)).toEqual(['slot-0']);
    expect(pool.status()).toMatchObject({ totalSlots: 1, idleSlots: 1 });
    expect(await storedIds(pool)).toEqual(['slot-0']);
    // The survivor keeps its history and still works.
    expect((await pool.run('e')).success).toBe(true);
    expect(pool.slots()[0].tasksCompleted).toBe(4);
  });

  it('prefers idle slots over a busy one, even a less used busy one', async () => {
    const pool = await simPool((b) => b.slots(3));
    await pool.fanOut(['a', 'b', 'c']); // one task each
    const busy = await runningOn(pool, 'long [[sim:hang]]');
    expect(busy.slotId).toBe('slot-0');
    await pool.run('d'); // slot-1
    await pool.fanOut(['e', 'f']); // slot-1 and slot-2
    expect(pool.slots().map((slot) => [slot.state, slot.tasksCompleted])).toEqual([
      ['busy', 1],
      ['idle', 3],
      ['idle', 2],
    ]);
    expect(await pool.scaleDown(1)).toBe(2);
    expect(ids(pool)).toEqual(['slot-0', 'slot-1']);
    expect(await pool.scaleDown(1)).toBe(1);
    expect(ids(pool)).toEqual(['slot-0']);
    expect((await pool.task(busy.id)).state).toBe('running');
    await pool.cancel(busy.id);
  });

  it('removes an errored slot before a busy one', async () => {
    const pool = await simPool((b) => b.slots(2).config({ crashThreshold: 1 }));
    await pool.run('boom [[sim:crash]]');
    expect(pool.slots()[0].state).toBe('errored');
    const busy = await runningOn(pool, 'long [[sim:hang]]');
    expect(busy.slotId).toBe('slot-1');
    expect(await pool.scaleDown(1)).toBe(1);
    expect(pool.slots().map((slot) => [slot.id, slot.state])).toEqual([['slot-1', 'busy']]);
    expect(pool.status()).toMatchObject({ totalSlots: 1, erroredSlots: 0, busySlots: 1 });
    expect(await storedIds(pool)).toEqual(['slot-1']);
    await pool.cancel(busy.id);
  });

  it('lets a busy slot finish its task (Retiring), then removes it; it takes no new work', async () => {
    const pool = await simPool((b) => b.slots(2));
    const first = await runningOn(pool, 'one [[sim:hang]]');
    const second = await runningOn(pool, 'two [[sim:delay 700]] [[sim:text second done]] [[sim:cost 0.02]]');
    expect([first.slotId, second.slotId]).toEqual(['slot-0', 'slot-1']);

    // Both busy and equally used: the newest (slot-1) is chosen; it retires instead of being killed.
    expect(await pool.scaleDown(1)).toBe(1);
    expect(pool.slots().map((slot) => [slot.id, slot.state])).toEqual([
      ['slot-0', 'busy'],
      ['slot-1', 'retiring'],
    ]);
    expect(pool.slots()[1].currentTask).toBe(second.id);
    expect(pool.status()).toMatchObject({ totalSlots: 2, busySlots: 1, retiringSlots: 1 });
    expect((await pool.store().getSlot('slot-1'))?.state).toBe('retiring');
    expect(pool.findSlots({ state: 'retiring' }).map((slot) => slot.id)).toEqual(['slot-1']);
    // Scaling again counts the retiring slot as gone.
    await expect(pool.scaleDown(1)).rejects.toThrow('cannot scale down to 0 slots: below min_slots (1)');

    // New work waits for slot-0; the retiring slot never takes it, not even when its task is done.
    const later = await pool.submit('three [[sim:text third done]] [[sim:cost 0]]');

    await eventually(async () => (await pool.task(second.id)).state === 'completed');
    expect(await pool.result(second.id)).toMatchObject({
      success: true,
      output: 'second done',
      costMicrodollars: 20_000,
    });
    await eventually(() => pool.slots().length === 1);
    expect(ids(pool)).toEqual(['slot-0']);
    expect(pool.status()).toMatchObject({ totalSlots: 1, retiringSlots: 0 });
    expect(await storedIds(pool)).toEqual(['slot-0']);
    expect((await pool.task(later)).state).toBe('pending');

    await pool.cancel(first.id);
    await eventually(async () => (await pool.task(later)).state === 'completed');
    expect((await pool.task(later)).slotId).toBe('slot-0');
    // The retired slot's spend still counts in the pool total.
    expect(pool.status().totalSpendMicrodollars).toBe(20_000);
  });

  it('a task cancelled on a Retiring slot is cancelled, and the slot goes away', async () => {
    const pool = await simPool((b) => b.slots(2));
    await runningOn(pool, 'one [[sim:hang]]');
    const second = await runningOn(pool, 'two [[sim:hang]]');
    await pool.scaleDown(1);
    expect(pool.slots()[1].state).toBe('retiring');
    await pool.cancel(second.id);
    expect((await pool.task(second.id)).state).toBe('cancelled');
    await eventually(() => pool.slots().length === 1);
    expect(ids(pool)).toEqual(['slot-0']);
  });

  it('a Retiring slot whose cancelled run does not report within the grace period stops anyway', async () => {
    const pool = await simPool((b) => b.slots(2).cancelGraceMs(1));
    await runningOn(pool, 'one [[sim:hang]]');
    const second = await runningOn(pool, 'two [[sim:hang]]');
    await pool.scaleDown(1);
    expect(pool.slots()[1].state).toBe('retiring');
    await pool.cancel(second.id);
    expect((await pool.task(second.id)).state).toBe('cancelled');
    await eventually(() => pool.slots().length === 1);
    expect(await storedIds(pool)).toEqual(['slot-0']);
  });

  it('a slot scaled down while its task is being cancelled stops instead of going back to Idle', async () => {
    const pool = await simPool((b) => b.slots(2));
    await runningOn(pool, 'one [[sim:hang]]');
    const second = await runningOn(pool, 'two [[sim:hang]]');
    const cancelled = pool.cancel(second.id); // slot-1 is now cancelling, its process being killed
    expect(await pool.scaleDown(1)).toBe(1);
    await cancelled;
    expect((await pool.task(second.id)).state).toBe('cancelled');
    await eventually(() => pool.slots().length === 1);
    expect(ids(pool)).toEqual(['slot-0']);
    expect(await storedIds(pool)).toEqual(['slot-0']);
  });
});

describe('setTargetSlots', () => {
  it('scales up or down to the target, within the limits', async () => {
    const pool = await simPool((b) => b.slots(2).config({ scaling: { minSlots: 1, maxSlots: 5 } }));
    expect(await pool.setTargetSlots(2)).toBe(2);
    expect(await pool.setTargetSlots(5)).toBe(5);
    expect(ids(pool)).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3', 'slot-4']);
    expect(await pool.setTargetSlots(3)).toBe(3);
    expect(ids(pool)).toEqual(['slot-0', 'slot-1', 'slot-2']);
    await expect(pool.setTargetSlots(6)).rejects.toThrow('cannot scale up to 6 slots: exceeds max_slots (5)');
    await expect(pool.setTargetSlots(0)).rejects.toThrow('cannot scale down to 0 slots: below min_slots (1)');
    expect(ids(pool)).toEqual(['slot-0', 'slot-1', 'slot-2']);
    // A removed id is free again.
    expect(await pool.setTargetSlots(4)).toBe(4);
    expect(ids(pool)).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3']);
  });
});

describe('concurrent scale calls', () => {
  it('run one at a time, in call order', async () => {
    const pool = await simPool((b) => b.slots(3).config({ scaling: { minSlots: 1, maxSlots: 5 } }));
    expect(await Promise.all([pool.setTargetSlots(5), pool.setTargetSlots(2)])).toEqual([5, 2]);
    expect(ids(pool)).toHaveLength(2);
    expect(await Promise.all([pool.scaleUp(1), pool.scaleUp(1), pool.scaleDown(1), pool.scaleUp(2)])).toEqual([
      3, 4, 3, 5,
    ]);
    expect(new Set(ids(pool)).size).toBe(5);
    const settled = await Promise.allSettled([pool.scaleDown(2), pool.scaleUp(1), pool.scaleUp(2)]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
      3,
      4,
      'cannot scale up to 6 slots: exceeds max_slots (5)',
    ]);
    expect(ids(pool)).toHaveLength(4);
    expect(await storedIds(pool)).toEqual(ids(pool));
  });
});

describe('after drain', () => {
  it('scale calls fail with PoolShutdown', async () => {
    const pool = await simPool((b) => b.slots(2));
    await pool.drain();
    await expect(pool.scaleUp(1)).rejects.toBeInstanceOf(PoolShutdown);
    await expect(pool.scaleDown(1)).rejects.toBeInstanceOf(PoolShutdown);
    await expect(pool.setTargetSlots(3)).rejects.toBeInstanceOf(PoolShutdown);
  });
});
