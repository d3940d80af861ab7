import { taskRecord } from '../support/records.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../machines/types.js';
import { findPackageRoot } from '../../src/agent/simulated/path.js';
import { MemoryStore } from '../../src/store/memory.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { planRestore } from '../../src/restore.js';
import { cleanupPools, eventually, processExists, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

/** A program that builds a pool on a SQLite file, leaves work in every state, and dies without draining. */
const CRASHING_POOL = `
import { Pool, simulatedClaude } from ${JSON.stringify(join(findPackageRoot(), 'dist/src/index.js'))};
import { SqliteStore } from ${JSON.stringify(join(findPackageRoot(), 'dist/src/store/sqlite.js'))};
const [db, cwd, state, pidFile] = process.argv.slice(2);
const store = await SqliteStore.open(db);
const pool = await Pool.builder({ binary: simulatedClaude, workingDir: cwd, env: { CLAUDE_POOL_SIM_STATE_DIR: state } })
  .slots(1).store(store).build();
const wait = async (id, state) => { while ((await pool.task(id)).state !== state) await new Promise((r) => setTimeout(r, 10)); };
await pool.run('finished [[sim:cost 0.01]] [[sim:text done]]');
const review = await pool.submitWithReview('review me [[sim:cost 0.02]] [[sim:text draft]]');
await wait(review, 'pending_review');
const running = await pool.submit('forever [[sim:pidfile ' + pidFile + ']] [[sim:hang]]');
await wait(running, 'running');
const { existsSync } = await import('node:fs');
while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
const queued = await pool.submit('later [[sim:text later]]');
await pool.flush();
process.stdout.write(JSON.stringify({ review, running, queued }));
process.exit(0); // no drain: the process just ends
`;

describe('restoring a pool from its store', () => {
  it('a pool restarted on a SQLite store loses nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-restore-'));
    const db = join(dir, 'pool.db');
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const state = mkdtempSync(join(dir, 'state-'));
    const pidFile = join(dir, 'agent.pid');
    const script = join(dir, 'crash.mjs');
    execFileSync('sh', ['-c', `cat > ${JSON.stringify(script)}`], { input: CRASHING_POOL });
    const out = execFileSync(process.execPath, [script, db, cwd, state, pidFile], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    const ids = JSON.parse(out) as { review: string; running: string; queued: string };
    // The pool's process exited without draining: the agent it was running went with it.
    const orphan = Number(readFileSync(pidFile, 'utf8'));
    await eventually(() => !processExists(orphan));

    const store = await SqliteStore.open(db);
    const pool = await simPool((b) => b.slots(1).store(store), cwd);
    // Finished work is still there; the spend still counts.
    const finished = (await pool.listTasks({ state: 'completed' })).find((t) => t.prompt.startsWith('finished'));
    expect(finished?.result?.output).toBe('done');
    expect(pool.status().totalSpendMicrodollars).toBe(30_000);
    // The slot keeps what it earned.
    expect(pool.slots()[0]).toMatchObject({ tasksCompleted: 2, costMicrodollars: 30_000 });
    // The task awaiting review waits again, and can be approved.
    expect((await pool.task(ids.review)).state).toBe('pending_review');
    await pool.approveResult(ids.review);
    expect((await pool.task(ids.review)).state).toBe('completed');
    // The interrupted run is failed, with a reason.
    const interrupted = await pool.task(ids.running);
    expect(interrupted.state).toBe('failed');
    expect(interrupted.result?.errorCode).toBe('interrupted');
    // The queued task runs. (The new pool's agent has lost the old CLI session, so the slot starts a new one.)
    await eventually(async () => (await pool.task(ids.queued)).state === 'completed', 10_000);
    expect((await pool.result(ids.queued))?.output).toBe('later');
    await pool.drain();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a chain cut short by a restart a failed result with its reason', async () => {
    const store = new MemoryStore();
    await store.putTask(
      taskRecord('chain-1', { kind: 'chain', prompt: 'chain of 2 steps', state: 'running', createdAtMs: 1 }),
    );
    const pool = await simPool((b) => b.slots(1).store(store));
    const result = await pool.waitForChain('chain-1');
    expect(result).toMatchObject({ success: false, steps: [], totalCostMicrodollars: 0 });
    expect(result.finalOutput).toMatch(/the chain was interrupted: the pool stopped while it was running/);
  });

  it('plans what each stored record becomes, by policy', async () => {
    const store = new MemoryStore();
    const base = (id: string, state: TaskRecord['state'], extra: Partial<TaskRecord> = {}): TaskRecord =>
      taskRecord(id, { prompt: id, state, createdAtMs: Number(id.slice(-1)), ...extra });
    const cost = (micro: number) => ({
      output: '',
      success: true,
      costMicrodollars: micro,
      turnsUsed: 1,
      elapsedMs: 1,
    });
    await store.putTask(base('task-1', 'completed', { result: cost(100) }));
    await store.putTask(base('task-2', 'running', { slotId: 'slot-0', startedAtMs: 5 }));
    await store.putTask(base('task-3', 'pending'));
    await store.putTask(base('task-4', 'pending_review', { result: cost(50) }));
    await store.putTask(base('chain-5', 'running', { kind: 'chain', result: cost(999) }));
    await store.putTask(base('task-6', 'pending', { tags: ['chain-5'] })); // a step of the interrupted chain
    const fail = await planRestore(store, 'fail', 1000);
    expect(fail.requeue.map((t) => t.id)).toEqual(['task-3']);
    expect(fail.review.map((t) => t.id)).toEqual(['task-4']);
    expect(fail.interrupted.map((t) => [t.id, t.state, t.result?.errorCode])).toEqual([
      ['task-2', 'failed', 'interrupted'],
      ['chain-5', 'failed', 'interrupted'],
      ['task-6', 'failed', 'interrupted'],
    ]);
    expect(fail.spentMicrodollars).toBe(150); // chains are not counted twice
    const requeue = await planRestore(store, 'requeue', 1000);
    expect(requeue.requeue.map((t) => [t.id, t.state, t.slotId, t.startedAtMs])).toEqual([
      ['task-2', 'pending', undefined, undefined],
      ['task-3', 'pending', undefined, undefined],
    ]);
  });
});
