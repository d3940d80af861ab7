import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TaskCancelled } from '../../src/errors.js';
import { cleanupPools, eventually, processExists, simPool, waitForPid } from '../support/sim-pool.js';

afterEach(cleanupPools);

function pidFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'claude-pool-pid-')), 'agent.pid');
}

describe('cancel', () => {
  it('kills the running process, keeps the task Cancelled, and frees the slot', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const file = pidFile();
    const id = await pool.submit(`forever [[sim:pidfile ${file}]] [[sim:hang]]`);
    await waitForPid(file);
    const pid = Number(readFileSync(file, 'utf8'));
    expect(processExists(pid)).toBe(true);
    await pool.cancel(id);
    expect(processExists(pid)).toBe(false);
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(await pool.result(id)).toBeUndefined();
    expect(pool.slots()[0].state).toBe('idle');
    // Nothing that arrives later turns it into anything else, and the slot takes new work.
    const next = await pool.run('after [[sim:text next]]');
    expect(next.output).toBe('next');
    await pool.flush();
    expect((await pool.store().getTask(id))?.state).toBe('cancelled');
  });

  it('interrupts the run first, so what it spent before the cancel is still booked', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-cwd-'));
    const pool = await simPool((b) => b.slots(1).config({ budgetMicrodollars: 1_000_000 }), cwd);
    // Three calls of $0.01; the file is written in the first call's tool round, once that call is paid.
    const id = await pool.submit(
      'long [[sim:write paid.txt yes]] [[sim:cost 0.03]] [[sim:turns 3]] [[sim:turn-delay 10000]]',
    );
    await eventually(() => existsSync(join(cwd, 'paid.txt')));
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    const spent = pool.status().totalSpendMicrodollars;
    expect(spent).toBe(10_000);
    expect(pool.slots()[0].costMicrodollars).toBe(spent);
    expect(pool.status().reservedMicrodollars).toBe(0);
  });

  it('cancels a queued task before it starts; run() of a cancelled task rejects with TaskCancelled', async () => {
    const pool = await simPool((b) => b.slots(1));
    const blocker = await pool.submit('block [[sim:delay 300]]');
    const queued = pool.run('never runs');
    await eventually(async () => (await pool.listTasks({ state: 'pending' })).length === 1);
    const [pending] = await pool.listTasks({ state: 'pending' });
    await pool.cancel(pending.id);
    await expect(queued).rejects.toBeInstanceOf(TaskCancelled);
    expect((await pool.task(pending.id)).startedAtMs).toBeUndefined();
    await pool.cancel(blocker);
  });

  it('is a no-op on a finished task', async () => {
    const pool = await simPool((b) => b.slots(1));
    await pool.run('done');
    const [task] = await pool.listTasks();
    await pool.cancel(task.id);
    expect((await pool.task(task.id)).state).toBe('completed');
  });

  it('a per-task timeout kills the run and fails the task', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const file = pidFile();
    const result = await pool.run(`slow [[sim:pidfile ${file}]] [[sim:hang]]`, { config: { timeoutSecs: 1 } });
    expect(result.success).toBe(false);
    expect(result.errorCode).toBe('timeout');
    expect(result.output).toContain('timed out after 1000 ms');
    expect(processExists(Number(readFileSync(file, 'utf8')))).toBe(false);
  });
});

describe('cancelling through an AbortSignal', () => {
  it('run() with a signal: aborting kills the process and rejects with TaskCancelled', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const file = pidFile();
    const controller = new AbortController();
    let submitted: string | undefined;
    const running = pool.run(`forever [[sim:pidfile ${file}]] [[sim:hang]]`, {
      signal: controller.signal,
      onSubmitted: (id) => {
        submitted = id;
      },
    });
    await waitForPid(file);
    expect(submitted).toMatch(/^task-/);
    controller.abort();
    await expect(running).rejects.toBeInstanceOf(TaskCancelled);
    await eventually(() => !processExists(Number(readFileSync(file, 'utf8'))));
    expect((await pool.task(submitted ?? '')).state).toBe('cancelled');
    await expect(pool.run('never', { signal: controller.signal })).rejects.toBeInstanceOf(TaskCancelled);
  });
});
