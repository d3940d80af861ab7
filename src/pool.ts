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
import { chainMachine, type ChainMachine } from '../machines/chain.js';
import {
  FINAL_TASK_STATES,
  type ChainOptions,
  type ChainProgress,
  type ChainResult,
  type ChainStep,
  type DrainSummary,
  type Message,
  type PoolConfig,
  type PoolStatus,
  type RunOutcome,
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
import { chainStepsProblem, createChainActors } from './chain-actors.js';
import { SkillRegistry } from './skills/registry.js';
import { WorkflowRegistry } from './workflows/registry.js';
import { WorktreeManager } from './worktree.js';
import { ClaudeCliRunner } from './agent/claude-cli.js';
import { buildAppendSystemPrompt } from './agent/system-prompt.js';
import type { AgentEvent, AgentRunner, AgentRunRequest, ClaudeOptions } from './agent/types.js';
import {
  completePoolConfig,
  resolveConfig,
  validateOverrides,
  validatePrompt,
  validateSlotConfig,
  validateDirectory,
  validateTags,
  type PoolConfigInput,
} from './config.js';
import {
  BudgetExhausted,
  InvalidInput,
  InvalidTaskState,
  NoSlotAvailable,
  PoolError,
  PermissionPromptDetected,
  PoolShutdown,
  ScaleLimitExceeded,
  SlotNotFound,
  TaskBudgetExceedsRemaining,
  TaskCancelled,
  TaskNotFound,
} from './errors.js';
import { newId } from './ids.js';
import { planRestore, type InterruptedRunPolicy, type RestorePlan } from './restore.js';
import { MessageBus } from './messaging.js';
import { computeSessionMetrics, type MetricsFilter, type SessionMetrics } from './metrics.js';
import { describeActors, type ActorDescription } from './inspect.js';
import { KeyedListeners } from './keyed-listeners.js';
import { PoolObserver, type PoolEvent, type PoolSnapshot } from './observe.js';
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
  /** Receives the task id as soon as the task is queued. */
  onSubmitted?: (taskId: TaskId) => void;
  /** Aborting it cancels the task (its process is killed); `run` then rejects with `TaskCancelled`. */
  signal?: AbortSignal;
}

/** Options of `submitWithConfig` and friends. */
export interface SubmitOptions {
  config?: TaskOverrides;
  tags?: string[];
  /** `fanOut` only: aborting it cancels every task still running or queued. */
  signal?: AbortSignal;
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
  skills?: SkillRegistry;
  workflows?: WorkflowRegistry;
  interruptedRuns: InterruptedRunPolicy;
}

/** What the builder prepared before the pool starts: the worktree manager and the first slots. */
interface BuildResources {
  store: PoolStore;
  /** What the store held when the pool started. */
  restore: RestorePlan;
  worktrees?: WorktreeManager;
  /** Why there is no worktree manager (not a git repository, …). */
  worktreesUnavailable?: string;
  slots: SlotSpec[];
}

/** The outcome of one chain of `fanOutChains`: its id, or why it was not submitted. */
export type FanOutChainOutcome = { chainId: TaskId } | { error: { code: string; message: string } };

/** Options of `cancelChain`. */
export interface CancelChainOptions {
  /** Kill the running step too (default: let it finish and keep its result). */
  immediate?: boolean;
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
      interruptedRuns: 'fail',
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

  /** The skills chains and `runSkill` use (default: the built-in skills). */
  skills(registry: SkillRegistry): this {
    this.settings.skills = registry;
    return this;
  }

  /** The workflows `runWorkflow` uses (default: the built-in workflows). */
  workflows(registry: WorkflowRegistry): this {
    this.settings.workflows = registry;
    return this;
  }

  /**
   * What happens, when the pool starts on a store that already holds work, to tasks that were running when
   * the previous pool stopped: `fail` them (default; their side effects may be half done) or `requeue` them.
   * Queued tasks are always queued again, and tasks awaiting review wait again.
   */
  interruptedRuns(policy: InterruptedRunPolicy): this {
    if (policy !== 'fail' && policy !== 'requeue') {
      throw new InvalidInput(`interruptedRuns must be 'fail' or 'requeue', got ${JSON.stringify(policy)}`);
    }
    this.settings.interruptedRuns = policy;
    return this;
  }

  /**
   * Builds and starts the pool. With `worktreeIsolation` the working directory must be a git repository
   * (a `WorktreeError` otherwise) and every slot gets its own worktree.
   */
  async build(): Promise<Pool> {
    const config = completePoolConfig(this.settings.config);
    if (this.settings.slotCount > config.scaling.maxSlots) {
      throw new InvalidInput(`${this.settings.slotCount} slots exceeds max_slots (${config.scaling.maxSlots})`);
    }
    const repoDir = this.settings.claude.workingDir ?? process.cwd();
    const store = this.settings.store ?? new MemoryStore();
    const restore = await planRestore(store, this.settings.interruptedRuns, Date.now());
    const resources: BuildResources = { slots: [], store, restore };
    if (config.worktreeIsolation) {
      resources.worktrees = await WorktreeManager.open(repoDir, { baseDir: config.worktreeBaseDir });
    } else if (await WorktreeManager.isGitRepo(repoDir)) {
      resources.worktrees = await WorktreeManager.open(repoDir, { baseDir: config.worktreeBaseDir });
    } else {
      resources.worktreesUnavailable = `${repoDir} is not inside a git work tree`;
    }
    for (let i = 0; i < this.settings.slotCount; i++) {
      const id = `slot-${i}`;
      const worktreePath = config.worktreeIsolation ? await resources.worktrees?.createForSlot(id) : undefined;
      const stored = restore.slots.get(id);
      resources.slots.push({
        id,
        config: this.settings.slotConfigs[i] ?? {},
        worktreePath,
        history: stored && {
          tasksCompleted: stored.tasksCompleted,
          costMicrodollars: stored.costMicrodollars,
          restartCount: stored.restartCount,
          sessionId: stored.sessionId,
          sessionCostUsd: stored.sessionCostUsd,
        },
      });
    }
    return new Pool(this.settings, config, resources);
  }
}

const POOL_ERROR_CODES = new Set([
  'no_slot_available',
  'pool_shutdown',
  'budget_exhausted',
  'task_budget_exceeds_remaining',
  'permission_prompt_detected',
]);

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
  /** Messages given to runs still in progress (returned to the inbox if the run never starts). */
  private readonly deliveredMessages = new Map<TaskId, Message[]>();
  private readonly chainActors = new Map<TaskId, Actor<ChainMachine>>();
  private readonly skillRegistry: SkillRegistry;
  private readonly workflowRegistry: WorkflowRegistry;
  private readonly worktreeManager?: WorktreeManager;
  private readonly worktreesUnavailable?: string;
  private readonly inspectObserver: (event: InspectionEvent) => void;
  private readonly observer: PoolObserver;
  private readonly taskListeners = new KeyedListeners<TaskId, TaskRecord>();
  private readonly outputListeners = new KeyedListeners<TaskId, string>();
  private scaling: Promise<unknown> = Promise.resolve();
  private drainSummary?: Promise<DrainSummary>;
  /** Set once `drain` starts: new work is refused from then on. */
  private closing = false;
  /** What slots removed by scale-down had done (the drain summary still counts it). */
  private readonly retiredTotals = { costMicrodollars: 0, tasksCompleted: 0 };
  private storeErrors: unknown[] = [];
  /** When the pool was built: the start of the session `sessionMetrics` reports on. */
  private readonly createdAtMs = Date.now();

  /** @internal Use `Pool.builder()`. */
  constructor(settings: BuildSettings, config: PoolConfig, resources: BuildResources) {
    this.poolConfig = config;
    this.claude = settings.claude;
    this.skillRegistry = settings.skills ?? SkillRegistry.withBuiltins();
    this.workflowRegistry = settings.workflows ?? WorkflowRegistry.withBuiltins(this.skillRegistry);
    this.worktreeManager = resources.worktrees;
    this.worktreesUnavailable = resources.worktreesUnavailable;
    this.poolStore = resources.store;
    this.projection = new Projection(this.poolStore, (error) => this.storeErrors.push(error));
    this.observer = new PoolObserver(this.projection, this.messages.sent$, this.output);
    this.projection.taskChanged$.subscribe((change) => this.taskListeners.emit(change.current.id, change.current));
    // Agent processes are recorded in the store while they run (a later owner ends what a dead one left).
    const runner = settings.runner ?? new ClaudeCliRunner(settings.claude, { processes: resources.store.processes });
    const agent = createAgentActor({
      runner,
      prepare: (input) => this.prepareRun(input),
      onEvent: (slotId, taskId, event) => this.onAgentEvent(slotId, taskId, event),
      onExit: (slotId, taskId, outcome) => this.onRunExit(slotId, taskId, outcome),
      detectPermissionPrompts: config.detectPermissionPrompts,
    });
    const slots = resources.slots;
    const userInspect = settings.inspect;
    this.inspectObserver = (event) => {
      if (!this.isRemovedSlotSnapshot(event)) this.projection.handle(event);
      if (userInspect) {
        try {
          userInspect(event);
        } catch {
          // An inspector's failure must not break the pool.
        }
      }
    };
    this.actor = createActor(poolMachine.provide({ actors: { slot: slotMachine.provide({ actors: { agent } }) } }), {
      input: {
        config,
        slots,
        clock: Date.now,
        cancelGraceMs: settings.cancelGraceMs,
        restartDelayMs: settings.restartDelayMs,
        autoDispatch: settings.autoDispatch,
        spentMicrodollars: resources.restore.spentMicrodollars,
      },
      inspect: this.inspectObserver,
    });
    // A removed slot's unread messages and worktree go with it (a later slot may get the same id).
    this.projection.slotRemoved$.subscribe((slot) => {
      this.retiredTotals.costMicrodollars += slot.costMicrodollars;
      this.retiredTotals.tasksCompleted += slot.tasksCompleted;
      this.messages.forget(slot.id);
      if (slot.worktreePath) this.removeSlotWorktree(slot.id);
    });
    this.actor.start();
    this.resume(resources.restore, new Set(slots.map((slot) => slot.id)));
  }

  /** Picks up what the store held: finished records as they are, the rest back in the actors. */
  private resume(plan: RestorePlan, slotIds: ReadonlySet<SlotId>): void {
    for (const record of plan.finished) this.projection.updateTask(record, false);
    for (const record of plan.interrupted) this.projection.updateTask(record);
    for (const record of plan.review) this.actor.send({ type: 'RESTORE_REVIEW', record });
    for (const record of plan.requeue) this.actor.send({ type: 'SUBMIT', record });
    for (const id of plan.slots.keys()) {
      if (!slotIds.has(id)) void this.poolStore.deleteSlot(id).catch((error: unknown) => this.storeErrors.push(error));
    }
  }

  // ---------------------------------------------------------------- tasks

  /** Runs a prompt on the next idle slot and resolves with its result. */
  async run(prompt: string, options: RunOptions = {}): Promise<TaskResult> {
    const id = newId('task');
    if (options.signal?.aborted) throw new TaskCancelled(id);
    const subscription = options.onOutput
      ? { unsubscribe: this.outputListeners.add(id, options.onOutput) }
      : undefined;
    const onAbort = () => void this.cancel(id).catch(() => undefined);
    try {
      this.admit(prompt, { config: options.config, tags: options.tags, workingDir: options.workingDir }, undefined, id);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      options.onSubmitted?.(id);
      const record = await this.waitForTask(id, (task) => FINAL_TASK_STATES.includes(task.state));
      await this.liveRuns.get(id);
      await this.projection.flush();
      return this.resultOrThrow(record);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
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
    if (this.chainActors.has(id)) return this.cancelChain(id);
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
    const before = this.liveReview(id);
    this.actor.send({ type: 'APPROVE', taskId: id });
    const after = await this.waitForTask(id, (task) => task !== before);
    await this.projection.flush();
    // Cancelled (or rejected) by someone else in the meantime: the approval did not happen.
    if (after.state !== 'completed') throw new InvalidTaskState(id, after.state, 'pending review');
  }

  /** Rejects a task in PendingReview: it runs again with the feedback, or fails at its last rejection. */
  async rejectResult(id: TaskId, feedback: string): Promise<void> {
    if (typeof feedback !== 'string') throw new InvalidInput('feedback must be a string');
    await this.requireReview(id);
    const before = this.liveReview(id);
    this.actor.send({ type: 'REJECT', taskId: id, feedback });
    const after = await this.waitForTask(id, (task) => task !== before);
    await this.projection.flush();
    if (after.rejectionCount <= before.rejectionCount) throw new InvalidTaskState(id, after.state, 'pending review');
  }

  /** The task's live record, which must be in PendingReview now (not just when the caller last looked). */
  private liveReview(id: TaskId): TaskRecord {
    const record = this.projection.tasks.get(id);
    if (!record || record.state !== 'pending_review') {
      throw new InvalidTaskState(id, record?.state ?? 'pending', 'pending review');
    }
    return record;
  }

  // ---------------------------------------------------------------- chains

  /**
   * Submits a chain of steps; returns its `chain-…` id at once. The steps run in order on the pool's slots,
   * isolated in a git worktree by default (`isolation: 'clone'` clones, `'none'` uses the slot's directory).
   */
  async submitChain(steps: ChainStep[], options: ChainOptions = {}): Promise<TaskId> {
    const problem = chainStepsProblem(steps, this.skillRegistry);
    if (problem) throw new InvalidInput(problem);
    const isolation = options.isolation ?? 'worktree';
    if (!['none', 'worktree', 'clone'].includes(isolation)) {
      throw new InvalidInput(`isolation must be 'none', 'worktree' or 'clone', got ${JSON.stringify(isolation)}`);
    }
    validateTags(options.tags);
    this.checkOpen();
    const refusal = admissionRefusal(this.context().ledger);
    if (refusal?.code === 'budget_exhausted') throw new BudgetExhausted(refusal.spentMicrodollars, refusal.limitMicrodollars);
    const id = newId('chain');
    const record: TaskRecord = {
      id,
      prompt: `chain: ${steps.length} steps`,
      state: 'running',
      tags: [...(options.tags ?? [])],
      reviewRequired: false,
      maxRejections: 0,
      rejectionCount: 0,
      kind: 'chain',
      createdAtMs: Date.now(),
    };
    let actor: Actor<ChainMachine> | undefined;
    const actors = createChainActors(
      {
        skills: this.skillRegistry,
        submitStep: (chainId, prompt, config, workingDir) =>
          this.admit(prompt, { config, workingDir, tags: [chainId] }, undefined, newId('task'), true),
        waitForFinal: (taskId) => this.waitForTask(taskId, (task) => FINAL_TASK_STATES.includes(task.state)),
        cancelTask: (taskId) => this.cancel(taskId),
        subscribeOutput: (taskId, onChunk) => {
          return this.outputListeners.add(taskId, onChunk);
        },
        worktrees: async () => ({ manager: this.worktreeManager, reason: this.worktreesUnavailable }),
      },
      (chunk) => actor?.send({ type: 'STEP.OUTPUT', chunk }),
    );
    actor = createActor(chainMachine.provide({ actors }), {
      id,
      input: { record, steps: structuredClone(steps), isolation, clock: Date.now },
      inspect: this.inspectObserver,
    });
    this.chainActors.set(id, actor);
    actor.start();
    return id;
  }

  /** Submits every chain; one bad chain does not stop the others. Outcomes are in input order. */
  async fanOutChains(chains: ChainStep[][], options: ChainOptions = {}): Promise<FanOutChainOutcome[]> {
    if (!Array.isArray(chains)) throw new InvalidInput('chains must be a list of step lists');
    this.checkOpen();
    const outcomes: FanOutChainOutcome[] = [];
    for (const steps of chains) {
      try {
        outcomes.push({ chainId: await this.submitChain(steps, options) });
      } catch (error) {
        if (!(error instanceof PoolError)) throw error;
        outcomes.push({ error: { code: error.code, message: error.message } });
      }
    }
    return outcomes;
  }

  /** A chain's live progress. */
  chainProgress(id: TaskId): ChainProgress {
    const progress = this.projection.chains.get(id);
    if (!progress) throw new TaskNotFound(id);
    return progress;
  }

  /** The progress of every chain, finished ones included. */
  listChainProgress(): ChainProgress[] {
    return [...this.projection.chains.values()];
  }

  /**
   * Cancels a chain: the remaining steps are recorded as skipped. By default the running step finishes and
   * its result is kept; with `immediate` it is killed. No-op on a finished chain.
   */
  async cancelChain(id: TaskId, options: CancelChainOptions = {}): Promise<void> {
    const actor = this.chainActors.get(id);
    if (!actor) {
      await this.task(id);
      throw new InvalidInput(`${id} is not a chain`);
    }
    if (actor.getSnapshot().status !== 'active') return;
    actor.send({ type: 'CANCEL', immediate: options.immediate === true });
    if (options.immediate) await this.waitForChainEnd(id);
  }

  /** Resolves with the chain's result once it has ended (completed, failed or cancelled). */
  async waitForChain(id: TaskId): Promise<ChainResult> {
    if (!this.chainActors.has(id)) {
      await this.task(id);
      throw new InvalidInput(`${id} is not a chain`);
    }
    const record = await this.waitForChainEnd(id);
    return JSON.parse(record.result?.output ?? 'null') as ChainResult;
  }

  /** Warnings a chain collected (isolation fallback, output variables not found, cleanup failures). */
  chainWarnings(id: TaskId): string[] {
    const actor = this.chainActors.get(id);
    if (!actor) throw new TaskNotFound(id);
    return [...actor.getSnapshot().context.warnings];
  }

  /** Instantiates a registered workflow with its arguments and submits it as a chain. */
  async runWorkflow(name: string, args: Record<string, string> = {}, options: ChainOptions = {}): Promise<TaskId> {
    let steps: ChainStep[];
    try {
      steps = this.workflowRegistry.instantiate(name, args);
    } catch (error) {
      throw asInvalidInput(error);
    }
    return this.submitChain(steps, options);
  }

  /** Renders a registered skill with its arguments and runs it (the skill's config, then `options.config`). */
  async runSkill(name: string, args: Record<string, string> = {}, options: RunOptions = {}): Promise<TaskResult> {
    let prompt: string;
    try {
      prompt = this.skillRegistry.render(name, args);
    } catch (error) {
      throw asInvalidInput(error);
    }
    const skillConfig = this.skillRegistry.get(name)?.config;
    return this.run(prompt, { ...options, config: { ...(skillConfig ?? {}), ...(options.config ?? {}) } });
  }

  /** The skills chains and `runSkill` use. */
  get skills(): SkillRegistry {
    return this.skillRegistry;
  }

  /** The workflows `runWorkflow` uses. */
  get workflows(): WorkflowRegistry {
    return this.workflowRegistry;
  }

  private removeSlotWorktree(slotId: SlotId): void {
    this.worktreeManager?.removeSlot(slotId).catch((error: unknown) => {
      process.emitWarning(`could not remove the worktree of ${slotId}: ${String(error)}`, 'ClaudePoolWarning');
    });
  }

  private waitForChainEnd(id: TaskId): Promise<TaskRecord> {
    return this.waitForTask(id, (task) => FINAL_TASK_STATES.includes(task.state)).then(async (record) => {
      await this.projection.flush();
      return record;
    });
  }

  // ---------------------------------------------------------------- pool

  /** Slot and task counts, spend and shutdown flag. */
  status(): PoolStatus {
    const status = this.observer.current.status;
    return this.closing && !status.shutdown ? { ...status, shutdown: true } : status;
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
    const queued = options.queued ?? 'cancel';
    // From now on only the steps of chains already running are admitted.
    this.closing = true;
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            this.stopEverything();
          }, options.timeoutMs);
    try {
      // Chains submit their steps to the pool: let them end first (finish), or stop them after their current
      // step (cancel), so no step is submitted to a pool that has stopped.
      const chains = [...this.chainActors.values()].filter((actor) => actor.getSnapshot().status === 'active');
      if (queued === 'cancel') {
        // Cancelled chains submit no further step; the step they are on ends with the pool's running work.
        for (const actor of chains) actor.send({ type: 'CANCEL', immediate: false });
      } else {
        await Promise.all(chains.map((actor) => this.waitForChainEnd(actor.id)));
      }
      this.actor.send({ type: 'DRAIN', queued });
      if (timedOut) this.actor.send({ type: 'FORCE_STOP' });
      await firstValueFrom(this.snapshots().pipe(filter((snapshot) => snapshot.matches('stopped'))));
      await Promise.all(chains.map((actor) => this.waitForChainEnd(actor.id)));
    } finally {
      clearTimeout(timer);
    }
    await this.waitForSlots((slots) => slots.every((slot) => slot.state === 'stopped'));
    await Promise.all([...this.liveRuns.values()]);
    try {
      await this.worktreeManager?.cleanupAll();
    } catch (error) {
      // The pool has stopped either way; what could not be removed is reported, not thrown.
      process.emitWarning(`drain could not remove every worktree: ${String(error)}`, 'ClaudePoolWarning');
      this.storeErrors.push(error);
    }
    await this.projection.flush();
    let totalCostMicrodollars = this.retiredTotals.costMicrodollars;
    let totalTasksCompleted = this.retiredTotals.tasksCompleted;
    for (const slot of this.projection.slots.values()) {
      totalCostMicrodollars += slot.costMicrodollars;
      totalTasksCompleted += slot.tasksCompleted;
    }
    return { totalCostMicrodollars, totalTasksCompleted, cancelledTasks: [...this.context().drainCancelled] };
  }

  /** The drain timeout ran out: chains are cancelled with their running step, running tasks are killed. */
  private stopEverything(): void {
    for (const actor of this.chainActors.values()) {
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'CANCEL', immediate: true });
    }
    if (!this.actor.getSnapshot().matches('running')) this.actor.send({ type: 'FORCE_STOP' });
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

  /** Counts, spend and timing of this session's tasks (those matching `filter`); see `computeSessionMetrics`. */
  sessionMetrics(filter?: MetricsFilter): SessionMetrics {
    return computeSessionMetrics([...this.projection.tasks.values()], filter, this.createdAtMs, Date.now());
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

  /**
   * Adds `count` slots (ids `slot-N` after the highest in use, with `config` or the default); resolves with
   * the new slot count. Scale calls run one at a time, in call order.
   */
  scaleUp(count: number, config: SlotConfig = {}): Promise<number> {
    return this.serialised(() => this.scaleUpNow(count, config));
  }

  /**
   * Removes `count` slots: idle ones first, least used first (newest first on a tie), then errored, then
   * busy ones. A busy slot chosen is Retiring: it finishes its task, then stops and is removed. Resolves with
   * the new slot count (Retiring slots no longer count). Scale calls run one at a time, in call order.
   */
  scaleDown(count: number): Promise<number> {
    return this.serialised(() => this.scaleDownNow(count));
  }

  /** Scales up or down to `target` slots; resolves with the new count. Serialised with the other scale calls. */
  setTargetSlots(target: number): Promise<number> {
    return this.serialised(async () => {
      this.checkOpen();
      checkCount(target);
      const current = activeSlotIds(this.context()).length;
      if (target > current) return this.scaleUpNow(target - current, {});
      if (target < current) return this.scaleDownNow(current - target);
      return current;
    });
  }

  private async scaleUpNow(count: number, config: SlotConfig): Promise<number> {
    this.checkOpen();
    checkCount(count);
    validateSlotConfig(config);
    const current = activeSlotIds(this.context()).length;
    if (count === 0) return current;
    const max = this.poolConfig.scaling.maxSlots;
    if (current + count > max) {
      throw new ScaleLimitExceeded(`cannot scale up to ${current + count} slots: exceeds max_slots (${max})`);
    }
    const slots: SlotSpec[] = [];
    for (const id of nextSlotIds(this.context(), count)) {
      const worktreePath = this.poolConfig.worktreeIsolation ? await this.worktreeManager?.createForSlot(id) : undefined;
      slots.push({ id, config, worktreePath });
    }
    this.actor.send({ type: 'SCALE_UP', slots });
    await this.projection.flush();
    return activeSlotIds(this.context()).length;
  }

  private async scaleDownNow(count: number): Promise<number> {
    this.checkOpen();
    checkCount(count);
    const current = activeSlotIds(this.context()).length;
    if (count === 0) return current;
    const min = this.poolConfig.scaling.minSlots;
    const target = Math.max(0, current - count);
    if (target < min) {
      throw new ScaleLimitExceeded(`cannot scale down to ${target} slots: below min_slots (${min})`);
    }
    this.actor.send({ type: 'SCALE_DOWN', count: Math.min(count, current) });
    await this.projection.flush();
    return activeSlotIds(this.context()).length;
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

  // ---------------------------------------------------------------- observation

  /** Messages sent to a slot as they are sent (every message when no slot is given). */
  messages$(slotId?: SlotId): Observable<Message> {
    if (slotId === undefined) return this.observer.events$.pipe(
      filter((event): event is Extract<PoolEvent, { type: 'message.sent' }> => event.type === 'message.sent'),
      map((event) => event.message),
    );
    this.slotRecord(slotId);
    return this.observer.messagesTo$(slotId);
  }

  /** Every text chunk agents stream, tagged with task and slot (delivered synchronously, in order). */
  get output$(): Observable<OutputChunk> {
    return this.output.asObservable();
  }

  /** The whole pool as immutable snapshots: the current one on subscribe, then one per change. */
  get snapshot$(): Observable<PoolSnapshot> {
    return this.observer.snapshot$;
  }

  /**
   * The current state value of every actor: the supervisor with its slots and live tasks, then every chain.
   * For a live view (e.g. printed by the CLI while work runs).
   */
  describe(): ActorDescription[] {
    return [describeActors(this.actor), ...[...this.chainActors.values()].map((actor) => describeActors(actor))];
  }

  /** The pool as it is now (the latest snapshot), synchronously. */
  snapshot(): PoolSnapshot {
    return this.observer.current;
  }

  /** Every pool event: tasks, reviews, chain steps, slots, messages, budget, draining. */
  get events$(): Observable<PoolEvent> {
    return this.observer.events$;
  }

  /** The pool's status whenever a count, the spend or the phase changes. */
  get status$(): Observable<PoolStatus> {
    return this.observer.status$;
  }

  /** A task's records from now on, completing when it reaches a final state (PendingReview is not final). */
  task$(id: TaskId): Observable<TaskRecord> {
    if (!this.projection.tasks.has(id)) throw new TaskNotFound(id);
    return this.observer.task$(id);
  }

  /** A chain's progress from now on, completing when it has ended. */
  chain$(id: TaskId): Observable<ChainProgress> {
    if (!this.projection.chains.has(id)) throw new TaskNotFound(id);
    return this.observer.chain$(id);
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

  /**
   * A slot the pool removed (scale-down) may publish its final snapshot after the pool's own snapshot has
   * already dropped it; that late snapshot must not bring the record back into the projection and the store.
   */
  private isRemovedSlotSnapshot(event: InspectionEvent): boolean {
    if (event.type !== '@xstate.snapshot' || this.actor === undefined) return false;
    if ((event.actorRef as { logic?: { id?: unknown } }).logic?.id !== 'slot') return false;
    const record = (event.snapshot as { context?: { record?: SlotRecord } }).context?.record;
    return record?.state === 'stopped' && !(record.id in this.context().slots);
  }

  private context(): PoolContext {
    return this.actor.getSnapshot().context;
  }

  /** The supervisor's snapshots: the current one first, then each new one. */
  private snapshots(): Observable<ReturnType<Actor<typeof poolMachine>['getSnapshot']>> {
    return defer(() => concat(of(this.actor.getSnapshot()), from(this.actor)));
  }

  /** Throws `PoolShutdown` once the pool drains; the steps of chains already running (`internal`) still pass. */
  private checkOpen(internal = false): void {
    if (!this.actor.getSnapshot().matches('running') || (this.closing && !internal)) throw new PoolShutdown();
  }

  /** Validates and admits a task; returns its id once the supervisor has it. */
  private admit(
    prompt: string,
    options: SubmitOptions,
    review?: { reviewRequired: boolean; maxRejections: number },
    id: TaskId = newId('task'),
    internal = false,
  ): TaskId {
    validatePrompt(prompt);
    validateOverrides(options.config);
    validateTags(options.tags);
    if (options.workingDir !== undefined) validateDirectory(options.workingDir);
    this.checkOpen(internal);
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
      throw this.errorFromResult(result, record.slotId);
    }
    return result;
  }

  private errorFromResult(result: TaskResult, slotId?: SlotId): PoolError {
    const ledger = this.context().ledger;
    switch (result.errorCode) {
      case 'no_slot_available':
        return new NoSlotAvailable(this.poolConfig.slotAssignmentTimeoutSecs, result.output);
      case 'pool_shutdown':
        return new PoolShutdown();
      case 'budget_exhausted':
        return new BudgetExhausted(ledger.spentMicrodollars, ledger.limitMicrodollars ?? 0);
      case 'permission_prompt_detected': {
        const tool = /^permission prompt detected: (\S+)\./.exec(result.output)?.[1] ?? 'unknown';
        return new PermissionPromptDetected(tool, slotId ?? '', result.stderr ?? '');
      }
      case 'task_budget_exceeds_remaining': {
        const amounts = /\$(\d+(?:\.\d+)?) exceeds remaining pool budget \$(\d+(?:\.\d+)?)/.exec(result.output);
        return new TaskBudgetExceedsRemaining(Number(amounts?.[1] ?? 0), Number(amounts?.[2] ?? 0));
      }
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
    return new Promise((resolve) => {
      const remove = this.taskListeners.add(id, (record) => {
        if (!predicate(record)) return;
        remove();
        resolve(record);
      });
    });
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
    if (messages.length > 0) this.deliveredMessages.set(job.taskId, messages);
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

  private onRunExit(slotId: SlotId, taskId: TaskId, outcome: RunOutcome): void {
    // Messages handed to a run that never started go back to the slot's inbox.
    const delivered = this.deliveredMessages.get(taskId);
    this.deliveredMessages.delete(taskId);
    if (delivered && outcome.kind === 'spawn_failed') this.messages.restore(slotId, delivered);
    this.liveRunEnds.get(taskId)?.();
    this.liveRunEnds.delete(taskId);
    this.liveRuns.delete(taskId);
  }

  private onAgentEvent(slotId: SlotId, taskId: TaskId, event: AgentEvent): void {
    if (event.type !== 'text') return;
    this.outputListeners.emit(taskId, event.text);
    this.output.next({ taskId, slotId, text: event.text });
  }
}

/** Turns a registry's typed error (skill or workflow) into `InvalidInput`, keeping its message. */
function asInvalidInput(error: unknown): PoolError {
  if (error instanceof PoolError) return error;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'not_found') return new PoolError('not_found', error.message);
    return new InvalidInput(error.message);
  }
  return new InvalidInput(String(error));
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0) throw new InvalidInput(`count must be an integer >= 0, got ${count}`);
}
