/**
 * Warm slots on the simulated agent: a slot keeps its agent process between tasks with the same settings, runs
 * the next prompt as a new user message of the stream-json session, books each task's own cost, survives a
 * cancel (interrupt), and closes its process when idle too long and at drain. Processes are counted by the pid
 * each run reports (`[[sim:pid]]`, `[[sim:pidfile]]`) and by the process ledger.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskResult } from '../../machines/types.js';
import { cleanupPools, eventually, processExists, simBuilder, simPool, waitForPid } from '../support/sim-pool.js';

afterEach(cleanupPools);

/** The pid a `[[sim:pid]]` run reported in its answer. */
function pidOf(result: TaskResult): number {
  const match = /sim-pid: (\d+)/.exec(result.output);
  if (!match) throw new Error(`no pid in ${JSON.stringify(result.output)}`);
  return Number(match[1]);
}

describe('warm slots', () => {
  it('runs 20 short tasks on 2 slots in 2 processes, each task booked at its own cost', async () => {
    const pool = await simPool((b) => b.slots(2).warmSlots(true));
    const results = await pool.fanOut(Array.from({ length: 20 }, (_, i) => `task ${i} [[sim:pid]] [[sim:cost 0.002]]`));
    expect(results.every((r) => r.success)).toBe(true);
    const pids = new Set(results.map(pidOf));
    expect(pids.size).toBe(2);
    // The process reports cumulative totals; each task's cost is the difference.
    expect(results.map((r) => r.costMicrodollars)).toEqual(Array(20).fill(2_000));
    expect(pool.status().totalSpendMicrodollars).toBe(40_000);
    // Both processes are still recorded in the ledger while they are kept warm, and gone after the drain.
    const live = pool.store().processes?.list() ?? [];
    expect(new Set(live.map((p) => p.pid))).toEqual(pids);
    await pool.drain();
    for (const pid of pids) expect(processExists(pid)).toBe(false);
    expect(pool.store().processes?.list()).toEqual([]);
  });

  it('starts a fresh process for a task whose process-level settings differ', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(true));
    const first = await pool.run('one [[sim:pid]]');
    const same = await pool.run('two [[sim:pid]]');
    expect(pidOf(same)).toBe(pidOf(first));
    const other = await pool.run('three [[sim:pid]]', { config: { model: 'haiku' } });
    expect(pidOf(other)).not.toBe(pidOf(first));
    // The old process was closed when the slot moved on.
    await eventually(() => !processExists(pidOf(first)));
    // The new one is the slot's warm process now.
    const again = await pool.run('four [[sim:pid]]', { config: { model: 'haiku' } });
    expect(pidOf(again)).toBe(pidOf(other));
  });

  it('a cancel interrupts the warm process, which lives on and runs the slot’s next task', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-warm-'));
    const pool = await simPool((b) => b.slots(1).warmSlots(true));
    const first = await pool.run('one [[sim:pid]]');
    const file = join(dir, 'hang.pid');
    const id = await pool.submit(`hang [[sim:pidfile ${file}]] [[sim:hang]]`);
    expect(await waitForPid(file)).toBe(pidOf(first));
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(processExists(pidOf(first))).toBe(true);
    const next = await pool.run('after [[sim:pid]] [[sim:text still here]]');
    expect(next.success).toBe(true);
    expect(pidOf(next)).toBe(pidOf(first));
    expect(next.output).toContain('still here');
  });

  it('keeps the process of a slot whose first task was cancelled (no session recorded yet)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-warm-'));
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submit(`hang [[sim:pidfile ${dir}/first.pid]] [[sim:hang]]`);
    const pid = await waitForPid(join(dir, 'first.pid'));
    await pool.cancel(id);
    expect(pidOf(await pool.run('next [[sim:pid]]'))).toBe(pid);
  });

  it('a chain step (its own directory, a new conversation) does not reuse the slot’s process', async () => {
    const pool = await simPool((b) => b.slots(1));
    const first = await pool.run('one [[sim:pid]]');
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-warm-'));
    const other = await pool.run('elsewhere [[sim:pid]]', { workingDir: dir });
    expect(pidOf(other)).not.toBe(pidOf(first));
  });

  it('at drain, a warm process and the process it started in a group of its own are both ended', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-warm-'));
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.run(`start a child [[sim:pidfile ${dir}/agent]] [[sim:child ${dir}/child]]`);
    expect(result.success).toBe(true);
    const agent = await waitForPid(join(dir, 'agent'));
    const child = await waitForPid(join(dir, 'child'));
    // Kept warm after its task: both still run.
    expect(processExists(agent)).toBe(true);
    expect(processExists(child)).toBe(true);
    await pool.drain();
    await eventually(() => !processExists(agent) && !processExists(child));
    expect(pool.store().processes?.list() ?? []).toEqual([]);
  });

  it('closes the warm process of a slot removed by a scale-down', async () => {
    const pool = await simPool((b) => b.slots(2).config({ scaling: { minSlots: 1, maxSlots: 2 } }));
    const [first, second] = await pool.fanOut(['one [[sim:pid]] [[sim:delay 50]]', 'two [[sim:pid]] [[sim:delay 50]]']);
    const pids = [pidOf(first), pidOf(second)];
    expect(pids.every((pid) => processExists(pid))).toBe(true);
    await pool.scaleDown(1);
    await eventually(() => pool.slots().length === 1);
    // One process is gone with its slot; the other slot keeps its own.
    await eventually(() => pids.filter((pid) => processExists(pid)).length === 1);
    expect(pool.store().processes?.list()).toHaveLength(1);
  });

  it('closes a process idle longer than idleMs; the next task starts a fresh one', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(true, { idleMs: 200 }));
    const first = await pool.run('one [[sim:pid]]');
    await eventually(() => !processExists(pidOf(first)));
    expect(pool.store().processes?.list()).toEqual([]);
    const second = await pool.run('two [[sim:pid]]');
    expect(pidOf(second)).not.toBe(pidOf(first));
  });

  it('replaces a warm process that crashed', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(true).config({ crashThreshold: 5 }));
    const first = await pool.run('one [[sim:pid]]');
    const crashed = await pool.run('two [[sim:crash]]');
    expect(crashed.errorCode).toBe('crashed');
    const third = await pool.run('three [[sim:pid]]');
    expect(third.success).toBe(true);
    expect(pidOf(third)).not.toBe(pidOf(first));
  });

  it('is on by default; turned off, every task starts its own process', async () => {
    const warm = await simPool((b) => b.slots(1));
    const w1 = await warm.run('one [[sim:pid]]');
    expect(pidOf(await warm.run('two [[sim:pid]]'))).toBe(pidOf(w1));
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const a = await pool.run('one [[sim:pid]]');
    const b = await pool.run('two [[sim:pid]]');
    expect(pidOf(a)).not.toBe(pidOf(b));
  });

  it('rejects a bad idle time', () => {
    expect(() => simBuilder().warmSlots(true, { idleMs: 0 })).toThrow(/idleMs/);
  });
});
