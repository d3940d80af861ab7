/**
 * Errors raised by the stores.
 */
import { PoolError } from '../errors.js';

/**
 * Why a store operation failed:
 * - `store_corrupt`: a row could not be read back (bad JSON, not a record, wrong id, bad schema version value);
 * - `store_version_unsupported`: the file was written by a newer schema than this build knows;
 * - `store_closed`: the store was used after `close()`.
 */
export type StoreErrorCode = 'store_corrupt' | 'store_version_unsupported' | 'store_closed';

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
