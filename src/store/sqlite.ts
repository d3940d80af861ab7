/**
 * The SQLite store: a durable `PoolStore` on better-sqlite3, so a restarted pool loses nothing (design §7.7).
 *
 * - The file is opened in WAL mode with `synchronous = NORMAL` (a commit survives a process crash; a power
 *   loss may drop the last commits, never corrupt the file) and a busy timeout, so a reader such as
 *   `claude-pool inspect` can look at the file while a pool writes to it.
 * - Tasks are listed oldest first (`created_at_ms`), and tasks created in the same millisecond in the order
 *   they were first stored (`seq`, an explicit rowid that an upsert keeps and VACUUM does not renumber), as
 *   the memory store does. Ids are random, so ordering ties by id would lose FIFO order across a restart.
 *   `id` is the key of every operation (`NOT NULL UNIQUE`); `seq` is internal.
 * - Each record is stored whole as JSON in `record`; the columns beside it (`state`, `slot_id`,
 *   `created_at_ms`, `kind`, and the `task_tags` rows) are copies made on write, for filtering and ordering in
 *   SQL. The JSON is the source of truth. Being JSON, a record keeps only JSON-representable values
 *   (`undefined` properties are dropped, as they are by `toEqual`).
 * - The schema carries a version in `meta`; `open` migrates an older file and refuses a newer one.
 * - One owner per file: `open` takes the store's owner lock (see `owner-lock.ts`) and throws `StoreLocked`,
 *   naming the holder, while another live pool has it, in this process or another. `lock: false` opens a file
 *   without owning it (to read it beside its owner).
 * - `agent_processes` is the process ledger (`processes`): the agents the owner has running, so the next owner
 *   can end what a dead one left behind.
 * - better-sqlite3 is synchronous; the methods return promises only to fit `PoolStore`. Each call runs to
 *   completion before it returns, so concurrent callers are serialised by the event loop, and a `putTask` is
 *   one transaction (record and tags together).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { SlotId, SlotRecord, TaskFilter, TaskId, TaskRecord } from '../../machines/types.js';
import { StoreError, StoreLocked, type StoreHolder } from './errors.js';
import { OWNER_META_KEY, parseHolder, StoreOwnerLock } from './owner-lock.js';
import type { AgentProcessRecord, ProcessLedger } from './process-ledger.js';
import { thisHost } from './process-ledger.js';
import { compareSlotIds, type PoolStore } from './types.js';

export { StoreError, StoreLocked, type StoreHolder };

/** Options of `SqliteStore.open`. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing, in milliseconds (default 5000). */
  busyTimeoutMs?: number;
  /**
   * Take the store's owner lock (default true): a pool needs it. `false` opens the file beside its owner, to
   * read it; a store opened so must not be given to a pool.
   */
  lock?: boolean;
}

/** A row as read back: the key and the JSON record. */
interface RecordRow {
  id: string;
  record: unknown;
}

/** Named parameters of the task queries. */
interface TaskQueryParams {
  state?: string;
  slotId?: string;
  tags?: string;
}

/**
 * Schema migrations: entry `n` takes a file from version `n` to version `n + 1`. Each runs inside the opening
 * transaction. Plain `CREATE TABLE` (not `IF NOT EXISTS`), so a file holding someone else's tables of the same
 * names fails loudly instead of being half-adopted.
 */
const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  (db) =>
    db.exec(`
      CREATE TABLE tasks (
        seq           INTEGER PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        state         TEXT NOT NULL,
        slot_id       TEXT,
        created_at_ms INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        record        TEXT NOT NULL
      );
      CREATE INDEX tasks_by_state   ON tasks (state, created_at_ms, seq);
      CREATE INDEX tasks_by_created ON tasks (created_at_ms, seq);
      CREATE INDEX tasks_by_slot    ON tasks (slot_id, created_at_ms, seq);
      CREATE TABLE task_tags (
        task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        tag     TEXT NOT NULL,
        PRIMARY KEY (task_id, tag)
      ) WITHOUT ROWID;
      CREATE INDEX task_tags_by_tag ON task_tags (tag, task_id);
      CREATE TABLE slots (
        id     TEXT PRIMARY KEY,
        record TEXT NOT NULL
      );
    `),
  (db) =>
    db.exec(`
      CREATE TABLE agent_processes (
        host             TEXT NOT NULL,
        pid              INTEGER NOT NULL,
        pgid             INTEGER NOT NULL,
        start_time       TEXT,
        owner_pid        INTEGER NOT NULL,
        owner_start_time TEXT,
        started_at_ms    INTEGER NOT NULL,
        PRIMARY KEY (host, pid)
      ) WITHOUT ROWID;
    `),
];

/** The schema version this build writes (and the newest it can read). */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/** Paths better-sqlite3 treats as something other than a plain file name. */
function isPlainFilePath(path: string): boolean {
  return path !== '' && path !== ':memory:' && !path.startsWith('file:');
}

/** Brings the file to `SQLITE_SCHEMA_VERSION`, in one immediate transaction so two openers cannot race. */
function migrate(db: Database.Database, path: string): void {
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const row = db.prepare<[], { value: unknown }>("SELECT value FROM meta WHERE key = 'schema_version'").get();
    let version = 0;
    if (row !== undefined) {
      const text = String(row.value);
      if (!/^\d+$/.test(text)) {
        throw new StoreError('store_corrupt', `store ${path}: meta.schema_version is not a version number: ${text}`, {
          table: 'meta',
          id: 'schema_version',
        });
      }
      version = Number(text);
    }
    if (version > SQLITE_SCHEMA_VERSION) {
      throw new StoreError(
        'store_version_unsupported',
        `store ${path} has schema version ${version}, newer than the ${SQLITE_SCHEMA_VERSION} this build of claude-pool supports; upgrade claude-pool`,
        { table: 'meta', id: 'schema_version' },
      );
    }
    for (let from = version; from < SQLITE_SCHEMA_VERSION; from++) MIGRATIONS[from](db);
    if (version !== SQLITE_SCHEMA_VERSION) {
      db.prepare(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ).run(String(SQLITE_SCHEMA_VERSION));
    }
  }).immediate();
}

/** Reads a record back from its JSON, checking that it is an object with the row's id. */
function decode<T extends { id: string }>(table: string, row: RecordRow): T {
  if (typeof row.record !== 'string') {
    throw new StoreError('store_corrupt', `${table} row ${row.id}: record is not text`, { table, id: row.id });
  }
  let value: unknown;
  try {
    value = JSON.parse(row.record);
  } catch (cause) {
    throw new StoreError('store_corrupt', `${table} row ${row.id}: record is not valid JSON`, {
      table,
      id: row.id,
      cause,
    });
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    (value as { id?: unknown }).id !== row.id
  ) {
    throw new StoreError('store_corrupt', `${table} row ${row.id}: record is not a record with id ${row.id}`, {
      table,
      id: row.id,
    });
  }
  return value as T;
}

/** Index of the `listTasks` statement for a filter shape: bit 0 state, bit 1 slot, bit 2 tags. */
function filterShape(filter: TaskFilter): number {
  return (
    (filter.state !== undefined ? 1 : 0) |
    (filter.slotId !== undefined ? 2 : 0) |
    (filter.tags !== undefined && filter.tags.length > 0 ? 4 : 0)
  );
}

/** The `listTasks` query for a filter shape. */
function listTasksSql(shape: number): string {
  const where: string[] = [];
  if (shape & 1) where.push('t.state = @state');
  if (shape & 2) where.push('t.slot_id = @slotId');
  if (shape & 4) {
    where.push('t.id IN (SELECT tt.task_id FROM task_tags tt WHERE tt.tag IN (SELECT value FROM json_each(@tags)))');
  }
  return `SELECT t.id, t.record FROM tasks t${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY t.created_at_ms, t.seq`;
}

/** A row of `agent_processes`. */
interface AgentProcessRow {
  host: string;
  pid: number;
  pgid: number;
  start_time: string | null;
  owner_pid: number;
  owner_start_time: string | null;
  started_at_ms: number;
}

/** The process ledger of a SQLite store: the `agent_processes` table. */
class SqliteProcessLedger implements ProcessLedger {
  private readonly insert: Database.Statement<[Record<string, unknown>]>;
  private readonly remove: Database.Statement<[string, number]>;
  private readonly all: Database.Statement<[], AgentProcessRow>;

  constructor(
    db: Database.Database,
    private readonly ensureOpen: () => void,
  ) {
    this.insert = db.prepare(
      `INSERT OR REPLACE INTO agent_processes (host, pid, pgid, start_time, owner_pid, owner_start_time, started_at_ms)
       VALUES (@host, @pid, @pgid, @startTime, @ownerPid, @ownerStartTime, @startedAtMs)`,
    );
    this.remove = db.prepare('DELETE FROM agent_processes WHERE host = ? AND pid = ?');
    this.all = db.prepare('SELECT * FROM agent_processes ORDER BY started_at_ms, pid');
  }

  recordSpawn(record: AgentProcessRecord): void {
    this.ensureOpen();
    this.insert.run({ ...record, startTime: record.startTime ?? null, ownerStartTime: record.ownerStartTime ?? null });
  }

  recordExit(pid: number, host: string = thisHost()): void {
    this.ensureOpen();
    this.remove.run(host, pid);
  }

  list(): AgentProcessRecord[] {
    this.ensureOpen();
    return this.all.all().map((row) => {
      const record: AgentProcessRecord = {
        host: row.host,
        pid: row.pid,
        pgid: row.pgid,
        ownerPid: row.owner_pid,
        startedAtMs: row.started_at_ms,
      };
      if (row.start_time !== null) record.startTime = row.start_time;
      if (row.owner_start_time !== null) record.ownerStartTime = row.owner_start_time;
      return record;
    });
  }
}

/** Reads the owner recorded in the file at `path`, without taking any lock (`undefined` if none). */
function readRecordedHolder(path: string): StoreHolder | undefined {
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 1000 });
  try {
    const row = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(OWNER_META_KEY);
    return parseHolder(row?.value);
  } finally {
    db.close();
  }
}

/** A `PoolStore` in a SQLite file (WAL). Open with `SqliteStore.open(path)`; `close()` when done. */
export class SqliteStore implements PoolStore {
  private readonly upsertTask: Database.Statement<[Record<string, unknown>]>;
  private readonly deleteTags: Database.Statement<[string]>;
  private readonly insertTag: Database.Statement<[string, string]>;
  private readonly selectTask: Database.Statement<[string], RecordRow>;
  private readonly removeTask: Database.Statement<[string]>;
  /** One statement per filter shape (see `filterShape`), all prepared up front. */
  private readonly listTaskStatements: Database.Statement<[TaskQueryParams], RecordRow>[];
  private readonly upsertSlot: Database.Statement<[string, string]>;
  private readonly selectSlot: Database.Statement<[string], RecordRow>;
  private readonly selectSlots: Database.Statement<[], RecordRow>;
  private readonly removeSlot: Database.Statement<[string]>;
  private readonly writeTask: (record: TaskRecord, json: string) => void;
  private readonly addToMeta: Database.Statement<[string, bigint, bigint]>;
  /** The agent processes of the pool that owns this store (see `ProcessLedger`). */
  readonly processes: ProcessLedger;

  private constructor(
    private readonly db: Database.Database,
    /** The path the store was opened with. */
    readonly path: string,
    private readonly ownerLock?: StoreOwnerLock,
  ) {
    this.processes = new SqliteProcessLedger(db, () => this.ensureOpen());
    this.addToMeta = db.prepare(
      `INSERT INTO meta (key, value) VALUES (?, CAST(? AS TEXT))
       ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)`,
    );
    this.upsertTask = db.prepare(
      `INSERT INTO tasks (id, state, slot_id, created_at_ms, kind, record)
       VALUES (@id, @state, @slotId, @createdAtMs, @kind, @record)
       ON CONFLICT (id) DO UPDATE SET state = excluded.state, slot_id = excluded.slot_id,
         created_at_ms = excluded.created_at_ms, kind = excluded.kind, record = excluded.record`,
    );
    this.deleteTags = db.prepare('DELETE FROM task_tags WHERE task_id = ?');
    this.insertTag = db.prepare('INSERT OR IGNORE INTO task_tags (task_id, tag) VALUES (?, ?)');
    this.selectTask = db.prepare('SELECT id, record FROM tasks WHERE id = ?');
    this.removeTask = db.prepare('DELETE FROM tasks WHERE id = ?');
    this.listTaskStatements = Array.from({ length: 8 }, (_, shape) =>
      db.prepare<[TaskQueryParams], RecordRow>(listTasksSql(shape)),
    );
    this.upsertSlot = db.prepare(
      'INSERT INTO slots (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record',
    );
    this.selectSlot = db.prepare('SELECT id, record FROM slots WHERE id = ?');
    this.selectSlots = db.prepare('SELECT id, record FROM slots');
    this.removeSlot = db.prepare('DELETE FROM slots WHERE id = ?');
    this.writeTask = db.transaction((record: TaskRecord, json: string) => {
      this.upsertTask.run({
        id: record.id,
        state: record.state,
        slotId: record.slotId ?? null,
        createdAtMs: record.createdAtMs,
        kind: record.kind,
        record: json,
      });
      this.deleteTags.run(record.id);
      for (const tag of record.tags) this.insertTag.run(record.id, tag);
    });
  }

  /**
   * Opens (creating if needed) the store at `path`: the file, its parent directories and the schema.
   * `:memory:` gives a private in-memory database. Rejects a file of a newer schema version with
   * `StoreError('store_version_unsupported')`, and a file another live pool owns with `StoreLocked` (unless
   * `lock: false`).
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const plainFile = isPlainFilePath(path);
    if (plainFile) mkdirSync(dirname(resolve(path)), { recursive: true });
    const ownerLock =
      plainFile && options.lock !== false ? StoreOwnerLock.acquire(path, () => readRecordedHolder(path)) : undefined;
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { timeout: busyTimeoutMs });
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, path);
      if (ownerLock) {
        db.prepare(
          'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        ).run(OWNER_META_KEY, ownerLock.holderJson());
      }
      return new SqliteStore(db, path, ownerLock);
    } catch (error) {
      db?.close();
      ownerLock?.release();
      throw error;
    }
  }

  /** The owner lock this store holds (`undefined` when opened with `lock: false` or in memory). */
  get owner(): StoreHolder | undefined {
    return this.ownerLock?.holder;
  }

  /** True until `close()`. */
  get isOpen(): boolean {
    return this.db.open;
  }

  /** Closes the database (idempotent). Any later call rejects with `StoreError('store_closed')`. */
  close(): void {
    if (this.db.open) {
      if (this.ownerLock) {
        try {
          this.db.prepare('DELETE FROM meta WHERE key = ?').run(OWNER_META_KEY);
        } catch {
          // the lock goes anyway; a stale owner record only names who held it last
        }
      }
      this.db.close();
    }
    this.ownerLock?.release();
  }

  async putTask(record: TaskRecord): Promise<void> {
    this.ensureOpen();
    this.writeTask(record, JSON.stringify(record));
  }

  async getTask(id: TaskId): Promise<TaskRecord | undefined> {
    this.ensureOpen();
    const row = this.selectTask.get(id);
    return row === undefined ? undefined : decode<TaskRecord>('tasks', row);
  }

  async listTasks(filter: TaskFilter = {}): Promise<TaskRecord[]> {
    this.ensureOpen();
    const shape = filterShape(filter);
    const params: TaskQueryParams = {};
    if (shape & 1) params.state = filter.state;
    if (shape & 2) params.slotId = filter.slotId;
    if (shape & 4) params.tags = JSON.stringify(filter.tags);
    return this.listTaskStatements[shape].all(params).map((row) => decode<TaskRecord>('tasks', row));
  }

  async deleteTask(id: TaskId): Promise<boolean> {
    this.ensureOpen();
    return this.removeTask.run(id).changes > 0;
  }

  async putSlot(record: SlotRecord): Promise<void> {
    this.ensureOpen();
    this.upsertSlot.run(record.id, JSON.stringify(record));
  }

  async getSlot(id: SlotId): Promise<SlotRecord | undefined> {
    this.ensureOpen();
    const row = this.selectSlot.get(id);
    return row === undefined ? undefined : decode<SlotRecord>('slots', row);
  }

  async listSlots(): Promise<SlotRecord[]> {
    this.ensureOpen();
    return this.selectSlots
      .all()
      .map((row) => decode<SlotRecord>('slots', row))
      .sort((a, b) => compareSlotIds(a.id, b.id));
  }

  async deleteSlot(id: SlotId): Promise<boolean> {
    this.ensureOpen();
    return this.removeSlot.run(id).changes > 0;
  }

  async putMeta(key: string, value: string): Promise<void> {
    this.ensureOpen();
    if (key === 'schema_version' || key === OWNER_META_KEY) {
      throw new StoreError('store_corrupt', `${key} is not a pool setting`);
    }
    this.db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  async getMeta(key: string): Promise<string | undefined> {
    this.ensureOpen();
    const row = this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key);
    return row?.value;
  }

  async incrementMeta(key: string, delta: number): Promise<void> {
    this.ensureOpen();
    if (!Number.isSafeInteger(delta))
      throw new StoreError('store_corrupt', `cannot add ${delta} to ${key}: not an integer`);
    this.addToMeta.run(key, BigInt(delta), BigInt(delta)); // bound as integers, not reals
  }

  private ensureOpen(): void {
    if (!this.db.open) throw new StoreError('store_closed', `store ${this.path} is closed`);
  }
}
