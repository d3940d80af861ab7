/**
 * The page's view of a pool, kept from the pool's RxJS streams: `pool.snapshot$` (turned into deltas: only the
 * slots, tasks and chains whose record or actor state changed) and `pool.events$` (the history of each actor
 * and the streamed output of each task). A new page gets {@link UiFeed.full} and then {@link UiFeed.messages$},
 * read in one synchronous step so that nothing falls between them. Nothing is polled.
 */
import { BehaviorSubject, Subject, throttleTime, asyncScheduler, type Observable, type Subscription } from 'rxjs';
import type { StateValue } from 'xstate';
import type { ChainProgress, SlotRecord, TaskRecord } from '../../machines/types.js';
import type { PoolEvent, PoolSnapshot } from '../observe.js';
import type { Pool } from '../pool/index.js';
import type {
  BudgetPoint,
  UiActorDetail,
  UiBudget,
  UiChain,
  UiDelta,
  UiFull,
  UiHistoryEntry,
  UiOutput,
  UiSlot,
  UiTask,
} from './protocol.js';

/** A message for the page: an SSE event name and its data. */
export type UiMessage =
  { event: 'delta'; data: UiDelta } | { event: 'event'; data: UiHistoryEntry } | { event: 'output'; data: UiOutput };

/** Options of {@link UiFeed}. */
export interface UiFeedOptions {
  /** Shortest interval between two deltas (default 20 ms): bursts of changes are merged. */
  minIntervalMs?: number;
  /** History entries kept per actor (default 200). */
  historyPerActor?: number;
  /** Actors whose history and output are kept (default 1000; the oldest are dropped). */
  maxActors?: number;
  /** Characters of output kept per task (default 32 KiB; the oldest are dropped). */
  outputChars?: number;
}

const PROMPT_CHARS = 240;
const RESULT_CHARS = 2000;
const BUDGET_POINTS = 2000;

/** The active state node ids of a state value: `{ busy: 'working' }` → `slot.busy`, `slot.busy.working`. */
export function activeNodes(prefix: string, value: StateValue): string[] {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  const nodes: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    nodes.push(`${prefix}.${key}`);
    if (child !== undefined) nodes.push(...activeNodes(`${prefix}.${key}`, child));
  }
  return nodes;
}

const TASK_NODE: Record<TaskRecord['state'], string> = {
  pending: 'pending',
  running: 'running',
  pending_review: 'pendingReview',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function sameNodes(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((node, index) => node === b[index]);
}

interface Kept<R, U> {
  record: R;
  ui: U;
}

/** Keeps the page's view of one pool; see the module comment. */
export class UiFeed {
  private readonly live = new Subject<UiMessage>();
  private readonly readers = new BehaviorSubject(0);
  private readonly subscriptions: Subscription[] = [];
  private readonly slots = new Map<string, Kept<SlotRecord, UiSlot>>();
  private readonly tasks = new Map<string, Kept<TaskRecord, UiTask>>();
  private readonly chains = new Map<string, Kept<ChainProgress, UiChain>>();
  private readonly histories = new Map<string, UiHistoryEntry[]>();
  private readonly outputs = new Map<string, { text: string; end: number }>();
  private seq = 0;
  private readonly budgetHistory: BudgetPoint[] = [];
  private phase = 'running';
  private poolNodes: string[] = [];
  private budget: UiBudget = { spentMicrodollars: 0, reservedMicrodollars: 0 };
  private readonly historyPerActor: number;
  private readonly maxActors: number;
  private readonly outputChars: number;

  constructor(
    private readonly pool: Pool,
    options: UiFeedOptions = {},
  ) {
    this.historyPerActor = options.historyPerActor ?? 200;
    this.maxActors = options.maxActors ?? 1000;
    this.outputChars = options.outputChars ?? 32 * 1024;
    this.apply(pool.snapshot());
    this.subscriptions.push(
      pool.snapshot$
        .pipe(throttleTime(options.minIntervalMs ?? 20, asyncScheduler, { leading: true, trailing: true }))
        .subscribe((snapshot) => {
          const delta = this.apply(snapshot);
          if (delta) this.live.next({ event: 'delta', data: delta });
        }),
      pool.events$.subscribe((event) => this.onEvent(event)),
    );
  }

  /** How many pages are connected, now and on every change. */
  get readers$(): Observable<number> {
    return this.readers.asObservable();
  }

  /** Counts a connected page until the returned function is called. */
  reader(): () => void {
    this.readers.next(this.readers.value + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.readers.next(this.readers.value - 1);
    };
  }

  /** Live messages from now on. */
  get messages$(): Observable<UiMessage> {
    return this.live.asObservable();
  }

  /** The whole pool as the page shows it, as of the last delta. */
  full(): UiFull {
    return {
      phase: this.phase,
      poolNodes: this.poolNodes,
      slots: [...this.slots.values()].map((kept) => kept.ui),
      tasks: [...this.tasks.values()].map((kept) => kept.ui),
      chains: [...this.chains.values()].map((kept) => kept.ui),
      budget: this.budget,
      budgetHistory: [...this.budgetHistory],
      sentAtMs: Date.now(),
    };
  }

  /** The kept history and output of a task or chain, or `undefined` when it is unknown. */
  detail(id: string): UiActorDetail | undefined {
    const machine = this.chains.has(id) ? 'chain' : this.tasks.has(id) ? 'task' : undefined;
    const history = this.histories.get(id);
    if (machine === undefined && history === undefined) return undefined;
    return {
      id,
      machine: machine ?? (id.startsWith('chain-') ? 'chain' : 'task'),
      history: [...(history ?? [])],
      output: this.outputs.get(id)?.text ?? '',
      outputEnd: this.outputs.get(id)?.end ?? 0,
    };
  }

  /** Stops following the pool and ends every live reader. */
  close(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.live.complete();
    this.readers.complete();
  }

  private nodesOf(machine: string, id: string, fallback: string): string[] {
    const snapshot = this.pool.actor(id)?.getSnapshot() as { status?: string; value?: StateValue } | undefined;
    if (snapshot && snapshot.status === 'active' && snapshot.value !== undefined)
      return activeNodes(machine, snapshot.value);
    return [`${machine}.${fallback}`];
  }

  private slotView(slot: SlotRecord): UiSlot {
    return {
      id: slot.id,
      state: slot.state,
      nodes: this.nodesOf('slot', slot.id, slot.state),
      ...(slot.currentTask ? { currentTask: slot.currentTask } : {}),
      ...(slot.sessionId ? { sessionId: slot.sessionId } : {}),
      costMicrodollars: slot.costMicrodollars,
      restartCount: slot.restartCount,
      tasksCompleted: slot.tasksCompleted,
      ...(slot.lastError ? { lastError: slot.lastError } : {}),
    };
  }

  private taskView(task: TaskRecord): UiTask {
    const machine = task.kind === 'chain' ? 'chain' : 'task';
    const fallback =
      task.kind === 'chain' ? (task.state === 'pending_review' ? 'running' : task.state) : TASK_NODE[task.state];
    return {
      id: task.id,
      kind: task.kind,
      prompt: shorten(task.originalPrompt ?? task.prompt, PROMPT_CHARS),
      state: task.state,
      nodes: this.nodesOf(machine, task.id, fallback),
      ...(task.slotId ? { slotId: task.slotId } : {}),
      tags: task.tags,
      reviewRequired: task.reviewRequired,
      rejectionCount: task.rejectionCount,
      maxRejections: task.maxRejections,
      createdAtMs: task.createdAtMs,
      ...(task.startedAtMs !== undefined ? { startedAtMs: task.startedAtMs } : {}),
      ...(task.completedAtMs !== undefined ? { completedAtMs: task.completedAtMs } : {}),
      ...(task.result
        ? {
            costMicrodollars: task.result.costMicrodollars,
            success: task.result.success,
            output: shorten(task.result.output, RESULT_CHARS),
            ...(task.result.sessionId ? { sessionId: task.result.sessionId } : {}),
          }
        : {}),
    };
  }

  private chainView(chain: ChainProgress): UiChain {
    return {
      id: chain.chainId,
      status: chain.status,
      nodes: this.nodesOf('chain', chain.chainId, chain.status),
      totalSteps: chain.totalSteps,
      ...(chain.currentStep !== undefined ? { currentStep: chain.currentStep } : {}),
      ...(chain.currentStepName !== undefined ? { currentStepName: chain.currentStepName } : {}),
      steps: chain.completedSteps.map((step) => ({
        name: step.name,
        success: step.success,
        costMicrodollars: step.costMicrodollars,
      })),
    };
  }

  /** Brings one kind of record up to date; returns the changed views and the ids that are gone. */
  private sync<R, U extends { id: string; nodes: string[] }>(
    kept: Map<string, Kept<R, U>>,
    current: Iterable<[string, R]>,
    view: (record: R) => U,
    atMs: number,
    tellsHistory: (record: R) => boolean = () => true,
  ): { changed: U[]; removed: string[] } {
    const changed: U[] = [];
    const seen = new Set<string>();
    for (const [id, record] of current) {
      seen.add(id);
      const before = kept.get(id);
      if (before && before.record === record) {
        // The record is the same object; the actor may still have moved between sub-states.
        const ui = view(record);
        if (sameNodes(before.ui.nodes, ui.nodes)) continue;
        if (tellsHistory(record)) this.transition(id, before.ui.nodes, ui.nodes, atMs);
        kept.set(id, { record, ui });
        changed.push(ui);
        continue;
      }
      const ui = view(record);
      if (tellsHistory(record) && !sameNodes(before?.ui.nodes, ui.nodes))
        this.transition(id, before?.ui.nodes ?? [], ui.nodes, atMs);
      kept.set(id, { record, ui });
      changed.push(ui);
    }
    const removed = [...kept.keys()].filter((id) => !seen.has(id));
    for (const id of removed) kept.delete(id);
    return { changed, removed };
  }

  private transition(actorId: string, from: string[], to: string[], atMs: number): void {
    const entry: UiHistoryEntry = { seq: ++this.seq, atMs, actorId, kind: 'transition', from, to };
    this.remember(entry);
    this.live.next({ event: 'event', data: entry });
  }

  /** Adds a history entry. */
  private remember(entry: UiHistoryEntry): void {
    let list = this.histories.get(entry.actorId);
    if (!list) {
      list = [];
      this.histories.set(entry.actorId, list);
      while (this.histories.size > this.maxActors) {
        const oldest = this.histories.keys().next().value as string;
        this.histories.delete(oldest);
        this.outputs.delete(oldest);
      }
    }
    list.push(entry);
    if (list.length > this.historyPerActor) list.splice(0, list.length - this.historyPerActor);
  }

  private apply(snapshot: PoolSnapshot): UiDelta | undefined {
    const atMs = Date.now();
    const delta: UiDelta = { sentAtMs: atMs };
    let any = false;
    if (snapshot.phase !== this.phase) {
      this.phase = snapshot.phase;
      delta.phase = snapshot.phase;
      any = true;
    }
    const supervisor = this.pool.supervisor.getSnapshot() as { value?: StateValue };
    const poolNodes = supervisor.value === undefined ? [] : activeNodes('pool', supervisor.value);
    if (!sameNodes(this.poolNodes, poolNodes)) {
      this.poolNodes = poolNodes;
      delta.poolNodes = poolNodes;
      any = true;
    }
    const slots = this.sync(this.slots, Object.entries(snapshot.slots), (slot) => this.slotView(slot), atMs);
    if (slots.changed.length > 0) delta.slots = slots.changed;
    if (slots.removed.length > 0) delta.removedSlots = slots.removed;
    // A chain is in both maps; its transitions are told once, from its progress.
    const tasks = this.sync(
      this.tasks,
      snapshot.tasks.entries(),
      (task) => this.taskView(task),
      atMs,
      (task) => task.kind === 'task',
    );
    if (tasks.changed.length > 0) delta.tasks = tasks.changed;
    if (tasks.removed.length > 0) delta.removedTasks = tasks.removed;
    const chains = this.sync(this.chains, snapshot.chains.entries(), (chain) => this.chainView(chain), atMs);
    if (chains.changed.length > 0) delta.chains = chains.changed;
    if (chains.removed.length > 0) delta.removedChains = chains.removed;
    any ||= slots.changed.length + slots.removed.length + tasks.changed.length + tasks.removed.length > 0;
    any ||= chains.changed.length + chains.removed.length > 0;
    const budget = snapshot.budget;
    if (
      budget.spentMicrodollars !== this.budget.spentMicrodollars ||
      budget.reservedMicrodollars !== this.budget.reservedMicrodollars ||
      budget.limitMicrodollars !== this.budget.limitMicrodollars
    ) {
      this.budget = {
        spentMicrodollars: budget.spentMicrodollars,
        reservedMicrodollars: budget.reservedMicrodollars,
        ...(budget.limitMicrodollars !== undefined ? { limitMicrodollars: budget.limitMicrodollars } : {}),
      };
      const point = {
        atMs,
        spentMicrodollars: budget.spentMicrodollars,
        reservedMicrodollars: budget.reservedMicrodollars,
      };
      this.budgetHistory.push(point);
      if (this.budgetHistory.length > BUDGET_POINTS)
        this.budgetHistory.splice(0, this.budgetHistory.length - BUDGET_POINTS);
      delta.budget = this.budget;
      delta.budgetPoint = point;
      any = true;
    }
    return any ? delta : undefined;
  }

  private onEvent(event: PoolEvent): void {
    const atMs = Date.now();
    const note = (actorId: string, detail?: string) => {
      const entry: UiHistoryEntry = { seq: ++this.seq, atMs, actorId, kind: event.type, ...(detail ? { detail } : {}) };
      this.remember(entry);
      this.live.next({ event: 'event', data: entry });
    };
    switch (event.type) {
      case 'task.output': {
        const before = this.outputs.get(event.taskId) ?? { text: '', end: 0 };
        const text = before.text + event.text;
        this.outputs.delete(event.taskId); // re-inserted last: the map stays in order of the latest output
        this.outputs.set(event.taskId, {
          text: text.length > this.outputChars ? text.slice(text.length - this.outputChars) : text,
          end: before.end + event.text.length,
        });
        while (this.outputs.size > this.maxActors) this.outputs.delete(this.outputs.keys().next().value as string);
        this.live.next({ event: 'output', data: { taskId: event.taskId, text: event.text, offset: before.end } });
        return;
      }
      case 'task.submitted':
        return note(event.task.id, event.task.kind === 'chain' ? 'chain submitted' : 'submitted');
      case 'task.started':
        return note(event.task.id, `on ${event.slotId}`);
      case 'task.finished':
        return note(
          event.task.id,
          `${event.task.state}${event.task.result ? (event.task.result.success ? ', success' : ', failed run') : ''}`,
        );
      case 'task.cancelled':
        return note(event.task.id);
      case 'review.requested':
      case 'review.approved':
        return note(event.task.id);
      case 'review.rejected':
        return note(event.task.id, `rejection ${event.task.rejectionCount}`);
      case 'chain.step.started':
        return note(event.chainId, `step ${event.stepIndex + 1}: ${event.stepName}`);
      case 'chain.step.finished':
        return note(
          event.chainId,
          `step ${event.stepIndex + 1}: ${event.step.name} ${event.step.success ? 'succeeded' : 'failed'}`,
        );
      default:
        return;
    }
  }
}
