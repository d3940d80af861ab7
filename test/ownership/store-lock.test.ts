/**
 * One owner per store: a second pool on a SQLite file in use fails with `StoreLocked`, in this process or
 * another, and a dead owner's lock is taken over; spend is booked as an increment.
 */
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { SQLITE_SCHEMA_VERSION, SqliteStore } from '../../src/store/sqlite.js';
import { SPENT_META_KEY } from '../../src/store/types.js';
import { Pool, simulatedClaude, StoreError, StoreLocked } from '../../src/index.js';
import { cleanupPools, eventually, simPool } from '../support/sim-pool.js';
import { killAll, runCounts, startHost } from './support.js';

const opened: SqliteStore[] = [];
const leftovers: number[] = [];
afterEach(async () => {
  await cleanupPools();
  for (const store of opened.splice(0)) store.close();
  killAll(leftovers.splice(0));
});

function open(path: string): SqliteStore {
  const store = SqliteStore.open(path);
  opened.push(store);
  return store;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

const freshDb = (): string => join(mkdtempSync(join(tmpdir(), 'claude-pool-lock-')), 'pool.db');

describe('StoreLocked', () => {
  it('a second opener in the same process is refused, naming the holder; after close the store opens', () => {
    const path = freshDb();
    const first = open(path);
    const error = thrown(() => SqliteStore.open(path));
    expect(error).toBeInstanceOf(StoreLocked);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'store_locked', path, holder: { pid: process.pid, host: hostname() } });
    expect((error as StoreLocked).holder?.sinceMs).toBe(first.owner?.sinceMs);
    expect((error as Error).message).toContain(`pid ${process.pid} on ${hostname()}`);
    first.close();
    expect(open(path).owner?.pid).toBe(process.pid);
  });

  it('across processes: refused while the owner lives, taken over once it died; no task runs twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-lock-'));
    const db = join(dir, 'pool.db');
    const host = await startHost({ agents: 1, db, dir, queued: 3 });
    leftovers.push(host.child.pid ?? 0, host.watchdog, ...host.pids);
    const error = thrown(() => SqliteStore.open(db));
    expect(error).toBeInstanceOf(StoreLocked);
    expect(error).toMatchObject({ code: 'store_locked', holder: { pid: host.child.pid, host: hostname() } });
    expect(runCounts(dir)).toEqual({ 'hang-0': 1 });

    host.child.kill('SIGKILL');
    await host.ended;
    // The kernel dropped the dead owner's lock: the next pool takes the store over.
    const store = open(db);
    const pool = await Pool.builder({
      binary: simulatedClaude,
      workingDir: dir,
      env: { CLAUDE_POOL_SIM_STATE_DIR: join(dir, 'state') },
    })
      .slots(2)
      .store(store)
      .build();
    await eventually(
      async () => (await pool.listTasks()).every((t) => ['completed', 'failed'].includes(t.state)),
      10_000,
    );
    const tasks = await pool.listTasks();
    expect(tasks.map((t) => [t.prompt.split(' ')[0], t.state])).toEqual([
      ['hang', 'failed'],
      ['queued', 'completed'],
      ['queued', 'completed'],
      ['queued', 'completed'],
    ]);
    await pool.drain();
    // Each task ran exactly once, in one process or the other; the interrupted run was not started again.
    expect(runCounts(dir)).toEqual({ 'hang-0': 1, 'queued-0': 1, 'queued-1': 1, 'queued-2': 1 });
  });
});

describe('spend in the store', () => {
  it('is added atomically: increments from two connections add up', async () => {
    const path = freshDb();
    const owner = open(path);
    const beside = SqliteStore.open(path, { lock: false });
    opened.push(beside);
    await Promise.all([
      ...Array.from({ length: 50 }, () => owner.incrementMeta(SPENT_META_KEY, 7)),
      ...Array.from({ length: 50 }, () => beside.incrementMeta(SPENT_META_KEY, 11)),
    ]);
    expect(await owner.getMeta(SPENT_META_KEY)).toBe(String(50 * 7 + 50 * 11));
  });

  it('a pool books what its runs spent as increments on what the store already held', async () => {
    const path = freshDb();
    const store = open(path);
    await store.putMeta(SPENT_META_KEY, '5000');
    const pool = await simPool((b) => b.slots(2).store(store));
    await pool.fanOut(['a [[sim:cost 0.01]]', 'b [[sim:cost 0.02]]']);
    await pool.flush();
    expect(await store.getMeta(SPENT_META_KEY)).toBe(String(5000 + 30_000));
    expect(pool.status().totalSpendMicrodollars).toBe(35_000);
  });
});

describe('the process ledger table', () => {
  it('a file of schema version 1 is migrated: the table is added, the records kept', async () => {
    const path = freshDb();
    const store = SqliteStore.open(path);
    await store.putMeta('kept', 'yes');
    store.close();
    const raw = new Database(path);
    raw.exec("DROP TABLE agent_processes; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    raw.close();
    const reopened = open(path);
    expect(await reopened.getMeta('kept')).toBe('yes');
    expect(reopened.processes.list()).toEqual([]);
    const record = { pid: 4242, pgid: 4242, startTime: '99', host: 'h', ownerPid: 1, startedAtMs: 5 };
    reopened.processes.recordSpawn(record);
    expect(reopened.processes.list()).toEqual([record]);
    reopened.processes.recordExit(4242, 'h');
    expect(reopened.processes.list()).toEqual([]);
    expect(SQLITE_SCHEMA_VERSION).toBe(2);
  });
});
