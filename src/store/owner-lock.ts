/**
 * One owner per store file: a lock that the kernel releases the moment its holder dies.
 *
 * The lock is an exclusive SQLite lock on a small sidecar file (`<store>.lock`), taken by a connection in
 * `locking_mode = EXCLUSIVE` and held until `release()` or the end of the process. SQLite locks are POSIX
 * advisory locks, which the kernel drops when the holding process ends in any way (SIGKILL included), so a
 * dead owner never leaves a stale lock to break, and there is no heartbeat to miss; SQLite also sees its own
 * locks between two connections of one process, so a second pool in the same process is refused too. The main
 * file is not locked this way, so readers (`claude-pool inspect`, a second connection opened with
 * `lock: false`) still read it while the pool writes. Who holds the lock (pid, host, since) is written to the
 * store's `meta` table, for the `StoreLocked` error of the next opener.
 *
 * Why not `proper-lockfile`: it marks a lock with a directory whose mtime the holder refreshes on a timer, so a
 * dead owner blocks the store until the lock goes stale (10 s by default) and a holder whose event loop stalls
 * past that loses its lock to a second pool; the kernel-released lock has neither failure.
 */
import Database from 'better-sqlite3';
import { processStartTime } from '../agent/process-tree.js';
import { StoreLocked, type StoreHolder } from './errors.js';
import { thisHost } from './process-ledger.js';

/** The `meta` key that names the store's owner. */
export const OWNER_META_KEY = 'owner';

/** A held store lock. */
export class StoreOwnerLock {
  private constructor(
    private readonly lockDb: Database.Database,
    /** Who holds it (this process). */
    readonly holder: StoreHolder,
  ) {}

  /**
   * Takes the lock of the store at `path`, or throws `StoreLocked` naming the holder (read by `readHolder`).
   */
  static acquire(path: string, readHolder: () => StoreHolder | undefined): StoreOwnerLock {
    const lockDb = new Database(`${path}.lock`, { timeout: 0 });
    try {
      lockDb.pragma('locking_mode = EXCLUSIVE');
      lockDb.pragma('busy_timeout = 0');
      const holder: StoreHolder = { pid: process.pid, host: thisHost(), sinceMs: Date.now() };
      // A write takes the exclusive lock, and in EXCLUSIVE locking mode it is never given back until close.
      lockDb.exec('CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY, holder TEXT NOT NULL)');
      lockDb.prepare('INSERT OR REPLACE INTO lock (id, holder) VALUES (1, ?)').run(JSON.stringify(holder));
      return new StoreOwnerLock(lockDb, holder);
    } catch (error) {
      lockDb.close();
      if (
        (error as { code?: unknown }).code === 'SQLITE_BUSY' ||
        (error as { code?: unknown }).code === 'SQLITE_LOCKED'
      ) {
        let holder: StoreHolder | undefined;
        try {
          holder = readHolder();
        } catch {
          holder = undefined;
        }
        throw new StoreLocked(path, holder, error);
      }
      throw error;
    }
  }

  /** The holder record to keep in the store's `meta` (with the start time, for whoever looks at it). */
  holderJson(): string {
    return JSON.stringify({ ...this.holder, startTime: processStartTime(process.pid) });
  }

  /** Gives the lock back (idempotent). */
  release(): void {
    if (this.lockDb.open) this.lockDb.close();
  }
}

/** Reads a holder record written by `holderJson` (`undefined` when there is none or it does not parse). */
export function parseHolder(text: string | undefined): StoreHolder | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<StoreHolder>;
    if (typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.sinceMs === 'number') {
      return { pid: value.pid, host: value.host, sinceMs: value.sinceMs };
    }
  } catch {
    // not a holder record
  }
  return undefined;
}
