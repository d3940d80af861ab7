/**
 * The in-memory store (the default). Records are copied in and out, so callers never share state with it.
 */
import type { SlotId, SlotRecord, TaskFilter, TaskId, TaskRecord } from '../../machines/types.js';
import { copyPlain } from './copy.js';
import { MemoryProcessLedger } from './process-ledger.js';
import { compareSlotIds, matchesTaskFilter, type PoolStore } from './types.js';

/** A `PoolStore` that keeps everything in memory. */
export class MemoryStore implements PoolStore {
  private readonly tasks = new Map<TaskId, TaskRecord>();
  private readonly slots = new Map<SlotId, SlotRecord>();

  async putTask(record: TaskRecord): Promise<void> {
    this.tasks.set(record.id, copyPlain(record));
  }

  async getTask(id: TaskId): Promise<TaskRecord | undefined> {
    const record = this.tasks.get(id);
    return record ? copyPlain(record) : undefined;
  }

  async listTasks(filter?: TaskFilter): Promise<TaskRecord[]> {
    return [...this.tasks.values()]
      .filter((record) => matchesTaskFilter(record, filter))
      .sort((a, b) => a.createdAtMs - b.createdAtMs)
      .map((record) => copyPlain(record));
  }

  async deleteTask(id: TaskId): Promise<boolean> {
    return this.tasks.delete(id);
  }

  async putSlot(record: SlotRecord): Promise<void> {
    this.slots.set(record.id, copyPlain(record));
  }

  async getSlot(id: SlotId): Promise<SlotRecord | undefined> {
    const record = this.slots.get(id);
    return record ? copyPlain(record) : undefined;
  }

  async listSlots(): Promise<SlotRecord[]> {
    return [...this.slots.values()].sort((a, b) => compareSlotIds(a.id, b.id)).map((record) => copyPlain(record));
  }

  async deleteSlot(id: SlotId): Promise<boolean> {
    return this.slots.delete(id);
  }

  private readonly meta = new Map<string, string>();

  async putMeta(key: string, value: string): Promise<void> {
    this.meta.set(key, value);
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.meta.get(key);
  }

  async incrementMeta(key: string, delta: number): Promise<void> {
    this.meta.set(key, String((Number(this.meta.get(key)) || 0) + delta));
  }

  /** The agent processes of the pool on this store (lost with the store, like everything here). */
  readonly processes = new MemoryProcessLedger();
}
