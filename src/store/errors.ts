/**
 * Errors raised by the stores.
 */
import { PoolError } from '../errors.js';

/**
 * Why a store operation failed:
 * - `store_corrupt`: a row could not be read back (bad JSON, not a record, wrong id, bad schema version value);
 * - `store_version_unsupported`: the file was written by a newer schema than this build knows;
 * - `store_closed`: the store was used after `close()`;
 * - `store_locked`: another live pool owns the store ({@link StoreLocked}).
 */
export type StoreErrorCode = 'store_corrupt' | 'store_version_unsupported' | 'store_closed' | 'store_locked';

/** Details of a `StoreError`: the table and row concerned, and the underlying error. */
export interface StoreErrorDetails {
  /** The table the bad row is in. */
  table?: string;
  /** The key of the bad row. */
  id?: string;
  /** The error that caused this one (a JSON or SQLite error). */
  cause?: unknown;
}

/** A store failure with a stable `code`. A `PoolError`, so it is also an `Error`. */
export class StoreError extends PoolError {
  /** A stable, machine-readable code. */
  declare readonly code: StoreErrorCode;
  /** The table concerned, when the error is about one row. */
  readonly table?: string;
  /** The key of the row concerned. */
  readonly id?: string;

  constructor(code: StoreErrorCode, message: string, details: StoreErrorDetails = {}) {
    super(code, message);
    this.table = details.table;
    this.id = details.id;
    if (details.cause !== undefined) this.cause = details.cause;
  }
}

/** The pool process that owns a store. */
export interface StoreHolder {
  /** Its pid. */
  pid: number;
  /** The machine it runs on. */
  host: string;
  /** Since when it owns the store (ms since epoch). */
  sinceMs: number;
}

/**
 * A store is owned by another live pool (in this process or another one): one store has one owner at a time,
 * so no task runs twice and no spend is booked twice. `holder` names the owner when it could be read.
 */
export class StoreLocked extends StoreError {
  declare readonly code: 'store_locked';
  /** The owner, when the store records it. */
  readonly holder?: StoreHolder;
  /** The store's path. */
  readonly path: string;

  constructor(path: string, holder: StoreHolder | undefined, cause?: unknown) {
    const who = holder
      ? `pid ${holder.pid} on ${holder.host} since ${new Date(holder.sinceMs).toISOString()}`
      : 'another process (owner not recorded)';
    super('store_locked', `store ${path} is in use by another pool: ${who}`, { cause });
    this.path = path;
    this.holder = holder;
  }
}
