/**
 * The Pool facade and its builder: turns calls into events for the supervisor actor and awaits the answers
 * the actors give. Every decision about which slot runs what is made by the pool statechart.
 */
import { concat, defer, filter, firstValueFrom, from, map, of, Subject, type Observable } from 'rxjs';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { admissionRefusal, reservedTotal, usdToMicrodollars } from '../machines/budget.js';
import {
  activeSlotIds,
  nextSlotIds,
  poolMachine,
  type DrainQueuedPolicy,
  type PoolContext,
  type SlotSpec,
} from '../machines/pool.js';
import { slotMachine, type AgentActorInput } from '../machines/slot.js';
import {
  FINAL_TASK_STATES,
  type DrainSummary,
  type Message,
  type PoolConfig,
  type PoolStatus,
  type SlotConfig,
  type SlotId,
  type SlotRecord,
  type SlotState,
  type TaskFilter,
  type TaskId,
  type TaskOverrides,
  type TaskRecord,
  type TaskResult,
  type TaskState,
} from '../machines/types.js';
import { createAgentActor } from './agent/actor.js';
import { ClaudeCliRunner } from './agent/claude-cli.js';
import { buildAppendSystemPrompt } from './agent/system-prompt.js';
import type { AgentEvent, AgentRunner, AgentRunRequest, ClaudeOptions } from './agent/types.js';
import {
  completePoolConfig,
  resolveConfig,
  validateOverrides,
  validatePrompt,
  validateSlotConfig,
  type PoolConfigInput,
} from './config.js';
import {
  BudgetExhausted,
  InvalidInput,
  InvalidTaskState,
  NoSlotAvailable,
  PoolError,
  PoolShutdown,
  ScaleLimitExceeded,
  SlotNotFound,
  TaskBudgetExceedsRemaining,
  TaskCancelled,
  TaskNotFound,
} from './errors.js';
import { newId } from './ids.js';
import { MessageBus } from './messaging.js';
import { Projection } from './projection.js';
import { MemoryStore } from './store/memory.js';
import type { PoolStore } from './store/types.js';

/** A chunk of text an agent streamed while running a task. */
export interface OutputChunk {
  taskId: TaskId;
  slotId: SlotId;
  text: string;
}

/** Options of `run`. */
export interface RunOptions {
  config?: TaskOverrides;
  /** Run in this directory instead of the slot's. */
  workingDir?: string;
  /** Receives every text chunk as the agent streams it. */
  onOutput?: (chunk: string) => void;
  tags?: string[];
}

/** Options of `submitWithConfig` and friends. */
export interface SubmitOptions {
  config?: TaskOverrides;
  tags?: string[];
  workingDir?: string;
}

/** Options of `drain`. */
export interface DrainOptions {
  /** `cancel` (default): queued tasks are cancelled. `finish`: they still run before the pool stops. */
  queued?: DrainQueuedPolicy;
  /** After this long, running tasks are cancelled (their processes killed). Default: wait for them. */
  timeoutMs?: number;
}

/** Filter of `findSlots`; omitted fields match everything. */
export interface SlotQuery {
  name?: string;
  role?: string;
  state?: SlotState;
}

/** The handle `startSupervisor` returns. */
export interface SupervisorHandle {
  stop(): void;
}

/** Settings of the builder that are not part of `PoolConfig`. */
interface BuildSettings {
  claude: ClaudeOptions;
  slotCount: number;
  config: PoolConfigInput;
  slotConfigs: SlotConfig[];
  store?: PoolStore;
  runner?: AgentRunner;
  inspect?: (event: InspectionEvent) => void;
  autoDispatch: boolean;
  cancelGraceMs: number;
  restartDelayMs: number;
}

/** Builds a pool: `Pool.builder(claude).slots(n).config(…).slotConfig(…).store(…).build()`. */
export class PoolBuilder {
  private readonly settings: BuildSettings;

  constructor(claude: ClaudeOptions = {}) {
    this.settings = {
      claude,
      slotCount: 1,
      config: {},
      slotConfigs: [],
      autoDispatch: true,
      cancelGraceMs: 3000,
      restartDelayMs: 100,
    };
  }

  /** How many slots to start with (default 1). */
  slots(count: number): this {
    if (!Number.isInteger(count) || count < 0) throw new InvalidInput(`slot count must be an integer >= 0, got ${count}`);
    this.settings.slotCount = count;
    return this;
  }

  /** The pool config (missing fields take the defaults). */
  config(config: PoolConfigInput): this {
    this.settings.config = config;
    return this;
  }

  /** A slot's config: the first call configures slot-0, the second slot-1, and so on. */
  slotConfig(config: SlotConfig): this {
    validateSlotConfig(config);
    this.settings.slotConfigs.push(config);
    return this;
  }

  /** Where records are kept (default: in memory). */
  store(store: PoolStore): this {
    this.settings.store = store;
    return this;
  }

  /** Runs prompts with this runner instead of the claude CLI. */
  runner(runner: AgentRunner): this {
    this.settings.runner = runner;
    return this;
  }

  /** Receives XState inspection events of every actor (works with `@statelyai/inspect` inspectors). */
  inspect(observer: (event: InspectionEvent) => void): this {
    this.settings.inspect = observer;
    return this;
  }

  /** When false, queued tasks wait until a slot claims them (`claim`). Default true. */
  autoDispatch(enabled: boolean): this {
    this.settings.autoDispatch = enabled;
    return this;
  }

  /** How long a cancelled run may take to exit on its own before it is killed (default 3000 ms). */
  cancelGraceMs(ms: number): this {
    this.settings.cancelGraceMs = ms;
    return this;
  }

  /** Delay before the supervisor restarts an errored slot (default 100 ms). */
  restartDelayMs(ms: number): this {
    this.settings.restartDelayMs = ms;
    return this;
  }

  /** Builds and starts the pool. */
  async build(): Promise<Pool> {
    const config = completePoolConfig(this.settings.config);
    if (this.settings.slotCount > config.scaling.maxSlots) {
      throw new InvalidInput(`${this.settings.slotCount} slots exceeds max_slots (${config.scaling.maxSlots})`);
    }
    return new Pool(this.settings, config);
  }
}

const POOL_ERROR_CODES = new Set(['no_slot_available', 'pool_shutdown', 'budget_exhausted', 'task_budget_exceeds_remaining']);

/** A pool of agent slots run by a supervisor actor. */
export class Pool {
  /** Starts building a pool that runs `claude` with these options. */
  static builder(claude?: ClaudeOptions): PoolBuilder {
    return new PoolBuilder(claude);
  }

  private readonly actor: Actor<typeof poolMachine>;
  private readonly projection: Projection;
  private readonly poolStore: PoolStore;
  private readonly poolConfig: PoolConfig;
  private readonly claude: ClaudeOptions;
  private readonly contextEntries = new Map<string, string>();
  private readonly messages = new MessageBus();
  private readonly output = new Subject<OutputChunk>();
  private readonly liveRuns = new Map<TaskId, Promise<void>>();
  private readonly liveRunEnds = new Map<TaskId, () => void>();
  private scaling: Promise<unknown> = Promise.resolve();
  private drainSummary?: Promise<DrainSummary>;
  private storeErrors: unknown[] = [];

  /** @internal Use `Pool.builder()`. */
  constructor(settings: BuildSettings, config: PoolConfig) {
    this.poolConfig = config;
    this.claude = settings.claude;
    this.poolStore = settings.store ?? new MemoryStore();
    this.projection = new Projection(this.poolStore, (error) => this.storeErrors.push(error));
    const runner = settings.runner ?? new ClaudeCliRunner(settings.claude);
    const agent = createAgentActor({
      runner,
      prepare: (input) => this.prepareRun(input),
      onEvent: (slotId, taskId, event) => this.onAgentEvent(slotId, taskId, event),
      onExit: (_slotId, taskId) => this.onRunExit(taskId),
    });
    const slots: SlotSpec[] = Array.from({ length: settings.slotCount }, (_, i) => ({
      id: `slot-${i}`,
      config: settings.slotConfigs[i] ?? {},
    }));
    const userInspect = settings.inspect;
    this.actor = createActor(poolMachine.provide({ actors: { slot: slotMachine.provide({ actors: { agent } }) } }), {
      input: {
        config,
        slots,
        clock: Date.now,
        cancelGraceMs: settings.cancelGraceMs,
        restartDelayMs: settings.restartDelayMs,
        autoDispatch: settings.autoDispatch,
      },
      inspect: (event) => {
        this.projection.handle(event);
        if (userInspect) {
          try {
            userInspect(event);
          } catch {
            // An inspector's failure must not break the pool.
          }
        }
      },
    });
    this.actor.start();
  }

  // ---------------------------------------------------------------- tasks

  /** Runs a prompt on the next idle slot and resolves with its result. */
  async run(prompt: string, options: RunOptions = {}): Promise<TaskResult> {
    const id = newId('task');
    const subscription = options.onOutput
      ? this.output.pipe(filter((chunk) => chunk.taskId === id)).subscribe((chunk) => options.onOutput?.(chunk.text))
      : undefined;
    try {
      this.admit(prompt, { config: options.config, tags: options.tags, workingDir: options.workingDir }, undefined, id);
      const record = await this.waitForTask(id, (task) => FINAL_TASK_STATES.includes(task.state));
      await this.liveRuns.get(id);
      await this.projection.flush();
      return this.resultOrThrow(record);
    } finally {
      subscription?.unsubscribe();
    }
  }

  /** Queues a prompt and returns its task id at once. */
  async submit(prompt: string): Promise<TaskId> {
    return this.admit(prompt, {});
  }

  /** Queues a prompt with overrides and tags; returns its task id at once. */
  async submitWithConfig(prompt: string, config?: TaskOverrides, tags?: string[]): Promise<TaskId> {
    return this.admit(prompt, { config, tags });
  }

  /** Queues a prompt whose result must be approved; it ends in PendingReview instead of Completed. */
  async submitWithReview(
    prompt: string,
    config?: TaskOverrides,
    tags?: string[],
    maxRejections = 3,
  ): Promise<TaskId> {
    if (!Number.isInteger(maxRejections) || maxRejections < 1) {
      throw new InvalidInput(`maxRejections must be an integer >= 1, got ${maxRejections}`);
    }
    return this.admit(prompt, { config, tags }, { reviewRequired: true, maxRejections });
  }

  /** The task's result: set in Completed, Failed and PendingReview; `undefined` while pending or running. */
  async result(id: TaskId): Promise<TaskResult | undefined> {
    const record = await this.task(id);
    return record.state === 'pending' || record.state === 'running' ? undefined : record.result;
  }

  /** The task's record. */
  async task(id: TaskId): Promise<TaskRecord> {
    const live = this.projection.tasks.get(id);
    if (live) return live;
    const stored = await this.poolStore.getTask(id);
    if (!stored) throw new TaskNotFound(id);
    return stored;
  }

  /** Lists task records (oldest first). */
  async listTasks(filterBy?: TaskFilter): Promise<TaskRecord[]> {
    await this.projection.flush();
    return this.poolStore.listTasks(filterBy);
  }

  /**
   * Cancels a task. A queued task is dropped; a running task's process is killed (resolves once it is gone);
   * a task in review is cancelled. Finished tasks are left as they are.
   */
  async cancel(id: TaskId): Promise<void> {
    const record = this.projection.tasks.get(id);
    if (!record) {
      await this.task(id); // throws TaskNotFound for unknown ids
      return;
    }
    if (FINAL_TASK_STATES.includes(record.state)) return;
    this.actor.send({ type: 'CANCEL', taskId: id });
    await this.waitForTask(id, (task) => FINAL_TASK_STATES.includes(task.state));
    await this.liveRuns.get(id);
    await this.projection.flush();
  }

  /** Gives the oldest queued task to this idle slot now; returns its id, or `undefined` when nothing was taken. */
  async claim(slotId: SlotId): Promise<TaskId | undefined> {
    this.checkOpen();
    this.slotRecord(slotId);
    const before = this.context().running;
    this.actor.send({ type: 'CLAIM', slotId });
    const after = this.context().running;
    const claimed = Object.keys(after).find((taskId) => after[taskId] === slotId && before[taskId] !== slotId);
    return claimed;
  }

  /** Runs every prompt in parallel; resolves with every result in input order, failures included. */
  async fanOut(prompts: string[], options: SubmitOptions = {}): Promise<TaskResult[]> {
    if (!Array.isArray(prompts)) throw new InvalidInput('prompts must be a list of strings');
    this.checkOpen();
    return Promise.all(
      prompts.map(async (prompt) => {
        try {
          return await this.run(prompt, options);
        } catch (error) {
          if (error instanceof PoolError) {
            return {
              output: error.message,
              success: false,
              costMicrodollars: 0,
              turnsUsed: 0,
              elapsedMs: 0,
              errorCode: error.code,
            } satisfies TaskResult;
          }
          throw error;
        }
      }),
    );
  }

  /** Approves a task in PendingReview: it becomes Completed. */
  async approveResult(id: TaskId): Promise<void> {
    await this.requireReview(id);
    this.actor.send({ type: 'APPROVE', taskId: id });
    await this.waitForTask(id, (task) => task.state === 'completed');
    await this.projection.flush();
  }

  /** Rejects a task in PendingReview: it runs again with the feedback, or fails at its last rejection. */
  async rejectResult(id: TaskId, feedback: string): Promise<void> {
    if (typeof feedback !== 'string') throw new InvalidInput('feedback must be a string');
    const before = await this.requireReview(id);
    this.actor.send({ type: 'REJECT', taskId: id, feedback });
    await this.waitForTask(id, (task) => task.state !== 'pending_review' || task.rejectionCount > before.rejectionCount);
    await this.projection.flush();
  }

  // ---------------------------------------------------------------- pool

  /** Slot and task counts, spend and shutdown flag. */
  status(): PoolStatus {
    const context = this.context();
    const slotCount = (state: SlotState) => [...this.projection.slots.values()].filter((s) => s.state === state).length;
    const taskCount = (state: TaskState) => [...this.projection.tasks.values()].filter((t) => t.state === state).length;
    return {
      totalSlots: this.projection.slots.size,
      idleSlots: slotCount('idle'),
      busySlots: slotCount('busy'),
      retiringSlots: slotCount('retiring'),
      erroredSlots: slotCount('errored'),
      stoppedSlots: slotCount('stopped'),
      pendingTasks: taskCount('pending'),
      runningTasks: taskCount('running'),
      pendingReviewTasks: taskCount('pending_review'),
      completedTasks: taskCount('completed'),
      failedTasks: taskCount('failed'),
      cancelledTasks: taskCount('cancelled'),
      totalSpendMicrodollars: context.ledger.spentMicrodollars,
      reservedMicrodollars: reservedTotal(context.ledger),
      budgetMicrodollars: context.ledger.limitMicrodollars,
      shutdown: !this.actor.getSnapshot().matches('running'),
    };
  }

  /**
   * Stops taking work, cancels (or finishes) queued tasks, waits for running ones, stops every slot and
   * returns the totals. Calling it again returns the same summary.
   */
  drain(options: DrainOptions = {}): Promise<DrainSummary> {
    this.drainSummary ??= this.performDrain(options);
    return this.drainSummary;
  }

  private async performDrain(options: DrainOptions): Promise<DrainSummary> {
    this.actor.send({ type: 'DRAIN', queued: options.queued ?? 'cancel' });
    const stopped = firstValueFrom(
      this.snapshots().pipe(filter((snapshot) => snapshot.matches('stopped'))),
    );
    if (options.timeoutMs !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        stopped.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), options.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) this.actor.send({ type: 'FORCE_STOP' });
    }
    await stopped;
    await this.waitForSlots((slots) => slots.every((slot) => slot.state === 'stopped'));
    await Promise.all([...this.liveRuns.values()]);
    await this.projection.flush();
    const context = this.context();
    let totalCostMicrodollars = 0;
    let totalTasksCompleted = 0;
    for (const slot of this.projection.slots.values()) {
      totalCostMicrodollars += slot.costMicrodollars;
      totalTasksCompleted += slot.tasksCompleted;
    }
    return { totalCostMicrodollars, totalTasksCompleted, cancelledTasks: [...context.drainCancelled] };
  }

  /** The pool's store. */
  store(): PoolStore {
    return this.poolStore;
  }

  /** The pool's config. */
  config(): PoolConfig {
    return this.poolConfig;
  }

  /** Resolves once the store holds every change made so far. */
  flush(): Promise<void> {
    return this.projection.flush();
  }

  /** Errors the store raised while writing records through (the pool keeps running). */
  storeWriteErrors(): readonly unknown[] {
    return this.storeErrors;
  }

  // ---------------------------------------------------------------- context

  /** Sets a shared-context entry (injected into every task's system prompt). */
  setContext(key: string, value: string): void {
    if (typeof key !== 'string' || key.trim() === '') throw new InvalidInput('context key must be a non-empty string');
    if (typeof value !== 'string') throw new InvalidInput('context value must be a string');
    this.contextEntries.set(key, value);
  }

  /** A shared-context entry. */
  getContext(key: string): string | undefined {
    return this.contextEntries.get(key);
  }

  /** Deletes a shared-context entry and returns its old value. */
  deleteContext(key: string): string | undefined {
    const value = this.contextEntries.get(key);
    this.contextEntries.delete(key);
    return value;
  }

  /** Every shared-context entry, in insertion order. */
  listContext(): [string, string][] {
    return [...this.contextEntries.entries()];
  }

  // ---------------------------------------------------------------- slots

  /** Every slot record, in slot order. */
  slots(): SlotRecord[] {
    return this.context()
      .slotOrder.map((id) => this.projection.slots.get(id))
      .filter((slot): slot is SlotRecord => slot !== undefined);
  }

  /** Slots matching every given field. */
  findSlots(query: SlotQuery = {}): SlotRecord[] {
    return this.slots().filter(
      (slot) =>
        (query.name === undefined || slot.config.name === query.name) &&
        (query.role === undefined || slot.config.role === query.role) &&
        (query.state === undefined || slot.state === query.state),
    );
  }

  /** Changes a slot's identity or settings for its next tasks. */
  configureSlot(slotId: SlotId, config: SlotConfig): SlotRecord {
    this.slotRecord(slotId);
    validateSlotConfig(config);
    this.actor.send({ type: 'CONFIGURE_SLOT', slotId, config });
    return this.slotRecord(slotId);
  }

  /** Adds `count` slots; resolves with the new slot count. */
  scaleUp(count: number, config: SlotConfig = {}): Promise<number> {
    return this.serialised(async () => {
      this.checkOpen();
      checkCount(count);
      validateSlotConfig(config);
      const current = activeSlotIds(this.context()).length;
      if (count === 0) return current;
      const max = this.poolConfig.scaling.maxSlots;
      if (current + count > max) {
        throw new ScaleLimitExceeded(`cannot scale up to ${current + count} slots: exceeds max_slots (${max})`);
      }
      const slots = nextSlotIds(this.context(), count).map((id) => ({ id, config }));
      this.actor.send({ type: 'SCALE_UP', slots });
      return activeSlotIds(this.context()).length;
    });
  }

  /** Removes `count` slots (idle, least used first; a busy one finishes its task first); resolves with the new count. */
  scaleDown(count: number): Promise<number> {
    return this.serialised(async () => {
      this.checkOpen();
      checkCount(count);
      const current = activeSlotIds(this.context()).length;
      if (count === 0) return current;
      const min = this.poolConfig.scaling.minSlots;
      if (current - count < min) {
        throw new ScaleLimitExceeded(
          `cannot scale down to ${Math.max(0, current - count)} slots: below min_slots (${min})`,
        );
      }
      this.actor.send({ type: 'SCALE_DOWN', count });
      return activeSlotIds(this.context()).length;
    });
  }

  /** Scales up or down to `target` slots; resolves with the new count. */
  async setTargetSlots(target: number): Promise<number> {
    checkCount(target);
    const current = activeSlotIds(this.context()).length;
    if (target > current) return this.scaleUp(target - current);
    if (target < current) return this.scaleDown(current - target);
    return current;
  }

  /** Starts restarting errored slots (up to `maxRestarts` each); `undefined` when `supervisorEnabled` is false. */
  startSupervisor(): SupervisorHandle | undefined {
    if (!this.poolConfig.supervisorEnabled) return undefined;
    this.actor.send({ type: 'SUPERVISOR.START' });
    return { stop: () => this.actor.send({ type: 'SUPERVISOR.STOP' }) };
  }

  // ---------------------------------------------------------------- messages

  /** Sends a message to a slot; returns its id. */
  sendMessage(from: SlotId, to: SlotId, content: string): string {
    this.slotRecord(from);
    this.slotRecord(to);
    if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
    return this.messages.send(from, to, content).id;
  }

  /** Sends a message to every other slot; returns one id per recipient. */
  broadcastMessage(from: SlotId, content: string): string[] {
    this.slotRecord(from);
    if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
    return this.slots()
      .filter((slot) => slot.id !== from && slot.state !== 'stopped')
      .map((slot) => this.messages.send(from, slot.id, content).id);
  }

  /** Removes and returns a slot's messages, oldest first. */
  readMessages(slotId: SlotId): Message[] {
    this.slotRecord(slotId);
    return this.messages.read(slotId);
  }

  /** A slot's messages, left in place. */
  peekMessages(slotId: SlotId): Message[] {
    this.slotRecord(slotId);
    return this.messages.peek(slotId);
  }

  /** How many messages wait for a slot. */
  messageCount(slotId: SlotId): number {
    this.slotRecord(slotId);
    return this.messages.count(slotId);
  }

  /** Every message as it is sent. */
  get messages$(): Observable<Message> {
    return this.messages.sent$;
  }

  /** Every text chunk agents stream, tagged with task and slot. */
  get output$(): Observable<OutputChunk> {
    return this.output.asObservable();
  }

  // ---------------------------------------------------------------- internals

  /** The supervisor actor (for inspection and advanced use). */
  get supervisor(): Actor<typeof poolMachine> {
    return this.actor;
  }

  /** @internal The projection of actor state into records. */
  get records(): Projection {
    return this.projection;
  }

  private context(): PoolContext {
    return this.actor.getSnapshot().context;
  }

  /** The supervisor's snapshots: the current one first, then each new one. */
  private snapshots(): Observable<ReturnType<Actor<typeof poolMachine>['getSnapshot']>> {
    return defer(() => concat(of(this.actor.getSnapshot()), from(this.actor)));
  }

  private checkOpen(): void {
    if (!this.actor.getSnapshot().matches('running')) throw new PoolShutdown();
  }

  /** Validates and admits a task; returns its id once the supervisor has it. */
  private admit(
    prompt: string,
    options: SubmitOptions,
    review?: { reviewRequired: boolean; maxRejections: number },
    id: TaskId = newId('task'),
  ): TaskId {
    validatePrompt(prompt);
    validateOverrides(options.config);
    if (options.tags !== undefined && (!Array.isArray(options.tags) || options.tags.some((t) => typeof t !== 'string'))) {
      throw new InvalidInput('tags must be a list of strings');
    }
    this.checkOpen();
    const cap = options.config?.maxBudgetUsd;
    const refusal = admissionRefusal(this.context().ledger, cap === undefined ? undefined : usdToMicrodollars(cap));
    if (refusal?.code === 'budget_exhausted') throw new BudgetExhausted(refusal.spentMicrodollars, refusal.limitMicrodollars);
    if (refusal?.code === 'task_budget_exceeds_remaining') {
      throw new TaskBudgetExceedsRemaining(refusal.taskMicrodollars / 1e6, refusal.remainingMicrodollars / 1e6);
    }
    const record: TaskRecord = {
      id,
      prompt,
      state: 'pending',
      tags: [...(options.tags ?? [])],
      config: options.config,
      workingDir: options.workingDir,
      reviewRequired: review?.reviewRequired ?? false,
      maxRejections: review?.maxRejections ?? 3,
      rejectionCount: 0,
      originalPrompt: review?.reviewRequired ? prompt : undefined,
      kind: 'task',
      createdAtMs: Date.now(),
    };
    this.actor.send({ type: 'SUBMIT', record });
    return record.id;
  }

  private resultOrThrow(record: TaskRecord): TaskResult {
    if (record.state === 'cancelled') throw new TaskCancelled(record.id);
    const result = record.result;
    if (!result) throw new PoolError('internal_error', `task ${record.id} ended without a result`);
    if (!result.success && result.errorCode && POOL_ERROR_CODES.has(result.errorCode)) {
      throw this.errorFromResult(result);
    }
    return result;
  }

  private errorFromResult(result: TaskResult): PoolError {
    const ledger = this.context().ledger;
    switch (result.errorCode) {
      case 'no_slot_available':
        return new NoSlotAvailable(this.poolConfig.slotAssignmentTimeoutSecs, result.output);
      case 'pool_shutdown':
        return new PoolShutdown();
      case 'budget_exhausted':
        return new BudgetExhausted(ledger.spentMicrodollars, ledger.limitMicrodollars ?? 0);
      default:
        return new PoolError(result.errorCode ?? 'failed', result.output);
    }
  }

  private async requireReview(id: TaskId): Promise<TaskRecord> {
    const record = await this.task(id);
    if (record.state !== 'pending_review') throw new InvalidTaskState(id, record.state, 'pending review');
    return record;
  }

  private slotRecord(slotId: SlotId): SlotRecord {
    const record = this.projection.slots.get(slotId);
    if (!record || !(slotId in this.context().slots)) throw new SlotNotFound(slotId);
    return record;
  }

  private waitForTask(id: TaskId, predicate: (record: TaskRecord) => boolean): Promise<TaskRecord> {
    const current = this.projection.tasks.get(id);
    if (current && predicate(current)) return Promise.resolve(current);
    return firstValueFrom(
      this.projection.taskChanged$.pipe(
        map((change) => change.current),
        filter((record) => record.id === id && predicate(record)),
      ),
    );
  }

  private waitForSlots(predicate: (slots: SlotRecord[]) => boolean): Promise<void> {
    if (predicate(this.slots())) return Promise.resolve();
    return firstValueFrom(this.projection.slotChanged$.pipe(filter(() => predicate(this.slots())))).then(() => {});
  }

  private serialised<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.scaling.then(operation, operation);
    this.scaling = next.catch(() => undefined);
    return next;
  }

  /** Builds the request for one run: merged config, identity, context, messages, directory and session. */
  private prepareRun(input: AgentActorInput): AgentRunRequest {
    const { slot, job } = input;
    const config = resolveConfig(this.poolConfig, slot.config, job.overrides);
    if (config.maxBudgetUsd === undefined && job.reservedMicrodollars !== undefined) {
      config.maxBudgetUsd = job.reservedMicrodollars / 1e6;
    }
    const messages = this.messages.read(slot.id);
    config.appendSystemPrompt = buildAppendSystemPrompt(slot.config, this.listContext(), messages);
    const workingDir = job.workingDir ?? slot.worktreePath ?? this.claude.workingDir ?? process.cwd();
    const resume = job.workingDir === undefined ? slot.sessionId : undefined;
    const timeoutSecs = job.overrides?.timeoutSecs ?? this.claude.timeoutSecs;
    this.trackRun(job.taskId);
    return {
      prompt: job.prompt,
      config,
      workingDir,
      resumeSessionId: resume,
      previousSessionCostUsd: resume ? slot.sessionCostUsd : undefined,
      timeoutMs: timeoutSecs === undefined ? undefined : timeoutSecs * 1000,
    };
  }

  private trackRun(taskId: TaskId): void {
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    this.liveRuns.set(taskId, ended);
    this.liveRunEnds.set(taskId, end);
  }

  private onRunExit(taskId: TaskId): void {
    this.liveRunEnds.get(taskId)?.();
    this.liveRunEnds.delete(taskId);
    this.liveRuns.delete(taskId);
  }

  private onAgentEvent(slotId: SlotId, taskId: TaskId, event: AgentEvent): void {
    if (event.type === 'text') this.output.next({ taskId, slotId, text: event.text });
  }
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0) throw new InvalidInput(`count must be an integer >= 0, got ${count}`);
}
