/**
 * A cluster node: a local `Pool` joined to a cluster through Redis and BullMQ. Several nodes started with the
 * same Redis and queue name form one pool:
 *
 * - a task submitted on any node becomes a BullMQ job in one FIFO queue, and its record lives in Redis;
 * - each node's BullMQ worker takes jobs (as many at once as it has slots) and runs them on its local pool,
 *   under the task's id; the slot and task actors stay local, and their record changes (and streamed text) are
 *   written to Redis and published, so `task`, `result`, `task$`, `output$`, `events$` and `status` on any node
 *   see the whole cluster;
 * - the budget is one ledger in Redis, reserved and settled by Lua scripts (`ledger.ts`);
 * - cancel and review go to the node that holds the task (`control.ts`); a queued task is removed from the
 *   queue;
 * - a node that dies leaves its jobs' locks to expire: BullMQ's stalled-job check puts them back in the queue,
 *   and the node that takes one applies the interrupted-run policy (`interrupted.ts`).
 */
import { newTaskRecord } from '../pool/new-records.js';
import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { concatMap, filter, firstValueFrom, from, interval, map, Observable, of, Subject, take, takeWhile } from 'rxjs';
import type {
  ChainProgress,
  ChainResult,
  ChainStep,
  Message,
  TaskFilter,
  TaskId,
  TaskOverrides,
  TaskRecord,
  TaskResult,
} from '../../machines/types.js';
import { admissionRefusal, usdToMicrodollars } from '../../machines/budget.js';
import { InvalidInput, InvalidTaskState, PoolError, SlotNotFound, TaskNotFound } from '../errors.js';
import { newId } from '../ids.js';
import type { InterruptedRunPolicy } from '../restore.js';
import { errorForRefusal, resultOfError, resultOrThrow } from '../pool/failure-errors.js';
import type { Pool } from '../pool/pool.js';
import { chainResultOfRecord, skillRun, submitEach, workflowSteps } from '../pool/chains.js';
import type { FanOutChainOutcome } from '../pool/options.js';
import { ClusterChainProgress } from './chain-progress.js';
import { ClusterChains, type ClusterChainOptions } from './chains.js';
import { endOrphanedTask, type OrphanDeps } from './interrupted.js';
import { whenReady } from './connection.js';
import { currentThenChanges } from './live.js';
import { ControlChannel, type ControlRequest } from './control.js';
import { clusterKeys, type ClusterKeys } from './keys.js';
import { ClusterLedger, type LedgerState } from './ledger.js';
import { Membership, type NodeInfo } from './membership.js';
import { ClusterRecords, FINAL_STATES } from './records.js';
import { ClusterOutput } from './output.js';
import { JobRunner, type JobData } from './runner.js';
import { adoptQueuedRecord } from './adopt.js';

/** How a node joins a cluster. */
export interface ClusterOptions {
  /** The Redis server, as a `redis://` URL. */
  redis: string;
  /** The cluster's name: nodes with the same Redis and queue name form one pool. */
  queue: string;
  /** This node's id (default: host, pid and a random suffix). */
  nodeId?: string;
  /**
   * The cluster's spend cap in microdollars. The first node to join sets the ledger's settings; later nodes
   * keep them. Default: the local pool's `budgetMicrodollars` (build a node's pool without one: the cluster's
   * ledger is the one that bounds what the cluster spends).
   */
  budgetMicrodollars?: number;
  /** What the node that takes over a dead node's running task does with it: `fail` (default) or `requeue`. */
  interruptedRuns?: InterruptedRunPolicy;
  /** How long a job's lock lasts without renewal: a dead node's jobs are taken over after it (default 30 s). */
  lockDurationMs?: number;
  /** How often each node looks for jobs whose lock has expired (default 30 s). */
  stalledIntervalMs?: number;
  /** How often a node refreshes its heartbeat; it counts as gone after three missed (default 5 s). */
  heartbeatMs?: number;
  /** `false`: this node only submits and observes, it takes no jobs (default true). */
  work?: boolean;
}

/** The cluster as one node sees it. */
export interface ClusterStatus {
  queue: string;
  nodes: NodeInfo[];
  budget: LedgerState;
  /** Jobs waiting for a slot, and jobs being run, cluster-wide. */
  waiting: number;
  active: number;
}

/** Options of a submission. */
export interface ClusterSubmitOptions {
  config?: TaskOverrides;
  tags?: string[];
  workingDir?: string;
  /** The result must be approved (it ends in PendingReview); at most this many rejections. */
  review?: { maxRejections: number };
}

/** A pool joined to a cluster. */
export class ClusterNode {
  /**
   * Joins `pool` to the cluster. The pool should take its work from the cluster only (submit through the
   * node): the node's worker takes as many jobs at once as the pool has slots.
   */
  static async join(pool: Pool, options: ClusterOptions): Promise<ClusterNode> {
    if (typeof options.queue !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(options.queue)) {
      throw new InvalidInput(
        `queue must be a name of letters, digits, '.', '_' or '-', got ${JSON.stringify(options.queue)}`,
      );
    }
    if (options.nodeId !== undefined && (typeof options.nodeId !== 'string' || !/^[^/\s]+$/.test(options.nodeId))) {
      throw new InvalidInput(
        `nodeId must be a non-empty name without '/' or spaces, got ${JSON.stringify(options.nodeId)}`,
      );
    }
    if (options.interruptedRuns !== undefined && !['fail', 'requeue'].includes(options.interruptedRuns)) {
      throw new InvalidInput(
        `interruptedRuns must be 'fail' or 'requeue', got ${JSON.stringify(options.interruptedRuns)}`,
      );
    }
    if (typeof options.redis !== 'string' || !/^rediss?:\/\/\S+$/.test(options.redis)) {
      throw new InvalidInput(`redis must be a redis:// or rediss:// URL, got ${JSON.stringify(options.redis)}`);
    }
    const node = new ClusterNode(pool, options);
    try {
      await node.reachable();
      await node.start();
    } catch (error) {
      node.disconnect();
      throw error;
    }
    return node;
  }

  /** This node's id. */
  readonly nodeId: string;
  /** The local pool this node runs jobs on. */
  readonly pool: Pool;
  private readonly keys: ClusterKeys;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly queue: Queue<JobData>;
  private worker?: Worker<JobData>;
  /** Connections BullMQ was given (it leaves closing them to their owner). */
  private readonly bullConnections: Redis[] = [];
  private readonly records: ClusterRecords;
  private readonly ledger: ClusterLedger;
  private readonly membership: Membership;
  private readonly control: ControlChannel;
  private readonly runner: JobRunner;
  private readonly chains: ClusterChains;
  private readonly chainProgress = new Subject<ChainProgress>();
  private readonly progressStore: ClusterChainProgress;
  private readonly output: ClusterOutput;
  private readonly changes = new Subject<TaskRecord>();
  private readonly settled = new Subject<void>();
  private left?: Promise<void>;

  private constructor(
    pool: Pool,
    private readonly options: ClusterOptions,
  ) {
    this.pool = pool;
    this.nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${newId('pool').slice(5, 11)}`;
    this.keys = clusterKeys(options.queue);
    const connect = () => {
      const connection = new Redis(options.redis, { maxRetriesPerRequest: null });
      // A lost connection is retried by ioredis; the commands it could not run reject to their callers.
      connection.on('error', () => {});
      return connection;
    };
    this.redis = connect();
    this.subscriber = connect();
    const queueConnection = connect();
    this.bullConnections.push(queueConnection);
    this.queue = new Queue<JobData>(options.queue, { connection: queueConnection });
    // Its connection's errors are the connection's (handled above); BullMQ re-emits them here.
    this.queue.on('error', () => {});
    this.records = new ClusterRecords(this.redis, this.keys);
    this.ledger = new ClusterLedger(this.redis, this.keys);
    this.progressStore = new ClusterChainProgress(this.redis, this.keys);
    const heartbeatMs = options.heartbeatMs ?? 5000;
    this.membership = new Membership(this.redis, this.keys, this.nodeId, heartbeatMs, () => ({
      slots:
        options.work === false
          ? []
          : this.pool.slots().map(({ id, state, currentTask, tasksCompleted, costMicrodollars }) => ({
              id,
              state,
              currentTask,
              tasksCompleted,
              costMicrodollars,
            })),
      activeJobs: this.runner.active,
    }));
    this.control = new ControlChannel(this.redis, this.keys.controlChannel, this.nodeId, (request) =>
      this.handleControl(request),
    );
    this.runner = new JobRunner({
      nodeId: this.nodeId,
      pool,
      redis: this.redis,
      keys: this.keys,
      records: this.records,
      ledger: this.ledger,
      membership: this.membership,
      policy: options.interruptedRuns ?? 'fail',
      heartbeatMs,
      settled$: this.settled,
      changes$: this.changes,
    });
    this.output = new ClusterOutput({
      pool,
      redis: this.redis,
      subscriber: this.subscriber,
      keys: this.keys,
      holds: (id) => this.runner.holds(id),
      task$: (id) => this.task$(id),
    });
    this.chains = new ClusterChains({
      skills: pool.skills,
      records: this.records,
      progress: this.progressStore,
      submitStep: ({ chainId, prompt, config, workingDir, pinned }) =>
        this.enqueue(prompt, { config, workingDir, tags: [chainId] }, newId('task'), pinned),
      waitForFinal: (taskId) => this.waitForFinal(taskId),
      cancelTask: (taskId) => this.cancel(taskId),
      subscribeOutput: (taskId, onChunk) => {
        const subscription = this.output$(taskId).subscribe({ next: onChunk, error: () => {} });
        return () => subscription.unsubscribe();
      },
      claim: async (chainId) => {
        await this.redis.hset(this.keys.owners, chainId, this.nodeId);
      },
      worktrees: () => pool.chainWorkspaces(),
      runsSteps: options.work !== false,
    });
  }

  /** Resolves once Redis answers; rejects with `InvalidInput` at the first failed attempt to connect. */
  private async reachable(): Promise<void> {
    try {
      // The subscriber too: a subscription sent before its connection is ready is lost (`connection.ts`).
      await Promise.all([whenReady(this.redis), whenReady(this.subscriber)]);
    } catch (error) {
      throw new InvalidInput(`cannot reach Redis at ${this.options.redis}: ${(error as Error).message}`);
    }
  }

  /** Drops every connection at once (a node that could not join). */
  private disconnect(): void {
    this.runner.stop();
    this.output.stop();
    this.subscriber.disconnect();
    this.redis.disconnect();
    for (const connection of this.bullConnections) connection.disconnect();
  }

  private async start(): Promise<void> {
    const config = this.pool.config();
    await this.ledger.init({
      limitMicrodollars: this.options.budgetMicrodollars ?? config.budgetMicrodollars,
      floorMicrodollars: config.minTaskReserveMicrodollars,
      defaultReserveMicrodollars: config.defaultTaskReserveMicrodollars,
    });
    this.subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
    await this.subscriber.subscribe(
      this.keys.taskChannel,
      this.keys.chainChannel,
      this.keys.settledChannel,
      this.keys.controlChannel,
      this.keys.contextChannel,
    );
    for (const [key, value] of Object.entries(await this.redis.hgetall(this.keys.context))) {
      this.pool.setContext(key, value);
    }
    await this.membership.start();
    if (this.options.work === false) return;
    const lockDuration = this.options.lockDurationMs ?? 30_000;
    const workerConnection = new Redis(this.options.redis, { maxRetriesPerRequest: null });
    workerConnection.on('error', () => {});
    this.bullConnections.push(workerConnection);
    this.worker = new Worker<JobData>(
      this.options.queue,
      (job: Job<JobData>, token?: string) => this.runner.process(job, token),
      {
        connection: workerConnection,
        concurrency: this.pool.slots().length,
        lockDuration,
        stalledInterval: this.options.stalledIntervalMs ?? 30_000,
        // The interrupted-run policy, not BullMQ, decides what a stalled job becomes: BullMQ only hands it on.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 0 },
      },
    );
    // A node whose pool is scaled takes as many jobs at once as it now has slots.
    const worker = this.worker;
    const follow = () => {
      worker.concurrency = Math.max(1, this.pool.slots().length);
    };
    this.pool.records.slotChanged$.subscribe(follow);
    this.pool.records.slotRemoved$.subscribe(follow);
    this.worker.on('error', () => {
      // Connection errors are retried by ioredis; a job whose lock was lost is handled by the policy.
    });
    await this.worker.waitUntilReady();
  }

  private receive(channel: string, message: string): void {
    if (channel === this.keys.taskChannel) this.changes.next(JSON.parse(message) as TaskRecord);
    else if (channel === this.keys.chainChannel) this.chainProgress.next(JSON.parse(message) as ChainProgress);
    else if (channel === this.keys.settledChannel) this.settled.next();
    else if (channel === this.keys.controlChannel) this.control.receive(message);
    else if (channel === this.keys.contextChannel) {
      const change = JSON.parse(message) as { key: string; value?: string };
      if (change.value === undefined) this.pool.deleteContext(change.key);
      else this.pool.setContext(change.key, change.value);
    } else this.output.receive(channel, message);
  }

  /** Queues a prompt in the cluster; resolves with its task id once the job is in the queue. */
  submit(prompt: string, options: ClusterSubmitOptions = {}): Promise<TaskId> {
    return this.enqueue(prompt, options, newId('task'));
  }

  /** Runs a prompt on an idle slot of any node and resolves with its result (throws like `Pool.run`). */
  async run(prompt: string, options: ClusterSubmitOptions = {}): Promise<TaskResult> {
    const id = await this.submit(prompt, options);
    return resultOrThrow(await this.waitForFinal(id), this.pool.config().slotAssignmentTimeoutSecs);
  }

  /**
   * Runs every prompt on the cluster in parallel; resolves with every result in input order, failures included
   * (a task refused or cancelled gives a failed result with the error's message, as `Pool.fanOut` does).
   */
  async fanOut(prompts: string[], options: ClusterSubmitOptions = {}): Promise<TaskResult[]> {
    if (!Array.isArray(prompts)) throw new InvalidInput('prompts must be a list of strings');
    return Promise.all(
      prompts.map(async (prompt) => {
        try {
          return await this.run(prompt, options);
        } catch (error) {
          if (error instanceof PoolError) return resultOfError(error);
          throw error;
        }
      }),
    );
  }

  /**
   * Admits a task and queues it for any node; a `pinned` one (an isolated chain's step) is run by this node
   * instead, without the queue.
   */
  private async enqueue(prompt: string, options: ClusterSubmitOptions, id: TaskId, pinned = false): Promise<TaskId> {
    const record = newTaskRecord(prompt, options, id);
    const ledger = await this.ledger.read();
    const cap = options.config?.maxBudgetUsd;
    const refusal = admissionRefusal(
      { ...ledger, reservations: {} },
      cap === undefined ? undefined : usdToMicrodollars(cap),
      this.pool.config().minTaskReserveMicrodollars,
    );
    if (refusal) throw errorForRefusal(refusal);
    if (pinned) {
      // Run here, without the queue: its node holds it from the start (if this node dies, its chain does too).
      await this.records.put(record);
      void this.runner.runPinned(record);
      return id;
    }
    // The job first (it carries the record): a submitter that dies before the record is written leaves a job
    // that a node takes, or a reader adopts (`adopt.ts`), and never a record without a job.
    await this.queue.add('task', { record }, { jobId: id, removeOnComplete: true, removeOnFail: true });
    await this.records.create(record);
    return id;
  }

  /**
   * A task's record, from anywhere in the cluster (`TaskNotFound` for an unknown id). A queued task whose record
   * was never written (its submitter died) gets the one its job carries.
   */
  async task(id: TaskId): Promise<TaskRecord> {
    const record = (await this.records.get(id)) ?? (await adoptQueuedRecord(this.queue, this.records, id));
    if (!record) throw new TaskNotFound(id);
    return record;
  }

  /** The id of the node that holds the task (took it, runs or ran it); `undefined` until a node takes it. */
  async nodeOf(id: TaskId): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.owners, id)) ?? undefined;
  }

  /** The task's result once it has one (Completed, Failed, PendingReview); `undefined` before. */
  async result(id: TaskId): Promise<TaskResult | undefined> {
    const record = await this.task(id);
    return record.state === 'pending' || record.state === 'running' ? undefined : record.result;
  }

  /** Every task record of the cluster matching the filter, oldest first. */
  listTasks(filterBy?: TaskFilter): Promise<TaskRecord[]> {
    return this.records.list(filterBy);
  }

  /** Every task record change anywhere in the cluster, from now on. */
  get events$(): Observable<TaskRecord> {
    return this.changes.asObservable();
  }

  /**
   * A task's records: the current one, then every change anywhere in the cluster, completing when it reaches
   * a final state (PendingReview is not final).
   */
  task$(id: TaskId): Observable<TaskRecord> {
    return currentThenChanges(this.changes.pipe(filter((record) => record.id === id)), () => this.task(id)).pipe(
      takeWhile((record) => !FINAL_STATES.includes(record.state), true),
    );
  }

  /**
   * The text a task's current run streams, wherever it runs (`output.ts`): what it has streamed so far (one
   * chunk), then each new chunk, exactly once and in order, completing when the run ends (PendingReview or
   * final). Errors with `TaskNotFound` for an unknown id.
   */
  output$(id: TaskId): Observable<string> {
    return this.output.output$(id);
  }

  /** Resolves with the task's record once it has ended (Completed, Failed or Cancelled). */
  async waitForFinal(id: TaskId): Promise<TaskRecord> {
    const ended = this.waitFor(id, (record) => FINAL_STATES.includes(record.state));
    const record = await this.task(id);
    if (FINAL_STATES.includes(record.state)) return ended;
    const holder = await this.redis.hget(this.keys.owners, id);
    if (holder === this.nodeId) return ended;
    // If the node that holds it goes: a chain ends as interrupted; a task that no job carries any more (a
    // rejected task's rerun, a cancel cut short) goes to the interrupted-run policy or is recorded cancelled.
    const end = () =>
      record.kind === 'chain'
        ? holder === null
          ? Promise.resolve()
          : this.interruptChain(id, holder)
        : endOrphanedTask(this.orphanDeps(), id);
    const watch = (holder === null ? of(undefined) : this.gone(holder)).subscribe(() => void end().catch(() => {}));
    try {
      return await ended;
    } finally {
      watch.unsubscribe();
    }
  }

  private orphanDeps(): OrphanDeps {
    return {
      queue: this.queue,
      membership: this.membership,
      records: this.records,
      ledger: this.ledger,
      redis: this.redis,
      keys: this.keys,
      policy: this.options.interruptedRuns ?? 'fail',
    };
  }

  /** Records a chain whose node has gone as failed (interrupted), unless it has ended meanwhile. */
  private async interruptChain(id: TaskId, coordinator: string): Promise<void> {
    const record = await this.task(id);
    if (record.state !== 'running' && record.state !== 'pending') return;
    // Its progress first, so a reader that sees the record ended finds the progress ended too.
    const progress = await this.progressStore.get(id);
    if (progress?.status === 'running') {
      const {
        currentStep: _step,
        currentStepName: _name,
        currentStepPartialOutput: _partial,
        currentStepStartedAt: _started,
        ...rest
      } = progress;
      await this.progressStore.put({ ...rest, status: 'failed' });
    }
    const now = Date.now();
    await this.records.put(
      {
        ...record,
        state: 'failed',
        completedAtMs: now,
        result: {
          output: `the chain was interrupted: node ${coordinator} stopped while it was running`,
          success: false,
          costMicrodollars: record.result?.costMicrodollars ?? 0,
          turnsUsed: 0,
          elapsedMs: now - (record.startedAtMs ?? record.createdAtMs),
          errorCode: 'interrupted',
          failure: { kind: 'interrupted' },
        },
      },
      ['running', 'pending'],
    );
    // As on a restart, the steps it had queued or running go with it.
    const steps = await this.records.list({ tags: [id] });
    await Promise.all(
      steps.filter((step) => !FINAL_STATES.includes(step.state)).map((step) => this.cancel(step.id).catch(() => {})),
    );
  }

  /**
   * Submits a chain; returns its `chain-…` id. The chain's actor runs on this node; each step is a cluster task
   * that runs on any node (see `chains.ts`); with `isolation: 'worktree'` or `'clone'` every step runs here, in
   * the chain's worktree or clone.
   */
  submitChain(steps: ChainStep[], options: ClusterChainOptions = {}): Promise<TaskId> {
    return this.chains.submit(steps, options);
  }

  /** Resolves with the chain's result once it has ended (completed, failed or cancelled). */
  async waitForChain(id: TaskId): Promise<ChainResult> {
    const record = await this.task(id);
    if (record.kind !== 'chain') throw new InvalidInput(`${id} is a task, not a chain`);
    const final = await this.waitForFinal(id);
    return chainResultOfRecord(final, (await this.progressStore.get(id))?.completedSteps);
  }

  /**
   * A chain's progress, from anywhere in the cluster: its current step (with the text that step has streamed
   * so far), the steps done and its status. `TaskNotFound` for an unknown id, `InvalidInput` for a task's.
   */
  async chainProgressOf(id: TaskId): Promise<ChainProgress> {
    const progress = await this.progressStore.get(id);
    if (progress) return progress;
    const record = await this.task(id);
    throw new InvalidInput(`${id} is a ${record.kind ?? 'task'}, not a chain`);
  }

  /** A chain's progress, the current one and then each change anywhere in the cluster, until it has ended. */
  chain$(id: TaskId): Observable<ChainProgress> {
    return currentThenChanges(this.chainProgress.pipe(filter((progress) => progress.chainId === id)), () =>
      this.chainProgressOf(id),
    ).pipe(takeWhile((progress) => progress.status === 'running', true));
  }

  /** The progress of every chain of the cluster, oldest first. */
  async listChainProgress(): Promise<ChainProgress[]> {
    return this.progressStore.getMany(await this.redis.zrange(this.keys.taskOrder, 0, -1));
  }

  /** Submits every chain; one bad chain does not stop the others. Outcomes are in input order. */
  fanOutChains(chains: ChainStep[][], options: ClusterChainOptions = {}): Promise<FanOutChainOutcome[]> {
    return submitEach(chains, (steps) => this.submitChain(steps, options));
  }

  /** Instantiates a registered workflow (the node's pool's) with its arguments and starts it as a cluster chain. */
  runWorkflow(name: string, args: Record<string, string> = {}, options: ClusterChainOptions = {}): Promise<TaskId> {
    return this.submitChain(workflowSteps(this.pool.workflows, name, args), options);
  }

  /**
   * Renders a registered skill (the node's pool's) with its arguments and runs it on any node (the skill's
   * config, then `options.config`); resolves with its result like `run`.
   */
  runSkill(name: string, args: Record<string, string> = {}, options: ClusterSubmitOptions = {}): Promise<TaskResult> {
    const { prompt, config } = skillRun(this.pool.skills, name, args, options.config);
    return this.run(prompt, { ...options, config });
  }

  /**
   * Cancels a chain from any node: its remaining steps are skipped; the running step finishes (its result
   * kept), or with `immediate` is killed. Resolves once the chain's node has taken the cancel (with
   * `immediate`: once the chain has ended).
   */
  async cancelChain(id: TaskId, options: { immediate?: boolean } = {}): Promise<void> {
    const record = await this.task(id);
    if (record.kind !== 'chain') throw new InvalidInput(`${id} is a task, not a chain`);
    if (FINAL_STATES.includes(record.state)) return;
    const immediate = options.immediate === true;
    const coordinator = await this.redis.hget(this.keys.owners, id);
    if (coordinator === this.nodeId) this.chains.cancel(id, immediate);
    else if (coordinator !== null && (await this.membership.isAlive(coordinator))) {
      await this.control.ask(coordinator, id, { kind: 'cancel-chain', immediate }, this.gone(coordinator));
    } else if (coordinator !== null) {
      await this.interruptChain(id, coordinator);
    }
    if (immediate) await this.waitForFinal(id);
  }

  /** Resolves with the task's record once `predicate` holds for it. */
  waitFor(id: TaskId, predicate: (record: TaskRecord) => boolean): Promise<TaskRecord> {
    return firstValueFrom(this.task$(id).pipe(filter(predicate)));
  }

  /**
   * Cancels a task wherever it is: a queued job is removed from the queue and the task recorded cancelled; a
   * running task's node kills its process; a task in review is cancelled. Resolves once the task has ended.
   */
  async cancel(id: TaskId): Promise<void> {
    const record = await this.task(id);
    if (FINAL_STATES.includes(record.state)) return;
    if (record.kind === 'chain') return this.cancelChain(id, { immediate: true });
    await this.redis.sadd(this.keys.cancelled, id);
    const ended = this.waitForFinal(id);
    if (record.state === 'pending') {
      const job = await this.queue.getJob(id);
      // A job a worker holds is locked and stays; its node cancels it (below).
      const removed =
        job === undefined
          ? true
          : await job.remove().then(
              () => true,
              () => false,
            );
      if (removed) await this.records.put(cancelledRecord(record), ['pending']);
    }
    const owner = await this.redis.hget(this.keys.owners, id);
    const current = await this.task(id);
    if (current.state === 'pending_review' && owner && !(await this.membership.isAlive(owner))) {
      // The node that ran it is gone: nothing runs, the record alone changes.
      await this.records.put(cancelledRecord(current), ['pending_review']);
    }
    if (!FINAL_STATES.includes(current.state)) await this.control.broadcast(id, { kind: 'cancel' });
    await ended;
  }

  /** Approves a task in PendingReview, from any node: it becomes Completed. */
  async approveResult(id: TaskId): Promise<void> {
    const record = await this.reviewed(id);
    const owner = await this.redis.hget(this.keys.owners, id);
    if (owner && (await this.membership.isAlive(owner))) {
      await this.control.ask(owner, id, { kind: 'approve' }, this.gone(owner));
      await this.waitFor(id, (task) => task.state !== 'pending_review');
      return;
    }
    // The node that ran it is gone: approving only changes the record.
    const approved: TaskRecord = { ...record, state: 'completed', completedAtMs: Date.now() };
    if (!(await this.records.put(approved, ['pending_review']))) {
      const now = await this.task(id);
      throw new InvalidTaskState(id, now.state, 'pending review');
    }
  }

  /**
   * Rejects a task in PendingReview, from any node: it runs again with the feedback on the node that ran it
   * (its session is there), or fails at its last rejection.
   */
  async rejectResult(id: TaskId, feedback: string): Promise<void> {
    if (typeof feedback !== 'string') throw new InvalidInput('feedback must be a string');
    const record = await this.reviewed(id);
    const owner = await this.redis.hget(this.keys.owners, id);
    if (!owner || !(await this.membership.isAlive(owner))) {
      throw new InvalidTaskState(id, record.state, 'held by a live node (the node that ran it has left)');
    }
    await this.control.ask(owner, id, { kind: 'reject', feedback }, this.gone(owner));
    await this.waitFor(id, (task) => task.rejectionCount > record.rejectionCount || FINAL_STATES.includes(task.state));
  }

  private async reviewed(id: TaskId): Promise<TaskRecord> {
    const record = await this.task(id);
    if (record.state !== 'pending_review') throw new InvalidTaskState(id, record.state, 'pending review');
    return record;
  }

  /** Emits once `nodeId`'s heartbeat has expired (checked once per heartbeat while subscribed). */
  private gone(nodeId: string): Observable<void> {
    return interval(this.options.heartbeatMs ?? 5000).pipe(
      concatMap(() => from(this.membership.isAlive(nodeId))),
      filter((alive) => !alive),
      take(1),
      map(() => undefined),
    );
  }

  private async handleControl(request: ControlRequest): Promise<unknown> {
    const { taskId, action } = request;
    switch (action.kind) {
      case 'cancel':
        return this.runner.cancelLocal(taskId);
      case 'cancel-chain':
        return this.chains.cancel(taskId, action.immediate);
      case 'approve':
        return this.pool.approveResult(taskId);
      case 'reject':
        return this.runner.rejectLocal(taskId, action.feedback);
      case 'message':
        return this.pool.deliverMessage(action.from, action.to, action.content).id;
      case 'read-messages':
        return action.keep ? this.pool.peekMessages(action.slotId) : this.pool.readMessages(action.slotId);
    }
  }

  /**
   * Sends a message between slots of any nodes (cluster slot ids: `node/slot-N`, as task records show them);
   * it is delivered into the recipient's next prompt. Returns the message id.
   */
  async sendMessage(from: string, to: string, content: string): Promise<string> {
    if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
    const sender = await this.clusterSlot(from);
    const recipient = await this.clusterSlot(to);
    const action = {
      kind: 'message' as const,
      from: `${sender.nodeId}/${sender.slotId}`,
      to: recipient.slotId,
      content,
    };
    return (await this.control.ask(recipient.nodeId, to, action, this.gone(recipient.nodeId))) as string;
  }

  /** Sends a message to every other slot of every live node; returns one id per recipient. */
  async broadcastMessage(from: string, content: string): Promise<string[]> {
    if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
    await this.clusterSlot(from);
    const recipients = (await this.membership.nodes()).flatMap((node) =>
      node.slots.filter((slot) => slot.state !== 'stopped').map((slot) => `${node.nodeId}/${slot.id}`),
    );
    return Promise.all(recipients.filter((to) => to !== from).map((to) => this.sendMessage(from, to, content)));
  }

  /** Removes and returns a slot's messages (a cluster slot id), oldest first. */
  readMessages(slotId: string): Promise<Message[]> {
    return this.messagesOf(slotId, false);
  }

  /** A slot's messages (a cluster slot id), left in place. */
  peekMessages(slotId: string): Promise<Message[]> {
    return this.messagesOf(slotId, true);
  }

  private async messagesOf(slotId: string, keep: boolean): Promise<Message[]> {
    const slot = await this.clusterSlot(slotId);
    const action = { kind: 'read-messages' as const, slotId: slot.slotId, keep };
    return (await this.control.ask(slot.nodeId, slotId, action, this.gone(slot.nodeId))) as Message[];
  }

  /** Splits a cluster slot id (`node/slot-N`) of a live node; `SlotNotFound` otherwise. */
  private async clusterSlot(id: string): Promise<{ nodeId: string; slotId: string }> {
    const cut = typeof id === 'string' ? id.lastIndexOf('/') : -1;
    if (cut <= 0) throw new SlotNotFound(String(id));
    const nodeId = id.slice(0, cut);
    const slotId = id.slice(cut + 1);
    const node = (await this.membership.nodes()).find((info) => info.nodeId === nodeId);
    if (!node?.slots.some((slot) => slot.id === slotId)) throw new SlotNotFound(id);
    return { nodeId, slotId };
  }

  /** Sets a shared-context entry on every node (injected into every task's system prompt). */
  async setContext(key: string, value: string): Promise<void> {
    if (typeof key !== 'string' || key === '' || typeof value !== 'string') {
      throw new InvalidInput('a context entry needs a non-empty string key and a string value');
    }
    await this.redis
      .multi()
      .hset(this.keys.context, key, value)
      .publish(this.keys.contextChannel, JSON.stringify({ key, value }))
      .exec();
  }

  /** Deletes a shared-context entry on every node. */
  async deleteContext(key: string): Promise<void> {
    await this.redis
      .multi()
      .hdel(this.keys.context, key)
      .publish(this.keys.contextChannel, JSON.stringify({ key }))
      .exec();
  }

  /** Every live node with its slots, the shared budget and the queue's counts. */
  async status(): Promise<ClusterStatus> {
    await this.membership.beat();
    const [nodes, budget, counts] = await Promise.all([
      this.membership.nodes(),
      this.ledger.read(),
      this.queue.getJobCounts('waiting', 'active', 'prioritized'),
    ]);
    return {
      queue: this.options.queue,
      nodes,
      budget,
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
    };
  }

  /**
   * Leaves the cluster: takes no more jobs, gives back the jobs still waiting here (for budget, or for a
   * previous node's run) to the head of the queue, waits for the runs this node has started to end, and closes
   * its connections. The local pool is left as it is (drain it after). Calling it again returns the same promise.
   */
  leave(): Promise<void> {
    this.left ??= (async () => {
      // The chains this node runs end with it (cancelled: their running steps are killed).
      await this.chains.cancelAll();
      this.runner.release();
      await this.worker?.close();
      await this.membership.stop();
      await this.closeConnections();
    })();
    return this.left;
  }

  private async closeConnections(): Promise<void> {
    this.runner.stop();
    this.output.stop();
    await this.worker?.close();
    await this.queue.close();
    this.changes.complete();
    this.chainProgress.complete();
    this.subscriber.disconnect();
    this.redis.disconnect();
    for (const connection of this.bullConnections) connection.disconnect();
  }
}

/** A record ended as cancelled before it ran. */
function cancelledRecord(record: TaskRecord): TaskRecord {
  return { ...record, state: 'cancelled', completedAtMs: Date.now() };
}
