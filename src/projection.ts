/**
 * The projection: turns the actors' snapshots into task and slot records, writes every change through to the
 * store (in order, per record), and publishes each change. It is fed every snapshot of every actor of the pool
 * (`src/pool/actor-feed.ts` subscribes to each), so it sees every transition, however it was caused.
 *
 * It holds live work (tasks not yet final, running chains) and a bounded window of the most recently finished
 * tasks and chains; older ones leave memory and are read back from the store. Each change costs O(1).
 */
import { Observable, Subject } from 'rxjs';
import {
  FINAL_TASK_STATES,
  type ChainProgress,
  type SlotId,
  type SlotRecord,
  type TaskId,
  type TaskRecord,
} from '../machines/types.js';
import type { BudgetLedger } from '../machines/budget.js';
import { KeyedListeners } from './keyed-listeners.js';
import { SPENT_META_KEY, type PoolStore } from './store/types.js';

/** A record that changed, with its previous version. */
export interface RecordChange<T> {
  previous?: T;
  current: T;
}

/** Writes records behind the actors, one at a time per key, keeping only the latest pending version. */
export class WriteBehind {
  private readonly pending = new Map<string, () => Promise<void>>();
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Schedules a write; a later write of the same key replaces an earlier one that has not started. */
  schedule(key: string, write: () => Promise<void>): void {
    this.pending.set(key, write);
    if (!this.inflight.has(key)) this.pump(key);
  }

  private pump(key: string): void {
    const run = (async () => {
      for (let write = this.pending.get(key); write; write = this.pending.get(key)) {
        this.pending.delete(key);
        try {
          await write();
        } catch (error) {
          this.onError(error);
        }
      }
      this.inflight.delete(key);
    })();
    this.inflight.set(key, run);
  }

  /** Resolves once every scheduled write has been made. */
  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight.values()]);
  }

  /** Resolves once every write scheduled so far for `key` has been made (O(1): other keys are not waited for). */
  async flushKey(key: string): Promise<void> {
    for (let run = this.inflight.get(key); run; run = this.inflight.get(key)) await run;
  }
}

/** Keys in insertion order with a bound: adding past it gives back the oldest key, which leaves. */
class RecentWindow<K> {
  private readonly keys = new Set<K>();

  constructor(private readonly limit: number) {}

  /** Adds a key; returns the keys pushed out. */
  add(key: K): K[] {
    this.keys.delete(key);
    this.keys.add(key);
    const evicted: K[] = [];
    for (const oldest of this.keys) {
      if (this.keys.size <= this.limit) break;
      this.keys.delete(oldest);
      evicted.push(oldest);
    }
    return evicted;
  }
}

/** What the projection reads of an actor's snapshot. */
export interface MachineSnapshotLike {
  value?: unknown;
  context?: { record?: unknown; slotOrder?: unknown; progress?: unknown; ledger?: unknown };
}

/** The supervisor's state and budget ledger, as last seen. */
export interface PoolState {
  /** `running`, `draining` or `stopped`. */
  phase: string;
  ledger: BudgetLedger;
}

/** Task and slot records as the actors have them now. */
export class Projection {
  readonly tasks = new Map<TaskId, TaskRecord>();
  readonly slots = new Map<SlotId, SlotRecord>();
  readonly chains = new Map<TaskId, ChainProgress>();
  /** Each task record change, in order. */
  readonly taskChanged$ = new Subject<RecordChange<TaskRecord>>();
  /** Each slot record change, in order. */
  readonly slotChanged$ = new Subject<RecordChange<SlotRecord>>();
  /** Each chain progress change, in order. */
  readonly chainChanged$ = new Subject<RecordChange<ChainProgress>>();
  private readonly taskWatchers = new KeyedListeners<TaskId, TaskRecord>();
  private readonly chainWatchers = new KeyedListeners<TaskId, ChainProgress>();

  /** Calls `listener` with each new record of one task (O(1) per change); returns the function that stops it. */
  watchTask(id: TaskId, listener: (record: TaskRecord) => void): () => void {
    return this.taskWatchers.add(id, listener);
  }

  /** One task's new records: a change costs O(1) whatever the number of tasks watched. */
  taskChangesOf(id: TaskId): Observable<TaskRecord> {
    return new Observable((subscriber) => this.watchTask(id, (record) => subscriber.next(record)));
  }

  /** One chain's new progress records: a change costs O(1) whatever the number of chains watched. */
  chainChangesOf(id: TaskId): Observable<ChainProgress> {
    return new Observable((subscriber) => this.chainWatchers.add(id, (progress) => subscriber.next(progress)));
  }
  /** The supervisor's phase and ledger, whenever either changes. */
  readonly poolChanged$ = new Subject<RecordChange<PoolState>>();
  /** The supervisor's phase and ledger as last seen. */
  pool?: PoolState;
  /** Slots the pool removed (scale-down). */
  readonly slotRemoved$ = new Subject<SlotRecord>();
  /** Finished tasks and chains that left the recent window (and memory): the store still has them. */
  readonly evicted$ = new Subject<TaskId>();
  private readonly writes: WriteBehind;
  private readonly recent: RecentWindow<TaskId>;

  /** `recentWindow`: how many finished tasks and chains stay in memory (and in snapshots) after they end. */
  constructor(
    private readonly store: PoolStore,
    onStoreError: (error: unknown) => void,
    recentWindow = 1000,
  ) {
    this.writes = new WriteBehind(onStoreError);
    this.recent = new RecentWindow(recentWindow);
  }

  /** Feeds one snapshot of an actor of the pool (`machineId`: the id of its statechart). */
  handle(machineId: string | undefined, snapshot: MachineSnapshotLike): void {
    const context = snapshot.context;
    if (!context) return;
    if (machineId === 'task') this.updateTask(context.record as TaskRecord);
    else if (machineId === 'slot') this.updateSlot(context.record as SlotRecord);
    else if (machineId === 'chain') {
      this.updateTask(context.record as TaskRecord);
      this.updateChain(context.progress as ChainProgress);
    } else if (machineId === 'pool' && Array.isArray(context.slotOrder)) {
      this.updatePool(String(snapshot.value), context.ledger as BudgetLedger);
      this.dropRemovedSlots(context.slotOrder);
    }
  }

  /**
   * Takes a task record (from an actor, or loaded from the store) and writes it through, unless `persist` is
   * false (a record that is already stored as it is).
   */
  updateTask(record: TaskRecord, persist = true): void {
    const previous = this.tasks.get(record.id);
    if (previous === record) return;
    this.tasks.set(record.id, record);
    if (persist) this.writes.schedule(`task:${record.id}`, () => this.store.putTask(record));
    this.taskChanged$.next({ previous, current: record });
    this.taskWatchers.emit(record.id, record);
    if (FINAL_TASK_STATES.includes(record.state) && !FINAL_TASK_STATES.includes(previous?.state ?? 'pending')) {
      for (const id of this.recent.add(record.id)) this.evict(id);
    }
  }

  /** Resolves once the store holds every change made so far to this task (or chain). */
  flushTask(id: TaskId): Promise<void> {
    return this.writes.flushKey(`task:${id}`);
  }

  private evict(id: TaskId): void {
    this.tasks.delete(id);
    this.chains.delete(id);
    this.evicted$.next(id);
  }

  /** The spend to write as a total (the first write of this pool), until it is written. */
  private unwrittenSpendTotal?: number;
  /** Spend booked since the last write, to add to the store's total. */
  private unwrittenSpend = 0;

  private updatePool(phase: string, ledger: BudgetLedger): void {
    const previous = this.pool;
    if (previous && previous.phase === phase && previous.ledger === ledger) return;
    this.pool = { phase, ledger };
    if (previous?.ledger.spentMicrodollars !== ledger.spentMicrodollars && this.store.putMeta) {
      // The pool's starting total is written once; from then on spend is added (atomically in the store), so
      // no writer overwrites a total another one booked. Writes of the one key stay in order.
      if (previous === undefined || this.unwrittenSpendTotal !== undefined || !this.store.incrementMeta) {
        this.unwrittenSpendTotal = ledger.spentMicrodollars;
      } else {
        this.unwrittenSpend += ledger.spentMicrodollars - previous.ledger.spentMicrodollars;
      }
      this.writes.schedule('meta:spent', () => this.writeSpend());
    }
    this.poolChanged$.next({ previous, current: this.pool });
  }

  private async writeSpend(): Promise<void> {
    const total = this.unwrittenSpendTotal;
    const delta = this.unwrittenSpend;
    this.unwrittenSpendTotal = undefined;
    this.unwrittenSpend = 0;
    if (total !== undefined) await this.store.putMeta?.(SPENT_META_KEY, String(total));
    else if (delta !== 0) await this.store.incrementMeta?.(SPENT_META_KEY, delta);
  }

  private updateChain(progress: ChainProgress): void {
    const previous = this.chains.get(progress.chainId);
    if (previous === progress) return;
    this.chains.set(progress.chainId, progress);
    this.chainChanged$.next({ previous, current: progress });
    this.chainWatchers.emit(progress.chainId, progress);
  }

  private updateSlot(record: SlotRecord): void {
    const previous = this.slots.get(record.id);
    if (previous === record) return;
    this.slots.set(record.id, record);
    this.writes.schedule(`slot:${record.id}`, () => this.store.putSlot(record));
    this.slotChanged$.next({ previous, current: record });
  }

  private dropRemovedSlots(slotOrder: readonly unknown[]): void {
    if (slotOrder.length >= this.slots.size) return;
    for (const [id, record] of this.slots) {
      if (slotOrder.includes(id)) continue;
      this.slots.delete(id);
      this.writes.schedule(`slot:${id}`, async () => {
        await this.store.deleteSlot(id);
      });
      this.slotRemoved$.next(record);
    }
  }

  /** Resolves once the store has every change made so far. */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** Ends the change streams. */
  close(): void {
    this.taskChanged$.complete();
    this.slotChanged$.complete();
    this.chainChanged$.complete();
    this.poolChanged$.complete();
    this.slotRemoved$.complete();
    this.evicted$.complete();
  }
}
