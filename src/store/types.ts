/**
 * The store: the durable projection of the actors' state. Every task and slot transition is written through.
 */
import type { SlotId, SlotRecord, TaskFilter, TaskId, TaskRecord } from '../../machines/types.js';
import type { ProcessLedger } from './process-ledger.js';

/** Where the pool keeps its task and slot records. */
export interface PoolStore {
  putTask(record: TaskRecord): Promise<void>;
  getTask(id: TaskId): Promise<TaskRecord | undefined>;
  /** Tasks matching the filter, oldest first. */
  listTasks(filter?: TaskFilter): Promise<TaskRecord[]>;
  /** True when a record was deleted. */
  deleteTask(id: TaskId): Promise<boolean>;
  putSlot(record: SlotRecord): Promise<void>;
  getSlot(id: SlotId): Promise<SlotRecord | undefined>;
  /** Slots in id order. */
  listSlots(): Promise<SlotRecord[]>;
  /** True when a record was deleted. */
  deleteSlot(id: SlotId): Promise<boolean>;
  /** Keeps a pool-wide value (the spend booked so far); a store without it loses such values on restart. */
  putMeta?(key: string, value: string): Promise<void>;
  /** A value kept with `putMeta`. */
  getMeta?(key: string): Promise<string | undefined>;
  /**
   * Adds `delta` to an integer value kept with `putMeta` (a missing value counts as 0), atomically in the store,
   * so concurrent bookings add up instead of the last writer winning. The pool books its spend this way.
   */
  incrementMeta?(key: string, delta: number): Promise<void>;
  /**
   * The agent processes running for this store's pool, kept so a pool restarted on the store ends what a
   * previous owner left behind. A store without it cannot do that across restarts.
   */
  readonly processes?: ProcessLedger;
}

/** The meta key under which the pool keeps the spend it has booked, in microdollars. */
export const SPENT_META_KEY = 'spent_microdollars';

/** True when a task matches a filter (tags: any tag matches). */
export function matchesTaskFilter(record: TaskRecord, filter: TaskFilter = {}): boolean {
  if (filter.state !== undefined && record.state !== filter.state) return false;
  if (filter.slotId !== undefined && record.slotId !== filter.slotId) return false;
  if (filter.tags !== undefined && filter.tags.length > 0 && !filter.tags.some((tag) => record.tags.includes(tag))) {
    return false;
  }
  return true;
}

/** Orders slot ids by their numeric suffix (`slot-2` before `slot-10`). */
export function compareSlotIds(a: SlotId, b: SlotId): number {
  const na = Number(/(\d+)$/.exec(a)?.[1] ?? Number.NaN);
  const nb = Number(/(\d+)$/.exec(b)?.[1] ?? Number.NaN);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
