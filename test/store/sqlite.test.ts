/**
 * What only the SQLite store does: survive close and reopen, WAL, locking against another process, the
 * schema version, corrupt rows and a large table. The behaviour shared with the memory store is in
 * `conformance.ts`.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { TaskRecord, TaskState } from '../../machines/types.js';
import { StoreError } from '../../src/store/errors.js';
import { SQLITE_SCHEMA_VERSION, SqliteStore } from '../../src/store/sqlite.js';
import { fullTaskRecord, slotRecord, taskRecord } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'claude-pool-sqlite-'));
let files = 0;
const opened: SqliteStore[] = [];

/** A fresh file path in the test directory. */
function freshPath(): string {
  return join(dir, `store-${++files}.db`);
}

/** Opens a store and remembers it for closing after the test. */
function open(path: string, options?: Parameters<typeof SqliteStore.open>[1]): SqliteStore {
  const store = SqliteStore.open(path, options);
  opened.push(store);
  return store;
}

/** Runs `fn` on a raw connection to the file, closing it afterwards. */
function withRaw<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

/** The error `fn` throws (fails the test when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected an error');
}

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteStore', () => {
  it('keeps every record across close and reopen', async () => {
    const path = freshPath();
    const store = open(path);
    const tasks: TaskRecord[] = [
      fullTaskRecord('task-full'),
      taskRecord('task-pending', { createdAtMs: 5, tags: ['a'] }),
      taskRecord('task-chain', { createdAtMs: 7, kind: 'chain', state: 'running', slotId: 'slot-1' }),
    ];
    const slots = [slotRecord('slot-10'), slotRecord('slot-1', { state: 'busy', currentTask: 'task-chain' })];
    for (const task of tasks) await store.putTask(task);
    for (const slot of slots) await store.putSlot(slot);
    await store.deleteTask('task-gone');
    store.close();

    const reopened = open(path);
    expect(await reopened.listTasks()).toEqual([tasks[1], tasks[2], tasks[0]]);
    expect(await reopened.getTask('task-full')).toEqual(tasks[0]);
    expect(await reopened.listSlots()).toEqual([slots[1], slots[0]]);
    expect(await reopened.listTasks({ tags: ['a'] })).toEqual([tasks[1]]);
    expect(await reopened.listTasks({ state: 'running', slotId: 'slot-1' })).toEqual([tasks[2]]);
  });

  it('creates missing parent directories', async () => {
    const path = join(dir, 'nested', 'deeper', 'pool.db');
    const store = open(path);
    await store.putTask(taskRecord('task-1'));
    expect(existsSync(path)).toBe(true);
  });

  it('writes the file in WAL mode', async () => {
    const path = freshPath();
    const store = open(path);
    await store.putTask(taskRecord('task-1'));
    expect(existsSync(`${path}-wal`)).toBe(true);
    // The journal mode is a property of the file, so a second connection sees it.
    expect(withRaw(path, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
  });

  it('records the schema version on a new file', () => {
    const path = freshPath();
    open(path).close();
    const version = withRaw(path, (db) =>
      db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get(),
    );
    expect(version?.value).toBe(String(SQLITE_SCHEMA_VERSION));
    // Reopening a current file is fine and leaves the version alone.
    open(path).close();
    expect(open(path).path).toBe(path);
  });

  it('refuses a file written by a newer schema version, and leaves it untouched', async () => {
    const path = freshPath();
    const store = open(path);
    await store.putTask(taskRecord('task-1'));
    store.close();
    const newer = SQLITE_SCHEMA_VERSION + 1;
    withRaw(path, (db) => db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(newer)));

    const error = thrown(() => SqliteStore.open(path));
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: 'store_version_unsupported', table: 'meta', id: 'schema_version' });
    expect((error as Error).message).toContain(`schema version ${newer}`);
    expect(withRaw(path, (db) => db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get())).toBe(
      String(newer),
    );
  });

  it('reports an unreadable schema version as corrupt', () => {
    const path = freshPath();
    open(path).close();
    withRaw(path, (db) => db.prepare("UPDATE meta SET value = 'one' WHERE key = 'schema_version'").run());
    expect(thrown(() => SqliteStore.open(path))).toMatchObject({ code: 'store_corrupt', table: 'meta' });
  });

  it('will not adopt a database that already has tables of its own', () => {
    const path = freshPath();
    withRaw(path, (db) => db.exec('CREATE TABLE tasks (something_else TEXT)'));
    expect(() => SqliteStore.open(path)).toThrow(/already exists/);
    // The failed open rolled back: no version was written.
    expect(
      withRaw(path, (db) => db.prepare("SELECT name FROM sqlite_master WHERE name = 'meta'").get()),
    ).toBeUndefined();
  });

  it('raises StoreError(store_corrupt) naming the table and id for a row that is not valid JSON', async () => {
    const path = freshPath();
    const store = open(path);
    await store.putTask(taskRecord('task-ok', { createdAtMs: 1 }));
    await store.putTask(taskRecord('task-bad', { createdAtMs: 2, state: 'running' }));
    withRaw(path, (db) =>
      db.prepare('UPDATE tasks SET record = \'{"id": "task-bad", \' WHERE id = \'task-bad\'').run(),
    );

    const fromGet = await rejection(store.getTask('task-bad'));
    expect(fromGet).toBeInstanceOf(StoreError);
    expect(fromGet).toMatchObject({ code: 'store_corrupt', table: 'tasks', id: 'task-bad' });
    expect((fromGet as Error).message).toMatch(/tasks.*task-bad/);
    expect((fromGet as Error).cause).toBeInstanceOf(SyntaxError);
    expect(await rejection(store.listTasks())).toMatchObject({ code: 'store_corrupt', id: 'task-bad' });
    expect(await rejection(store.listTasks({ state: 'running' }))).toMatchObject({ code: 'store_corrupt' });
    // Rows that are fine stay readable, and the bad one can be overwritten or deleted.
    expect(await store.getTask('task-ok')).toEqual(taskRecord('task-ok', { createdAtMs: 1 }));
    expect(await store.listTasks({ state: 'pending' })).toHaveLength(1);
    await store.putTask(taskRecord('task-bad', { createdAtMs: 2 }));
    expect(await store.listTasks()).toHaveLength(2);
  });

  it('raises store_corrupt for JSON that is not a record of that id, and for bad slot rows', async () => {
    const path = freshPath();
    const store = open(path);
    await store.putTask(taskRecord('task-1'));
    await store.putTask(taskRecord('task-2'));
    await store.putSlot(slotRecord('slot-0'));
    withRaw(path, (db) => {
      db.prepare(`UPDATE tasks SET record = '{"id":"task-other"}' WHERE id = 'task-1'`).run();
      db.prepare(`UPDATE tasks SET record = '[1,2]' WHERE id = 'task-2'`).run();
      db.prepare(`UPDATE slots SET record = 'null' WHERE id = 'slot-0'`).run();
    });
    expect(await rejection(store.getTask('task-1'))).toMatchObject({
      code: 'store_corrupt',
      table: 'tasks',
      id: 'task-1',
    });
    expect(await rejection(store.getTask('task-2'))).toMatchObject({
      code: 'store_corrupt',
      table: 'tasks',
      id: 'task-2',
    });
    expect(await rejection(store.getSlot('slot-0'))).toMatchObject({
      code: 'store_corrupt',
      table: 'slots',
      id: 'slot-0',
    });
    expect(await rejection(store.listSlots())).toMatchObject({ code: 'store_corrupt', table: 'slots', id: 'slot-0' });
  });

  it('rejects calls after close with store_closed; close is idempotent', async () => {
    const store = open(freshPath());
    expect(store.isOpen).toBe(true);
    store.close();
    store.close();
    expect(store.isOpen).toBe(false);
    expect(await rejection(store.getTask('task-1'))).toMatchObject({ code: 'store_closed' });
    expect(await rejection(store.putTask(taskRecord('task-1')))).toMatchObject({ code: 'store_closed' });
    expect(await rejection(store.listSlots())).toMatchObject({ code: 'store_closed' });
  });

  it('takes many concurrent writes (Promise.all) without losing one', async () => {
    const store = open(freshPath());
    const states: TaskState[] = ['pending', 'running', 'completed'];
    const tasks = Array.from({ length: 600 }, (_, i) =>
      taskRecord(`task-${String(i).padStart(4, '0')}`, {
        createdAtMs: i,
        state: states[i % 3],
        slotId: `slot-${i % 7}`,
        tags: [`t${i % 5}`],
      }),
    );
    const slots = Array.from({ length: 20 }, (_, i) => slotRecord(`slot-${i}`, { tasksCompleted: i }));
    await Promise.all([
      ...tasks.map((task) => store.putTask(task)),
      ...slots.map((slot) => store.putSlot(slot)),
      // Updates of the same records racing with the first writes: the later call wins.
      ...tasks.slice(0, 100).map((task) => store.putTask({ ...task, state: 'cancelled', tags: ['late'] })),
    ]);
    const all = await store.listTasks();
    expect(all).toHaveLength(600);
    expect(await store.listTasks({ state: 'cancelled' })).toHaveLength(100);
    expect(await store.listTasks({ tags: ['late'] })).toHaveLength(100);
    expect(await store.listTasks({ state: 'running', slotId: 'slot-3', tags: ['t0', 't1'] })).toEqual(
      tasks
        .slice(100)
        .filter((t) => t.state === 'running' && t.slotId === 'slot-3' && ['t0', 't1'].includes(t.tags[0])),
    );
    expect((await store.listSlots()).map((slot) => slot.tasksCompleted)).toEqual(slots.map((_, i) => i));
  });

  it('reads while another process holds the write lock, and waits for the lock to write', async () => {
    const path = freshPath();
    const waiting = open(path); // default busy timeout
    const impatient = open(path, { busyTimeoutMs: 0, lock: false }); // a second connection, beside the owner
    await waiting.putTask(taskRecord('task-before'));

    const script = join(dir, 'hold-lock.cjs');
    writeFileSync(
      script,
      `const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
       const db = new Database(process.argv[2]);
       db.exec('BEGIN IMMEDIATE');
       db.prepare('INSERT INTO slots (id, record) VALUES (?, ?)').run('slot-7', process.argv[3]);
       process.stdout.write('locked\\n');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[4]));
       db.exec('COMMIT');
       db.close();`,
    );
    const child = spawn(process.execPath, [script, path, JSON.stringify(slotRecord('slot-7')), '600'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((done) => child.on('exit', done));
    await new Promise<void>((locked, failed) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && locked());
      child.on('exit', (code) => failed(new Error(`lock holder exited early (${code})`)));
    });

    // WAL: readers are not blocked by the writer, and do not see its uncommitted row.
    expect((await waiting.listTasks()).map((t) => t.id)).toEqual(['task-before']);
    expect(await waiting.getSlot('slot-7')).toBeUndefined();
    // Without a busy timeout a write fails at once...
    expect(await rejection(impatient.putTask(taskRecord('task-impatient')))).toMatchObject({ code: 'SQLITE_BUSY' });
    // ...with one it waits for the other process to commit, then succeeds.
    await waiting.putTask(taskRecord('task-after', { createdAtMs: 2_000 }));
    expect(await exited).toBe(0);
    expect((await waiting.listTasks()).map((t) => t.id)).toEqual(['task-before', 'task-after']);
    expect(await waiting.getSlot('slot-7')).toEqual(slotRecord('slot-7'));
  });

  it('stores 10,000 tasks and lists them filtered', async () => {
    const store = open(freshPath());
    const states: TaskState[] = ['pending', 'running', 'completed', 'failed'];
    for (let i = 0; i < 10_000; i++) {
      await store.putTask(
        taskRecord(`task-${i}`, {
          createdAtMs: 1_000_000 + i,
          state: states[i % 4],
          slotId: `slot-${i % 16}`,
          tags: [`batch-${i % 10}`, i % 2 ? 'odd' : 'even'],
        }),
      );
    }
    expect(await store.listTasks()).toHaveLength(10_000);
    const completed = await store.listTasks({ state: 'completed' });
    expect(completed).toHaveLength(2_500);
    expect(completed.every((t) => t.state === 'completed')).toBe(true);
    const tagged = await store.listTasks({ tags: ['batch-3', 'batch-4'] });
    expect(tagged).toHaveLength(2_000);
    expect(tagged.map((t) => t.createdAtMs)).toEqual([...tagged.map((t) => t.createdAtMs)].sort((a, b) => a - b));
    // i % 4 == 2 (completed) and i % 16 == 6 → every 16th task; of those, i % 10 == 3 never holds (i even).
    expect(await store.listTasks({ state: 'completed', slotId: 'slot-6' })).toHaveLength(625);
    expect(await store.listTasks({ state: 'completed', slotId: 'slot-6', tags: ['batch-3'] })).toEqual([]);
    expect(await store.listTasks({ state: 'completed', slotId: 'slot-6', tags: ['batch-2', 'odd'] })).toHaveLength(125);
  }, 60_000);
});
