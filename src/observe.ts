/**
 * RxJS streams over the actor system: the whole pool as immutable snapshots, a typed event stream, and
 * per-entity streams. Everything is fed by the projection (which sees every actor transition).
 *
 * Delivery to consumers is asynchronous (RxJS `asapScheduler`): a transition never waits for a subscriber,
 * so a slow subscriber cannot stall the pool, and an error thrown by one subscriber is reported through
 * RxJS's `config.onUnhandledError` without reaching the pool or the other subscribers.
 */
import { type Draft, produce } from 'immer';
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


/** The pool's phase: taking work, draining, or stopped. */
export type PoolPhase = 'running' | 'draining' | 'stopped';

/** The whole pool at one moment. Immutable; an unchanged slot, task or chain keeps its object identity. */
export interface PoolSnapshot {
  phase: PoolPhase;
  slots: Readonly<Record<SlotId, SlotRecord>>;
  tasks: Readonly<Record<TaskId, TaskRecord>>;
  chains: Readonly<Record<TaskId, ChainProgress>>;
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
  | { type: 'pool.stopped' };

/** The `type`s of `PoolEvent`. */
export type PoolEventType = PoolEvent['type'];

/** A chunk of text an agent streamed while running a task. */
export interface OutputChunkLike {
  taskId: TaskId;
  slotId: SlotId;
  text: string;
}

function emptySnapshot(): PoolSnapshot {
  return {
    phase: 'running',
    slots: {},
    tasks: {},
    chains: {},
    budget: { spentMicrodollars: 0, reservedMicrodollars: 0 },
    status: {
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
    },
  };
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

function bump(status: Draft<PoolStatus>, key: keyof PoolStatus, by: number): void {
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
        ? [{ type: 'review.rejected', task }, { type: 'task.finished', task }]
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
  /** Changes not yet folded into a snapshot: a burst of changes makes one snapshot. */
  private pending: ((draft: Draft<PoolSnapshot>) => void)[] = [];
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
  ) {
    let initial = emptySnapshot();
    initial = produce(initial, (draft) => {
      for (const [id, slot] of projection.slots) this.applySlot(draft, slot, id);
      for (const [id, task] of projection.tasks) this.applyTask(draft, task, id);
      for (const [id, chain] of projection.chains) draft.chains[id] = chain;
      if (projection.pool) this.applyPool(draft, projection.pool);
    });
    this.snapshots = new BehaviorSubject(initial);
    this.snapshot$ = this.snapshots.pipe(observeOn(asapScheduler));
    this.events$ = this.events.pipe(observeOn(asapScheduler));
    this.status$ = this.snapshots.pipe(
      map((snapshot) => snapshot.status),
      distinctUntilChanged(),
      observeOn(asapScheduler),
    );
    this.subscriptions.push(
      projection.taskChanged$.subscribe((change) => {
        this.update((draft) => this.applyTask(draft, change.current, change.current.id));
        for (const event of taskEvents(change)) this.events.next(event);
      }),
      projection.slotChanged$.subscribe((change) => {
        this.update((draft) => this.applySlot(draft, change.current, change.current.id));
        if (change.previous?.state !== change.current.state) {
          this.events.next({ type: 'slot.state', slot: change.current, previous: change.previous?.state });
        }
      }),
      projection.slotRemoved$.subscribe((slot) => {
        this.update((draft) => {
          const existing = draft.slots[slot.id];
          if (!existing) return;
          bump(draft.status, slotCountKey[existing.state], -1);
          draft.status.totalSlots -= 1;
          delete draft.slots[slot.id];
        });
        this.events.next({ type: 'slot.removed', slot });
      }),
      projection.chainChanged$.subscribe((change) => {
        this.update((draft) => {
          draft.chains[change.current.chainId] = change.current;
        });
        for (const event of chainEvents(change)) this.events.next(event);
      }),
      projection.poolChanged$.subscribe((change) => this.onPool(change)),
      messages$.subscribe((message) => this.events.next({ type: 'message.sent', message })),
      output$.subscribe((chunk) => this.events.next({ type: 'task.output', ...chunk })),
    );
  }

  /** The current snapshot, synchronously (folds in every change made so far). */
  get current(): PoolSnapshot {
    this.flush();
    return this.snapshots.value;
  }

  /** A task's records, from the current one, completing when it reaches a final state. */
  task$(id: TaskId): Observable<TaskRecord> {
    return defer(() => {
      const now = this.projection.tasks.get(id);
      const changes = this.projection.taskChanged$.pipe(
        map((change) => change.current),
        filter((task) => task.id === id),
      );
      return concat(now ? of(now) : of(), changes);
    }).pipe(
      takeWhile((task) => !FINAL_TASK_STATES.includes(task.state), true),
      observeOn(asapScheduler),
    );
  }

  /** A chain's progress, from the current one, completing when it is no longer running. */
  chain$(id: TaskId): Observable<ChainProgress> {
    return defer(() => {
      const now = this.projection.chains.get(id);
      const changes = this.projection.chainChanged$.pipe(
        map((change) => change.current),
        filter((progress) => progress.chainId === id),
      );
      return concat(now ? of(now) : of(), changes);
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

  /** Ends every stream. */
  close(): void {
    this.flush();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.snapshots.complete();
    this.events.complete();
  }

  private update(recipe: (draft: Draft<PoolSnapshot>) => void): void {
    this.pending.push(recipe);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Folds the pending changes into one new snapshot (copying the record maps once, not once per change). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.snapshots.closed) return;
    const recipes = this.pending;
    this.pending = [];
    this.snapshots.next(
      produce(this.snapshots.value, (draft) => {
        for (const recipe of recipes) recipe(draft);
      }),
    );
  }

  private applySlot(draft: Draft<PoolSnapshot>, slot: SlotRecord, id: SlotId): void {
    const known = draft.slots[id];
    if (known) bump(draft.status, slotCountKey[known.state], -1);
    else draft.status.totalSlots += 1;
    bump(draft.status, slotCountKey[slot.state], 1);
    draft.slots[id] = slot;
  }

  private applyTask(draft: Draft<PoolSnapshot>, task: TaskRecord, id: TaskId): void {
    const known = draft.tasks[id];
    if (known) bump(draft.status, taskCountKey[known.state], -1);
    bump(draft.status, taskCountKey[task.state], 1);
    draft.tasks[id] = task;
  }

  private applyPool(draft: Draft<PoolSnapshot>, pool: PoolState): void {
    const phase = (['running', 'draining', 'stopped'].includes(pool.phase) ? pool.phase : 'running') as PoolPhase;
    const reserved = reservedTotal(pool.ledger);
    draft.phase = phase;
    draft.budget = {
      limitMicrodollars: pool.ledger.limitMicrodollars,
      spentMicrodollars: pool.ledger.spentMicrodollars,
      reservedMicrodollars: reserved,
    };
    draft.status.totalSpendMicrodollars = pool.ledger.spentMicrodollars;
    draft.status.reservedMicrodollars = reserved;
    draft.status.budgetMicrodollars = pool.ledger.limitMicrodollars;
    draft.status.shutdown = phase !== 'running';
  }

  private onPool(change: RecordChange<PoolState>): void {
    this.update((draft) => this.applyPool(draft, change.current));
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
