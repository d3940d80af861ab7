/**
 * Slot discovery (`findSlots`) and the slot records it returns.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput, SlotNotFound } from '../../src/errors.js';
import type { Pool } from '../../src/pool/index.js';
import { existsSync } from 'node:fs';
import { cleanupPools, eventually, makeGitRepo, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

const idsOf = (slots: { id: string }[]) => slots.map((slot) => slot.id);

function team(): Promise<Pool> {
  return simPool((b) =>
    b
      .slots(4)
      .slotConfig({ name: 'ada', role: 'reviewer' })
      .slotConfig({ name: 'bob', role: 'coder' })
      .slotConfig({ name: 'cy', role: 'coder' }),
  );
}

describe('findSlots', () => {
  it('with no filter (or an empty one) returns every slot, in slot order', async () => {
    const pool = await team();
    expect(idsOf(pool.findSlots())).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3']);
    expect(idsOf(pool.findSlots({}))).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3']);
    expect(pool.findSlots()).toEqual(pool.slots());
  });

  it('filters by exact name, role and state, and by any combination', async () => {
    const pool = await team();
    expect(idsOf(pool.findSlots({ name: 'bob' }))).toEqual(['slot-1']);
    expect(idsOf(pool.findSlots({ role: 'coder' }))).toEqual(['slot-1', 'slot-2']);
    expect(idsOf(pool.findSlots({ role: 'reviewer' }))).toEqual(['slot-0']);
    expect(idsOf(pool.findSlots({ state: 'idle' }))).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3']);
    expect(idsOf(pool.findSlots({ name: 'cy', role: 'coder', state: 'idle' }))).toEqual(['slot-2']);
    expect(pool.findSlots({ name: 'ada' })[0].config).toEqual({ name: 'ada', role: 'reviewer' });
  });

  it('returns nothing when nothing matches', async () => {
    const pool = await team();
    expect(pool.findSlots({ name: 'zed' })).toEqual([]);
    expect(pool.findSlots({ role: 'Coder' })).toEqual([]); // exact match: case counts
    expect(pool.findSlots({ name: 'ada', role: 'coder' })).toEqual([]);
    expect(pool.findSlots({ state: 'busy' })).toEqual([]);
    expect(pool.findSlots({ state: 'errored' })).toEqual([]);
  });

  it('follows the slots’ states as they change', async () => {
    const pool = await simPool((b) => b.slots(3).config({ crashThreshold: 1 }));
    await pool.run('boom [[sim:crash]]'); // slot-0 → errored
    const id = await pool.submit('long [[sim:hang]]'); // slot-1 → busy
    await eventually(async () => (await pool.task(id)).state === 'running');
    expect(idsOf(pool.findSlots({ state: 'errored' }))).toEqual(['slot-0']);
    expect(idsOf(pool.findSlots({ state: 'busy' }))).toEqual(['slot-1']);
    expect(idsOf(pool.findSlots({ state: 'idle' }))).toEqual(['slot-2']);
    await pool.cancel(id);
    expect(idsOf(pool.findSlots({ state: 'idle' }))).toEqual(['slot-1', 'slot-2']);
    await pool.drain();
    expect(idsOf(pool.findSlots({ state: 'stopped' }))).toEqual(['slot-0', 'slot-1', 'slot-2']);
  });

  it('sees identities changed by configureSlot and slots added by scaleUp', async () => {
    const pool = await team();
    const updated = pool.configureSlot('slot-3', { name: 'dee', role: 'coder' });
    expect(updated).toMatchObject({ id: 'slot-3', config: { name: 'dee', role: 'coder' } });
    expect(idsOf(pool.findSlots({ role: 'coder' }))).toEqual(['slot-1', 'slot-2', 'slot-3']);
    await pool.scaleUp(1, { name: 'eve', role: 'reviewer' });
    expect(idsOf(pool.findSlots({ role: 'reviewer' }))).toEqual(['slot-0', 'slot-4']);
    expect(() => pool.configureSlot('slot-9', { name: 'x' })).toThrow(SlotNotFound);
    expect(() => pool.configureSlot('slot-0', { effort: 'huge' as never })).toThrow(InvalidInput);
  });
});

describe('slot records', () => {
  it('carry tasksCompleted, costMicrodollars, restartCount, sessionId and worktreePath', async () => {
    const pool = await simPool((b) => b.slots(2));
    const fresh = pool.slots()[0];
    expect(fresh).toMatchObject({ state: 'idle', tasksCompleted: 0, costMicrodollars: 0, restartCount: 0 });
    expect(fresh.sessionId).toBeUndefined();
    expect(fresh.worktreePath).toBeUndefined(); // no worktree isolation
    expect(fresh.currentTask).toBeUndefined();

    const one = await pool.run('one [[sim:cost 0.011]]');
    const two = await pool.run('two [[sim:cost 0.004]]');
    const failed = await pool.run('three [[sim:error max-turns]] [[sim:cost 0.002]]', { config: { maxTurns: 1 } });
    expect(failed.success).toBe(false);
    const slot = pool.slots()[0];
    // Only a run that completed its task counts; a failed run's cost is booked all the same.
    expect(slot).toMatchObject({
      tasksCompleted: 2,
      costMicrodollars: 17_000,
      restartCount: 0,
      sessionId: one.sessionId,
    });
    expect(two.sessionId).toBe(one.sessionId);
    expect(pool.slots()[1]).toMatchObject({ tasksCompleted: 0, costMicrodollars: 0 });
    await pool.flush();
    expect(await pool.store().getSlot('slot-0')).toEqual(slot);
  });

  it('carry the slot’s worktree path under worktree isolation, for scaled-up slots too', async () => {
    const repo = makeGitRepo();
    const pool = await simPool((b) => b.slots(1).config({ worktreeIsolation: true }), repo);
    const path = pool.slots()[0].worktreePath;
    expect(path).toBeDefined();
    expect(existsSync(path ?? '')).toBe(true);
    await pool.scaleUp(1);
    const added = pool.slots()[1].worktreePath;
    expect(added).toBeDefined();
    expect(added).not.toBe(path);
    expect(existsSync(added ?? '')).toBe(true);
    await pool.flush();
    expect((await pool.store().getSlot('slot-1'))?.worktreePath).toBe(added);
  });

  it('show the task in hand while busy', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submit('long [[sim:hang]]');
    await eventually(async () => (await pool.task(id)).state === 'running');
    expect(pool.slots()[0]).toMatchObject({ state: 'busy', currentTask: id });
    await pool.cancel(id);
    expect(pool.slots()[0].state).toBe('idle');
    expect(pool.slots()[0].currentTask).toBeUndefined();
  });
});

describe('task records', () => {
  it('carry createdAtMs, startedAtMs and completedAtMs in order, for every ending', async () => {
    const pool = await simPool((b) => b.slots(1));
    const before = Date.now();
    await pool.run('ok [[sim:delay 30]]');
    await pool.run('crash [[sim:crash]]');
    const running = await pool.submit('long [[sim:hang]]');
    const queued = await pool.submit('queued');
    await eventually(async () => (await pool.task(running)).state === 'running');
    const pending = await pool.task(queued);
    expect(pending.createdAtMs).toBeGreaterThanOrEqual(before);
    expect(pending.startedAtMs).toBeUndefined();
    expect(pending.completedAtMs).toBeUndefined();
    const live = await pool.task(running);
    expect(live.startedAtMs).toBeGreaterThanOrEqual(live.createdAtMs);
    expect(live.completedAtMs).toBeUndefined();
    await pool.cancel(queued); // never started
    await pool.cancel(running);

    const tasks = await pool.listTasks();
    expect(tasks.map((task) => task.state)).toEqual(['completed', 'failed', 'cancelled', 'cancelled']);
    for (const task of tasks) {
      expect(task.createdAtMs).toBeGreaterThanOrEqual(before);
      expect(task.completedAtMs).toBeGreaterThanOrEqual(task.startedAtMs ?? task.createdAtMs);
      expect(task.completedAtMs).toBeLessThanOrEqual(Date.now());
    }
    expect(tasks[3].startedAtMs).toBeUndefined();
    for (const task of tasks.slice(0, 3)) expect(task.startedAtMs).toBeGreaterThanOrEqual(task.createdAtMs);
    expect((tasks[0].completedAtMs ?? 0) - (tasks[0].startedAtMs ?? 0)).toBeGreaterThanOrEqual(30);
  });
});
