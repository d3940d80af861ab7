/**
 * The read side of the Pool: records, progress, status, snapshots, streams and actor refs. Nothing here changes
 * the pool; `Pool` (in `pool.ts`) adds the commands.
 */
import { asapScheduler, filter, map, merge, observeOn, type Observable } from 'rxjs';
import type { AnyActorRef } from 'xstate';
import type {
  ChainProgress,
  Message,
  PoolConfig,
  PoolStatus,
  SlotId,
  SlotRecord,
  TaskFilter,
  TaskId,
  TaskRecord,
  TaskResult,
} from '../../machines/types.js';
import { TaskNotFound } from '../errors.js';
import { describeActors, type ActorDescription } from '../inspect/describe.js';
import { computeSessionMetrics, type MetricsFilter, type SessionMetrics } from '../metrics.js';
import type { PoolEvent, PoolSnapshot } from '../observe.js';
import type { Projection } from '../projection.js';
import type { SkillRegistry } from '../skills/registry.js';
import type { PoolStore } from '../store/types.js';
import type { WorkflowRegistry } from '../workflows/registry.js';
import * as chains from './chains.js';
import * as inbox from './inbox.js';
import type { OutputChunk, SlotQuery } from './options.js';
import type { PermissionRequest } from './permissions.js';
import type { PoolRuntime, SupervisorActor } from './runtime.js';
import * as slots from './slots.js';
import * as tasks from './tasks.js';

/** What a pool shows: every query and stream of `Pool`. */
export abstract class PoolView {
  /** @internal */
  private allEvents?: Observable<PoolEvent>;

  protected constructor(protected readonly rt: PoolRuntime) {}

  /** The task's result: set in Completed, Failed and PendingReview; `undefined` while pending or running. */
  result(id: TaskId): Promise<TaskResult | undefined> {
    return tasks.result(this.rt, id);
  }

  /** The task's record. */
  task(id: TaskId): Promise<TaskRecord> {
    return this.rt.task(id);
  }

  /** Lists task records (oldest first). */
  listTasks(filterBy?: TaskFilter): Promise<TaskRecord[]> {
    return tasks.listTasks(this.rt, filterBy);
  }

  /** A chain's live progress (a finished chain's while it is among the recent ones). */
  chainProgress(id: TaskId): ChainProgress {
    return chains.chainProgress(this.rt, id);
  }

  /** The progress of every chain in memory: running ones and the recently finished. */
  listChainProgress(): ChainProgress[] {
    return [...this.rt.projection.chains.values()];
  }

  /** Warnings a live chain collected (isolation fallback, output variables not found, cleanup failures). */
  chainWarnings(id: TaskId): string[] {
    return chains.chainWarnings(this.rt, id);
  }

  /** The skills chains and `runSkill` use. */
  get skills(): SkillRegistry {
    return this.rt.skills;
  }

  /** The workflows `runWorkflow` uses. */
  get workflows(): WorkflowRegistry {
    return this.rt.workflows;
  }

  /** Slot and task counts, spend, shutdown flag, and the back-pressure state (concurrency limit, why, pause). */
  status(): PoolStatus {
    const concurrency = this.rt.concurrency();
    return concurrency ? { ...this.rt.observer.currentStatus, concurrency } : this.rt.observer.currentStatus;
  }

  /** The pool's store. */
  store(): PoolStore {
    return this.rt.store;
  }

  /** The pool's config. */
  config(): PoolConfig {
    return this.rt.config;
  }

  /** Resolves once the store holds every change made so far. */
  flush(): Promise<void> {
    return this.rt.projection.flush();
  }

  /** Errors the store raised while writing records through (the pool keeps running). */
  storeWriteErrors(): readonly unknown[] {
    return this.rt.storeErrors;
  }

  /** Counts, spend and timing of the tasks in memory (those matching `filter`); see `computeSessionMetrics`. */
  sessionMetrics(filterBy?: MetricsFilter): SessionMetrics {
    return computeSessionMetrics([...this.rt.projection.tasks.values()], filterBy, this.rt.createdAtMs, Date.now());
  }

  /** A shared-context entry. */
  getContext(key: string): string | undefined {
    return this.rt.contextEntries.get(key);
  }

  /** Every shared-context entry, in insertion order. */
  listContext(): [string, string][] {
    return [...this.rt.contextEntries.entries()];
  }

  /** Every slot record, in slot order. */
  slots(): SlotRecord[] {
    return this.rt.slots();
  }

  /** Slots matching every given field. */
  findSlots(query: SlotQuery = {}): SlotRecord[] {
    return slots.findSlots(this.rt, query);
  }

  /** A slot's messages, left in place. */
  peekMessages(slotId: SlotId): Message[] {
    return inbox.peekMessages(this.rt, slotId);
  }

  /** How many messages wait for a slot. */
  messageCount(slotId: SlotId): number {
    return inbox.messageCount(this.rt, slotId);
  }

  /** Messages sent to a slot as they are sent (every message when no slot is given). */
  messages$(slotId?: SlotId): Observable<Message> {
    if (slotId === undefined) {
      return this.rt.observer.events$.pipe(
        filter((event): event is Extract<PoolEvent, { type: 'message.sent' }> => event.type === 'message.sent'),
        map((event) => event.message),
      );
    }
    this.rt.slotRecord(slotId);
    return this.rt.observer.messagesTo$(slotId);
  }

  /** Every text chunk agents stream, tagged with task and slot (delivered synchronously, in order). */
  get output$(): Observable<OutputChunk> {
    return this.rt.output.asObservable();
  }

  /** The whole pool as immutable snapshots: the current one on subscribe, then one per burst of changes. */
  get snapshot$(): Observable<PoolSnapshot> {
    return this.rt.observer.snapshot$;
  }

  /** The pool as it is now (the latest snapshot), synchronously. */
  snapshot(): PoolSnapshot {
    return this.rt.observer.current;
  }

  /** Every pool event: tasks, reviews, chain steps, slots, messages, budget, permissions, draining. */
  get events$(): Observable<PoolEvent> {
    this.allEvents ??= merge(this.rt.observer.events$, this.rt.permissions.events$.pipe(observeOn(asapScheduler)));
    return this.allEvents;
  }

  /** The tool-permission questions agents are waiting on now, oldest first. */
  pendingPermissions(): PermissionRequest[] {
    return this.rt.permissions.pending();
  }

  /** The pool's status whenever a count, the spend or the phase changes. */
  get status$(): Observable<PoolStatus> {
    return this.rt.observer.status$;
  }

  /** A task's records from now on, completing when it reaches a final state (PendingReview is not final). */
  task$(id: TaskId): Observable<TaskRecord> {
    if (!this.rt.projection.tasks.has(id)) throw new TaskNotFound(id);
    return this.rt.observer.task$(id);
  }

  /**
   * The text a task's agent streams from now on, chunk by chunk, in order with the pool's other events (so
   * after the record change that made it `running`).
   */
  taskOutput$(id: TaskId): Observable<string> {
    return this.rt.observer.events$.pipe(
      filter(
        (event): event is Extract<PoolEvent, { type: 'task.output' }> =>
          event.type === 'task.output' && event.taskId === id,
      ),
      map((event) => event.text),
    );
  }

  /** A chain's progress from now on, completing when it has ended. */
  chain$(id: TaskId): Observable<ChainProgress> {
    if (!this.rt.projection.chains.has(id)) throw new TaskNotFound(id);
    return this.rt.observer.chain$(id);
  }

  /**
   * The current state value of every actor: the supervisor with its slots, chains and live tasks (with their
   * own children). For a live view (e.g. printed by the CLI while work runs).
   */
  describe(): ActorDescription[] {
    return [describeActors(this.rt.actor)];
  }

  /**
   * The live XState actor of a slot, task or chain, by id (`slot-0`, `task-…`, `chain-…`): subscribe to its
   * snapshots, or read its state. `undefined` once the actor has ended (a finished task or chain).
   */
  actor(id: string): AnyActorRef | undefined {
    return this.rt.actorOf(id);
  }

  /** The supervisor actor (for inspection and advanced use). */
  get supervisor(): SupervisorActor {
    return this.rt.actor;
  }

  /** @internal The projection of actor state into records. */
  get records(): Projection {
    return this.rt.projection;
  }
}
