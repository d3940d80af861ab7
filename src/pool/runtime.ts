/**
 * What one pool holds at run time: the supervisor actor, the projection of its actors into records, the
 * streams, the store and the adapters' state. The domain modules beside this file (tasks, chains, slots, inbox,
 * drain) are functions over it; `Pool` is a thin class that delegates to them.
 *
 * The runtime makes no decisions: it turns calls into supervisor events and waits for the answers the actors
 * give (emitted `decision` events, record changes), never on timers.
 */
import { concat, defer, filter, firstValueFrom, from, of, Subject, type Observable } from 'rxjs';
import { createActor, type Actor, type AnyActorRef, type InspectionEvent } from 'xstate';
import type { AdmissionRefusal } from '../../machines/admission.js';
import { concurrencyStatus, type ConcurrencyStatus } from '../../machines/backpressure.js';
import {
  activeSlotIds,
  poolMachine,
  type PoolContext,
  type SupervisorEmitted,
  type SupervisorEvent,
} from '../../machines/pool.js';
import { slotMachine } from '../../machines/slot.js';
import { chainMachine } from '../../machines/chain.js';
import type { Message, PoolConfig, SlotId, SlotRecord, TaskId, TaskRecord } from '../../machines/types.js';
import { createAgentActor } from '../agent/actor.js';
import { SessionRunner } from '../agent/session-runner.js';
import type { AgentRunner, ClaudeOptions } from '../agent/types.js';
import { createChainActors } from '../chain-actors.js';
import { SlotNotFound, TaskNotFound } from '../errors.js';
import { KeyedListeners } from '../keyed-listeners.js';
import { MessageBus } from '../messaging.js';
import { PoolObserver } from '../observe.js';
import { Projection } from '../projection.js';
import type { PoolStore } from '../store/types.js';
import type { SkillRegistry } from '../skills/registry.js';
import type { WorkflowRegistry } from '../workflows/registry.js';
import type { WorktreeManager } from '../worktree.js';
import type { BuildResources, BuildSettings } from './build-types.js';
import type { OutputChunk } from './options.js';
import { ActorFeed } from './actor-feed.js';
import { PermissionBroker } from './permissions.js';
import { createRunHooks } from './runs.js';
import { submitStep } from './tasks.js';

/** The supervisor actor's type. */
export type SupervisorActor = Actor<typeof poolMachine>;

/** The state of one pool. */
export class PoolRuntime {
  readonly actor: SupervisorActor;
  readonly projection: Projection;
  readonly observer: PoolObserver;
  readonly store: PoolStore;
  readonly config: PoolConfig;
  readonly claude: ClaudeOptions;
  readonly skills: SkillRegistry;
  readonly workflows: WorkflowRegistry;
  readonly worktrees?: WorktreeManager;
  /** Why there is no worktree manager (not a git repository, …). */
  readonly worktreesUnavailable?: string;
  readonly contextEntries = new Map<string, string>();
  readonly messages = new MessageBus();
  readonly output = new Subject<OutputChunk>();
  /** Runs whose process has not ended yet, by task. */
  readonly liveRuns = new Map<TaskId, Promise<void>>();
  readonly liveRunEnds = new Map<TaskId, () => void>();
  /** Messages given to runs still in progress (returned to the inbox if the run never starts). */
  readonly deliveredMessages = new Map<TaskId, Message[]>();
  readonly outputListeners = new KeyedListeners<TaskId, string>();
  readonly storeErrors: unknown[] = [];
  /** What slots removed by scale-down had done (the drain summary still counts it). */
  readonly retiredTotals = { costMicrodollars: 0, tasksCompleted: 0 };
  /** When the pool was built: the start of the session `sessionMetrics` reports on. */
  readonly createdAtMs = Date.now();
  /** Scale calls run one at a time, in call order. */
  scaling: Promise<unknown> = Promise.resolve();
  /** Runs prompts (the claude CLI's, or the builder's). */
  readonly runner: AgentRunner;
  /** The agents' tool-permission questions. */
  readonly permissions: PermissionBroker;
  private readonly decisions = new Map<string, (refusal: AdmissionRefusal | undefined) => void>();
  private readonly batchDecisions = new Map<string, (refusals: Map<TaskId, AdmissionRefusal>) => void>();
  private readonly claims = new KeyedListeners<SlotId, TaskId | undefined>();

  constructor(settings: BuildSettings, resources: BuildResources) {
    this.config = resources.config;
    this.claude = settings.claude;
    this.skills = resources.skills;
    this.workflows = resources.workflows;
    this.worktrees = resources.worktrees;
    this.worktreesUnavailable = resources.worktreesUnavailable;
    this.store = resources.store;
    this.projection = new Projection(this.store, (error) => this.storeErrors.push(error), settings.recentWindow);
    this.observer = new PoolObserver(this.projection, this.messages.sent$, this.output, () => this.concurrency());
    // Agent processes are recorded in the store while they run (a later owner ends what a dead one left).
    const runner =
      settings.runner ?? new SessionRunner(settings.claude, { processes: this.store.processes }, settings.warmSlots);
    this.runner = runner;
    this.permissions = new PermissionBroker(
      { sendToTask: (taskId, event) => this.actorOf(taskId)?.send(event), now: Date.now },
      settings.permissions,
      settings.slotPermissions,
    );
    const agent = createAgentActor({
      runner,
      detectPermissionPrompts: this.config.detectPermissionPrompts,
      ...createRunHooks(this),
    });
    const chainActors = createChainActors(
      {
        skills: this.skills,
        submitStep: (chainId, prompt, config, workingDir) => submitStep(this, chainId, prompt, config, workingDir),
        waitForFinal: (taskId) => this.waitForFinal(taskId),
        cancelTask: (taskId) => this.cancelAndWait(taskId),
        subscribeOutput: (taskId, onChunk) => this.outputListeners.add(taskId, onChunk),
        worktrees: async () => ({ manager: this.worktrees, reason: this.worktreesUnavailable }),
      },
      (chainId, chunk) => this.actor.system.get(chainId)?.send({ type: 'STEP.OUTPUT', chunk }),
    );
    const userInspect = settings.inspect;
    // XState makes inspection events only when someone inspects; the projection subscribes to the actors instead.
    const inspect = userInspect
      ? (event: InspectionEvent) => {
          try {
            userInspect(event);
          } catch {
            // An inspector's failure must not break the pool.
          }
        }
      : undefined;
    const feed = new ActorFeed(this.projection, (record) => this.isRemovedSlot(record));
    const logic = poolMachine.provide({
      actions: { startTask: feed.startTask },
      actors: {
        slot: slotMachine.provide({ actors: { agent } }),
        chain: chainMachine.provide({ actors: chainActors }),
      },
    });
    this.actor = createActor(logic, {
      input: {
        config: this.config,
        slots: resources.slots,
        clock: Date.now,
        cancelGraceMs: settings.cancelGraceMs,
        restartDelayMs: settings.restartDelayMs,
        random: settings.random,
        autoDispatch: settings.autoDispatch,
        spentMicrodollars: resources.restore.spentMicrodollars,
      },
      ...(inspect && { inspect }),
    });
    feed.watchSupervisor(this.actor);
    this.actor.on('decision', (event: Extract<SupervisorEmitted, { type: 'decision' }>) => {
      const resolve = this.decisions.get(event.requestId);
      this.decisions.delete(event.requestId);
      resolve?.(event.refusal);
    });
    this.actor.on('decisions', (event: Extract<SupervisorEmitted, { type: 'decisions' }>) => {
      const resolve = this.batchDecisions.get(event.requestId);
      this.batchDecisions.delete(event.requestId);
      resolve?.(new Map(event.refusals.map((entry) => [entry.taskId, entry.refusal])));
    });
    this.actor.on('claimed', (event: Extract<SupervisorEmitted, { type: 'claimed' }>) =>
      this.claims.emit(event.slotId, event.taskId),
    );
    this.actor.on('pressure', (event: Extract<SupervisorEmitted, { type: 'pressure' }>) =>
      this.observer.notePressure(event.change, event.concurrency),
    );
    // A removed slot's unread messages and worktree go with it (a later slot may get the same id).
    this.projection.slotRemoved$.subscribe((slot) => {
      this.retiredTotals.costMicrodollars += slot.costMicrodollars;
      this.retiredTotals.tasksCompleted += slot.tasksCompleted;
      this.messages.forget(slot.id);
      if (slot.worktreePath) this.removeSlotWorktree(slot.id);
      // A warm process the slot kept goes with it.
      void (this.runner as { closeSlot?: (slotId: SlotId) => Promise<void> }).closeSlot?.(slot.id);
    });
  }

  /** The back-pressure state now: the concurrency limit, why, any pause (unset before the supervisor exists). */
  concurrency(): ConcurrencyStatus | undefined {
    if (this.actor === undefined) return undefined;
    const context = this.context();
    return concurrencyStatus(context.backpressure, activeSlotIds(context).length);
  }

  /** The supervisor's context now. */
  context(): PoolContext {
    return this.actor.getSnapshot().context;
  }

  /** Sends a request the supervisor answers with a `decision`; resolves with its refusal, if any. */
  request(event: SupervisorEvent, requestId: string): Promise<AdmissionRefusal | undefined> {
    return new Promise((resolve) => {
      this.decisions.set(requestId, resolve);
      this.actor.send(event);
    });
  }

  /** Submits many tasks in one supervisor step; resolves with the refused ones (every other one was accepted). */
  requestMany(records: TaskRecord[], requestId: string, internal = false): Promise<Map<TaskId, AdmissionRefusal>> {
    return new Promise((resolve) => {
      this.batchDecisions.set(requestId, resolve);
      this.actor.send({ type: 'SUBMIT_MANY', requestId, records, internal });
    });
  }

  /** Sends a claim for a slot; resolves with the task the slot was given, if any. */
  claim(slotId: SlotId): Promise<TaskId | undefined> {
    return new Promise((resolve) => {
      const remove = this.claims.add(slotId, (taskId) => {
        remove();
        resolve(taskId);
      });
      this.actor.send({ type: 'CLAIM', slotId });
    });
  }

  /** Any live actor of the pool (a slot, task or chain) by its id. */
  actorOf(id: string): AnyActorRef | undefined {
    return this.actor.system.get(id) as AnyActorRef | undefined;
  }

  /** A task's record: live from the projection, else from the store. */
  async task(id: TaskId): Promise<TaskRecord> {
    const live = this.projection.tasks.get(id);
    if (live) return live;
    const stored = await this.store.getTask(id);
    if (!stored) throw new TaskNotFound(id);
    return stored;
  }

  /** A live slot's record (`SlotNotFound` for an unknown or removed slot). */
  slotRecord(slotId: SlotId): SlotRecord {
    const record = this.projection.slots.get(slotId);
    if (!record || !(slotId in this.context().slots)) throw new SlotNotFound(slotId);
    return record;
  }

  /** Every slot record, in slot order. */
  slots(): SlotRecord[] {
    return this.context()
      .slotOrder.map((id) => this.projection.slots.get(id))
      .filter((slot): slot is SlotRecord => slot !== undefined);
  }

  /** Resolves with the task's record once `predicate` holds for it. */
  waitForTask(id: TaskId, predicate: (record: TaskRecord) => boolean): Promise<TaskRecord> {
    const current = this.projection.tasks.get(id);
    if (current && predicate(current)) return Promise.resolve(current);
    return new Promise((resolve) => {
      const remove = this.projection.watchTask(id, (record) => {
        if (!predicate(record)) return;
        remove();
        resolve(record);
      });
    });
  }

  /** Resolves with the task's final record, once its process is gone and its record is stored. */
  async waitForFinal(id: TaskId): Promise<TaskRecord> {
    const record = await this.waitForTask(id, isFinal);
    await this.liveRuns.get(id);
    await this.projection.flushTask(id);
    return record;
  }

  /** Cancels a task and resolves once it has ended and its process is gone. */
  async cancelAndWait(id: TaskId): Promise<void> {
    const record = this.projection.tasks.get(id);
    if (!record || isFinal(record)) return;
    this.actor.send({ type: 'CANCEL', taskId: id });
    await this.waitForFinal(id);
  }

  /** Resolves once `predicate` holds for the slot records. */
  waitForSlots(predicate: (slots: SlotRecord[]) => boolean): Promise<void> {
    if (predicate(this.slots())) return Promise.resolve();
    return firstValueFrom(this.projection.slotChanged$.pipe(filter(() => predicate(this.slots())))).then(() => {});
  }

  /** The supervisor's snapshots, from the current one. */
  supervisorStates(): Observable<ReturnType<SupervisorActor['getSnapshot']>> {
    return defer(() => concat(of(this.actor.getSnapshot()), from(this.actor)));
  }

  /** Removes a slot's worktree (after scale-down), warning instead of failing. */
  removeSlotWorktree(slotId: SlotId): void {
    this.worktrees?.removeSlot(slotId).catch((error: unknown) => {
      process.emitWarning(`could not remove the worktree of ${slotId}: ${String(error)}`, 'ClaudePoolWarning');
    });
  }

  /**
   * A slot the pool removed (scale-down) may publish its final snapshot after the pool's own snapshot has
   * already dropped it; that late snapshot must not bring the record back into the projection and the store.
   */
  private isRemovedSlot(record: SlotRecord): boolean {
    if (this.actor === undefined) return false;
    return record.state === 'stopped' && !(record.id in this.context().slots);
  }
}

/** True when the task has ended (Completed, Failed or Cancelled). */
export function isFinal(record: TaskRecord): boolean {
  return record.state === 'completed' || record.state === 'failed' || record.state === 'cancelled';
}
