/**
 * RxJS streams over the actor system: the whole pool as immutable snapshots, a typed event stream, and
 * per-entity streams. Everything is fed by the projection (which sees every actor transition).
 *
 * Snapshots are structurally shared: tasks and chains are persistent maps (Immutable.js), so a change costs
 * O(log n) whatever the number of tasks, and an unchanged record keeps its identity. A snapshot is built once
 * per burst of changes, and only while someone subscribes (or asks for the current one).
 *
 * Delivery to consumers is asynchronous (RxJS `asapScheduler`): a transition never waits for a subscriber,
 * so a slow subscriber cannot stall the pool, and an error thrown by one subscriber is reported through
 * RxJS's `config.onUnhandledError` without reaching the pool or the other subscribers.
 */
import { produce } from 'immer';
import { Map as ImmutableMap } from 'immutable';
import {
  asapScheduler,
  BehaviorSubject,
  concat,
  defer,
  distinctUntilChanged,
  filter,
  map,
  type Observable,
  observeOn,
  of,
  Subject,
  takeWhile,
} from 'rxjs';
import type { ConcurrencyStatus } from '../machines/backpressure.js';
import { reservedTotal } from '../machines/budget.js';
import {
  FINAL_TASK_STATES,
  type ChainProgress,
  type Message,
  type PoolStatus,
  type SlotId,
  type SlotRecord,
  type SlotState,
  type StepResult,
  type TaskId,
  type TaskRecord,
  type TaskState,
} from '../machines/types.js';
import type { PoolState, Projection, RecordChange } from './projection.js';
import type { PermissionEvent } from './pool/permissions.js';

/** The pool's phase: taking work, draining, or stopped. */
export type PoolPhase = 'running' | 'draining' | 'stopped';

/**
 * The whole pool at one moment. Immutable; an unchanged slot, task or chain keeps its object identity. `tasks`
 * and `chains` hold live work and the most recently finished (the builder's `recentWindow`); older records
 * are in the store (`pool.task(id)`, `pool.listTasks()`).
 */
export interface PoolSnapshot {
  phase: PoolPhase;
  slots: Readonly<Record<SlotId, SlotRecord>>;
  tasks: ReadonlyMap<TaskId, TaskRecord>;
  chains: ReadonlyMap<TaskId, ChainProgress>;
  budget: { limitMicrodollars?: number; spentMicrodollars: number; reservedMicrodollars: number };
  status: PoolStatus;
}

/** Everything that happens in the pool, as a discriminated union on `type`. */
export type PoolEvent =
  | { type: 'task.submitted'; task: TaskRecord }
  | { type: 'task.started'; task: TaskRecord; slotId: SlotId }
  | { type: 'task.output'; taskId: TaskId; slotId: SlotId; text: string }
  | { type: 'task.finished'; task: TaskRecord }
  | { type: 'task.cancelled'; task: TaskRecord }
  | { type: 'review.requested'; task: TaskRecord }
  | { type: 'review.approved'; task: TaskRecord }
  | { type: 'review.rejected'; task: TaskRecord }
  | { type: 'chain.step.started'; chainId: TaskId; stepIndex: number; stepName: string }
  | { type: 'chain.step.finished'; chainId: TaskId; stepIndex: number; step: StepResult }
  | { type: 'chain.progress'; progress: ChainProgress }
  | { type: 'slot.state'; slot: SlotRecord; previous?: SlotState }
  | { type: 'slot.removed'; slot: SlotRecord }
  | { type: 'message.sent'; message: Message }
  | {
      type: 'budget.changed';
      spentMicrodollars: number;
      reservedMicrodollars: number;
      limitMicrodollars?: number;
    }
  | { type: 'pool.draining' }
  | { type: 'pool.stopped' }
  /** The model API pushed back: the concurrency limit was cut (`concurrency.limit`, `concurrency.reason`). */
  | { type: 'pool.throttled'; concurrency: ConcurrencyStatus }
  /** The limit is back at the slot count. */
  | { type: 'pool.recovered'; concurrency: ConcurrencyStatus }
  /** A used-up rate-limit window paused dispatch until `concurrency.pausedUntilMs`. */
  | { type: 'pool.paused'; concurrency: ConcurrencyStatus }
  /** The pause is over; dispatch runs again. */
  | { type: 'pool.resumed'; concurrency: ConcurrencyStatus }
  | PermissionEvent;

/** The `type`s of `PoolEvent`. */
export type PoolEventType = PoolEvent['type'];

/** A chunk of text an agent streamed while running a task. */
export interface OutputChunkLike {
  taskId: TaskId;
  slotId: SlotId;
  text: string;
}

function emptyStatus(): PoolStatus {
  return {
    totalSlots: 0,
    idleSlots: 0,
    busySlots: 0,
    retiringSlots: 0,
    erroredSlots: 0,
    stoppedSlots: 0,
    pendingTasks: 0,
    runningTasks: 0,
    pendingReviewTasks: 0,
    completedTasks: 0,
    failedTasks: 0,
    cancelledTasks: 0,
    totalSpendMicrodollars: 0,
    reservedMicrodollars: 0,
    shutdown: false,
  };
}

/** A read-only view of a persistent map: what snapshots hand out as `tasks` and `chains`. */
export class PersistentMap<K, V> implements ReadonlyMap<K, V> {
  /** @internal */
  constructor(private readonly map: ImmutableMap<K, V> = ImmutableMap()) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  keys(): MapIterator<K> {
    return this.map.keys() as MapIterator<K>;
  }

  values(): MapIterator<V> {
    return this.map.values() as MapIterator<V>;
  }

  entries(): MapIterator<[K, V]> {
    return this.map.entries() as MapIterator<[K, V]>;
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    this.map.forEach((value, key) => {
      callback(value, key, this);
    });
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  /** @internal A new map with `key` set (O(log n); this one is unchanged). */
  with(key: K, value: V): PersistentMap<K, V> {
    return new PersistentMap(this.map.set(key, value));
  }

  /** @internal A new map without `key`. */
  without(key: K): PersistentMap<K, V> {
    return this.map.has(key) ? new PersistentMap(this.map.delete(key)) : this;
  }

  /** @internal A new map with every change applied (`undefined` removes), in one batch. */
  withChanges(changes: ReadonlyMap<K, V | undefined>): PersistentMap<K, V> {
    if (changes.size === 0) return this;
    return new PersistentMap(
      this.map.withMutations((map) => {
        for (const [key, value] of changes) {
          if (value === undefined) map.delete(key);
          else map.set(key, value);
        }
      }),
    );
  }
}

const slotCountKey: Record<SlotState, keyof PoolStatus> = {
  idle: 'idleSlots',
  busy: 'busySlots',
  retiring: 'retiringSlots',
  errored: 'erroredSlots',
  stopped: 'stoppedSlots',
};
const taskCountKey: Record<TaskState, keyof PoolStatus> = {
  pending: 'pendingTasks',
  running: 'runningTasks',
  pending_review: 'pendingReviewTasks',
  completed: 'completedTasks',
  failed: 'failedTasks',
  cancelled: 'cancelledTasks',
};

function bump(status: PoolStatus, key: keyof PoolStatus, by: number): void {
  (status[key] as number) += by;
}

/** The task events one record change stands for. */
export function taskEvents(change: RecordChange<TaskRecord>): PoolEvent[] {
  const { previous, current: task } = change;
  if (!previous) return [{ type: 'task.submitted', task }];
  if (previous.state === task.state) return [];
  switch (task.state) {
    case 'running':
      return [{ type: 'task.started', task, slotId: task.slotId ?? '' }];
    case 'pending_review':
      return [{ type: 'review.requested', task }];
    case 'pending':
      return previous.state === 'pending_review' ? [{ type: 'review.rejected', task }] : [];
    case 'completed':
      return previous.state === 'pending_review'
        ? [{ type: 'review.approved', task }]
        : [{ type: 'task.finished', task }];
    case 'failed':
      return previous.state === 'pending_review'
        ? [
            { type: 'review.rejected', task },
            { type: 'task.finished', task },
          ]
        : [{ type: 'task.finished', task }];
    case 'cancelled':
      return [{ type: 'task.cancelled', task }];
  }
}

/** The chain events one progress change stands for. */
export function chainEvents(change: RecordChange<ChainProgress>): PoolEvent[] {
  const { previous, current: progress } = change;
  const events: PoolEvent[] = [];
  const before = previous?.completedSteps.length ?? 0;
  progress.completedSteps.slice(before).forEach((step, i) => {
    events.push({ type: 'chain.step.finished', chainId: progress.chainId, stepIndex: before + i, step });
  });
  if (progress.currentStep !== undefined && (progress.currentStep !== previous?.currentStep || !previous)) {
    events.push({
      type: 'chain.step.started',
      chainId: progress.chainId,
      stepIndex: progress.currentStep,
      stepName: progress.currentStepName ?? '',
    });
  }
  events.push({ type: 'chain.progress', progress });
  return events;
}

/** The streams of one pool. */
export class PoolObserver {
  private readonly snapshots: BehaviorSubject<PoolSnapshot>;
  private readonly events = new Subject<PoolEvent>();
  private readonly subscriptions: { unsubscribe(): void }[] = [];
  // The pool as it is now; a snapshot is made of these when one is needed.
  private phase: PoolPhase = 'running';
  private slots: Readonly<Record<SlotId, SlotRecord>> = Object.freeze({});
  private tasks = new PersistentMap<TaskId, TaskRecord>();
  private chains = new PersistentMap<TaskId, ChainProgress>();
  /** Task and chain changes not yet in the maps: applied in one batch when a snapshot is made. */
  private readonly taskChanges = new Map<TaskId, TaskRecord | undefined>();
  private readonly chainChanges = new Map<TaskId, ChainProgress | undefined>();
  private readonly slotChanges = new Map<SlotId, SlotRecord | undefined>();
  private budget: PoolSnapshot['budget'] = Object.freeze({ spentMicrodollars: 0, reservedMicrodollars: 0 });
  private readonly status = emptyStatus();
  /** Changes made since the last snapshot. */
  private dirty = false;
  private flushScheduled = false;

  /** The pool as immutable snapshots: the current one on subscribe, then one per burst of changes. */
  readonly snapshot$: Observable<PoolSnapshot>;
  /** Every pool event as it happens. */
  readonly events$: Observable<PoolEvent>;
  /** The pool's status whenever a count, the spend or the phase changes. */
  readonly status$: Observable<PoolStatus>;

  constructor(
    private readonly projection: Projection,
    messages$: Observable<Message>,
    output$: Observable<OutputChunkLike>,
    /** The supervisor's back-pressure state now (unset before the supervisor exists). */
    private readonly concurrency: () => ConcurrencyStatus | undefined = () => undefined,
  ) {
    for (const slot of projection.slots.values()) this.applySlot(slot);
    for (const task of projection.tasks.values()) this.applyTask(task);
    for (const [id, chain] of projection.chains) this.chains = this.chains.with(id, chain);
    if (projection.pool) this.applyPool(projection.pool);
    this.snapshots = new BehaviorSubject(this.build());
    this.dirty = false;
    this.snapshot$ = defer(() => {
      this.flush();
      return this.snapshots;
    }).pipe(observeOn(asapScheduler));
    this.events$ = this.events.pipe(observeOn(asapScheduler));
    this.status$ = this.snapshot$.pipe(
      map((snapshot) => snapshot.status),
      distinctUntilChanged(),
    );
    this.subscriptions.push(
      projection.taskChanged$.subscribe((change) => {
        this.applyTask(change.current, change.previous);
        this.changed();
        if (this.events.observed) for (const event of taskEvents(change)) this.events.next(event);
      }),
      projection.slotChanged$.subscribe((change) => {
        this.applySlot(change.current);
        this.changed();
        if (change.previous?.state !== change.current.state && this.events.observed) {
          this.events.next({ type: 'slot.state', slot: change.current, previous: change.previous?.state });
        }
      }),
      projection.slotRemoved$.subscribe((slot) => {
        const existing = this.slotChanges.get(slot.id) ?? this.slots[slot.id];
        if (existing) {
          bump(this.status, slotCountKey[existing.state], -1);
          this.status.totalSlots -= 1;
          this.slotChanges.set(slot.id, undefined);
          this.changed();
        }
        this.events.next({ type: 'slot.removed', slot });
      }),
      projection.chainChanged$.subscribe((change) => {
        this.chainChanges.set(change.current.chainId, change.current);
        this.changed();
        if (this.events.observed) for (const event of chainEvents(change)) this.events.next(event);
      }),
      projection.evicted$.subscribe((id) => {
        // Counts stay: they cover every task of the session, not only those still in memory.
        // A record no snapshot holds yet just drops its pending change (so nothing grows without snapshots).
        if (this.tasks.has(id)) this.taskChanges.set(id, undefined);
        else this.taskChanges.delete(id);
        if (this.chains.has(id)) this.chainChanges.set(id, undefined);
        else this.chainChanges.delete(id);
        this.changed();
      }),
      projection.poolChanged$.subscribe((change) => this.onPool(change)),
      messages$.subscribe((message) => this.events.next({ type: 'message.sent', message })),
      output$.subscribe((chunk) => {
        if (this.events.observed) this.events.next({ type: 'task.output', ...chunk });
      }),
    );
  }

  /** The current snapshot, synchronously (folds in every change made so far). */
  get current(): PoolSnapshot {
    this.flush();
    return this.snapshots.value;
  }

  /** The current status, synchronously, without building a snapshot. */
  get currentStatus(): PoolStatus {
    return this.dirty ? { ...this.status } : this.snapshots.value.status;
  }

  /** A task's records, from the current one, completing when it reaches a final state. */
  task$(id: TaskId): Observable<TaskRecord> {
    return defer(() => {
      const now = this.projection.tasks.get(id);
      return concat(now ? of(now) : of(), this.projection.taskChangesOf(id));
    }).pipe(
      takeWhile((task) => !FINAL_TASK_STATES.includes(task.state), true),
      observeOn(asapScheduler),
    );
  }

  /** A chain's progress, from the current one, completing when it is no longer running. */
  chain$(id: TaskId): Observable<ChainProgress> {
    return defer(() => {
      const now = this.projection.chains.get(id);
      return concat(now ? of(now) : of(), this.projection.chainChangesOf(id));
    }).pipe(
      takeWhile((progress) => progress.status === 'running', true),
      observeOn(asapScheduler),
    );
  }

  /** Messages sent to a slot, as they are sent. */
  messagesTo$(slotId: SlotId): Observable<Message> {
    return this.events.pipe(
      filter((event): event is Extract<PoolEvent, { type: 'message.sent' }> => event.type === 'message.sent'),
      map((event) => event.message),
      filter((message) => message.to === slotId),
      observeOn(asapScheduler),
    );
  }

  /** Publishes a back-pressure change the supervisor reported (and a snapshot that shows it). */
  notePressure(change: 'throttled' | 'recovered' | 'paused' | 'resumed', concurrency: ConcurrencyStatus): void {
    this.changed();
    this.events.next({ type: `pool.${change}`, concurrency });
  }

  /** Ends every stream. */
  close(): void {
    this.flush();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.snapshots.complete();
    this.events.complete();
  }

  /** Notes a change; a snapshot follows at the end of the burst when someone is subscribed. */
  private changed(): void {
    this.dirty = true;
    if (this.flushScheduled || !this.snapshots.observed) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Publishes one snapshot for every change made since the last. */
  private flush(): void {
    this.flushScheduled = false;
    if (!this.dirty || this.snapshots.closed) return;
    this.dirty = false;
    this.snapshots.next(this.build());
  }

  private build(): PoolSnapshot {
    if (this.slotChanges.size > 0) {
      this.slots = produce(this.slots, (draft) => {
        for (const [id, slot] of this.slotChanges) {
          if (slot === undefined) delete draft[id];
          else draft[id] = slot;
        }
      });
      this.slotChanges.clear();
    }
    this.tasks = this.tasks.withChanges(this.taskChanges);
    this.taskChanges.clear();
    this.chains = this.chains.withChanges(this.chainChanges);
    this.chainChanges.clear();
    return Object.freeze({
      phase: this.phase,
      slots: this.slots,
      tasks: this.tasks,
      chains: this.chains,
      budget: this.budget,
      status: Object.freeze(this.withConcurrency({ ...this.status })),
    });
  }

  /** The status with the supervisor's back-pressure state of now. */
  private withConcurrency(status: PoolStatus): PoolStatus {
    const concurrency = this.concurrency();
    if (concurrency !== undefined) status.concurrency = concurrency;
    return status;
  }

  private applySlot(slot: SlotRecord): void {
    const known = this.slotChanges.get(slot.id) ?? this.slots[slot.id];
    if (known) bump(this.status, slotCountKey[known.state], -1);
    else this.status.totalSlots += 1;
    bump(this.status, slotCountKey[slot.state], 1);
    this.slotChanges.set(slot.id, slot);
  }

  private applyTask(task: TaskRecord, previous?: TaskRecord): void {
    if (previous) bump(this.status, taskCountKey[previous.state], -1);
    bump(this.status, taskCountKey[task.state], 1);
    this.taskChanges.set(task.id, task);
  }

  private applyPool(pool: PoolState): void {
    const phase = (['running', 'draining', 'stopped'].includes(pool.phase) ? pool.phase : 'running') as PoolPhase;
    const reserved = reservedTotal(pool.ledger);
    this.phase = phase;
    this.budget = Object.freeze({
      limitMicrodollars: pool.ledger.limitMicrodollars,
      spentMicrodollars: pool.ledger.spentMicrodollars,
      reservedMicrodollars: reserved,
    });
    this.status.totalSpendMicrodollars = pool.ledger.spentMicrodollars;
    this.status.reservedMicrodollars = reserved;
    this.status.budgetMicrodollars = pool.ledger.limitMicrodollars;
    this.status.shutdown = phase !== 'running';
  }

  private onPool(change: RecordChange<PoolState>): void {
    this.applyPool(change.current);
    this.changed();
    const { previous, current: now } = change;
    if (!previous || previous.ledger !== now.ledger) {
      const spent = now.ledger.spentMicrodollars;
      const reserved = reservedTotal(now.ledger);
      const before = previous ? [previous.ledger.spentMicrodollars, reservedTotal(previous.ledger)] : [];
      if (before[0] !== spent || before[1] !== reserved) {
        this.events.next({
          type: 'budget.changed',
          spentMicrodollars: spent,
          reservedMicrodollars: reserved,
          limitMicrodollars: now.ledger.limitMicrodollars,
        });
      }
    }
    if (previous?.phase !== now.phase) {
      if (now.phase === 'draining') this.events.next({ type: 'pool.draining' });
      if (now.phase === 'stopped') this.events.next({ type: 'pool.stopped' });
    }
  }
}
