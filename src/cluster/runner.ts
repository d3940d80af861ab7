/**
 * Running the cluster's jobs on the local pool. For each job a node's worker takes:
 *
 * 1. the node claims the task (`claim.ts`); while another live node holds it (that node's lock on the job was
 *    lost, the node was not), it waits for that node's run to end or for the node to go, so a task never runs
 *    twice at the same time;
 * 2. a task whose run began on a node that died (BullMQ found the job's lock expired and handed it on; its record
 *    says `running`, or the node had marked it started, `run-starts.ts`) goes to the interrupted-run policy:
 *    `fail` records it failed; `requeue` runs it again here. Only the worker holding the job's lock does this,
 *    so each interrupted task is handled once;
 * 3. a cancelled task is recorded cancelled;
 * 4. the run reserves its budget in the cluster ledger (waiting for running tasks to settle when the rule
 *    says so; a cancel or the node leaving ends the wait); the reservation is the run's cap (`maxBudgetUsd`);
 * 5. the task is marked started in Redis, then runs on the local pool under its own id; every change of its
 *    local record is written to Redis;
 * 6. when the run ends its real cost is settled and the job completes (a task in review stays with this node's
 *    actor: approval and rejection are sent here).
 */
import { WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  filter,
  firstValueFrom,
  from,
  map,
  race,
  ReplaySubject,
  Subject,
  type Observable,
  type Subscription,
} from 'rxjs';
import { budgetFailure, refusalText, usdToMicrodollars } from '../../machines/budget.js';
import { poolFailure } from '../../machines/failure.js';
import type { TaskId, TaskRecord } from '../../machines/types.js';
import { BudgetExhausted, InvalidTaskState, PoolShutdown } from '../errors.js';
import type { Pool } from '../pool/pool.js';
import type { InterruptedRunPolicy } from '../restore.js';
import { claimTask, returnClaim, unclaimTask } from './claim.js';
import type { ClusterKeys } from './keys.js';
import type { ClusterLedger } from './ledger.js';
import type { Membership } from './membership.js';
import { applyInterruptedRunPolicy } from './interrupted.js';
import { FINAL_STATES, type ClusterRecords } from './records.js';
import { clearStarted, markStarted, startedBy } from './run-starts.js';

/** Thrown out of a wait when the node gives its waiting jobs back. */
class Released extends Error {}

/** What a job carries: the task's record as submitted. */
export interface JobData {
  record: TaskRecord;
}

/** What the runner works with. */
export interface JobRunnerDeps {
  nodeId: string;
  pool: Pool;
  redis: Redis;
  keys: ClusterKeys;
  records: ClusterRecords;
  ledger: ClusterLedger;
  membership: Membership;
  policy: InterruptedRunPolicy;
  heartbeatMs: number;
  /** Emits after every settlement of the ledger anywhere in the cluster. */
  settled$: Observable<void>;
  /** Every record change in the cluster. */
  changes$: Observable<TaskRecord>;
}

/** Runs jobs on the local pool and keeps their records in Redis. */
export class JobRunner {
  /** Jobs this node holds now. */
  active = 0;
  /** The submitted record (with the user's config) of each cluster task the local pool has. */
  private readonly local = new Map<TaskId, TaskRecord>();
  private readonly mirror: Subscription;
  private readonly releasing = new ReplaySubject<void>(1);
  /** Cancels asked of tasks (a job waiting here for budget ends cancelled). */
  private readonly cancels = new Subject<TaskId>();
  /** Jobs this node is processing, by task. */
  private readonly inFlight = new Map<TaskId, Promise<void>>();

  constructor(private readonly deps: JobRunnerDeps) {
    // Every change of a cluster task's local record goes to Redis, in order (one connection, one script each).
    this.mirror = deps.pool.records.taskChanged$.subscribe(({ current }) => {
      const submitted = this.local.get(current.id);
      if (!submitted) return;
      // Slot ids repeat across nodes: the cluster's record names the node too (`node/slot-0`).
      const slotId = current.slotId === undefined ? undefined : `${deps.nodeId}/${current.slotId}`;
      void deps.records.put({ ...current, config: submitted.config, slotId }).catch(() => {});
      if (FINAL_STATES.includes(current.state)) this.local.delete(current.id);
    });
  }

  /** True while the local pool runs (or holds in review) `id` for the cluster. */
  holds(id: TaskId): boolean {
    return this.local.has(id);
  }

  /** Stops writing local changes to Redis. */
  stop(): void {
    this.release();
    this.mirror.unsubscribe();
  }

  /**
   * Gives back the jobs still waiting here (for budget, or for a previous node's run to end): each returns to
   * the head of the queue for another node. Runs already started go on.
   */
  release(): void {
    this.releasing.next();
    this.releasing.complete();
  }

  /** Processes one job (the worker's processor). */
  async process(job: Job<JobData>, token?: string): Promise<void> {
    const id = job.data.record.id;
    // The same job handed back to this node while an earlier take of it is still here: that one goes first.
    await this.inFlight.get(id);
    let done!: () => void;
    this.inFlight.set(
      id,
      new Promise<void>((resolve) => {
        done = resolve;
      }),
    );
    this.active += 1;
    await this.deps.membership.setFreeSlots(this.freeSlots());
    try {
      await this.runJob(job.data.record);
    } catch (error) {
      if (!(error instanceof Released)) throw error;
      // Back to the head of the queue, as if never taken; BullMQ then moves on.
      await unclaimTask(this.deps.redis, this.deps.keys, id, this.deps.nodeId);
      await job.moveToWait(token);
      throw new WaitingError();
    } finally {
      this.inFlight.delete(id);
      done();
      this.active -= 1;
      await this.deps.membership.setFreeSlots(this.freeSlots()).catch(() => {});
    }
  }

  private freeSlots(): number {
    return Math.max(0, this.deps.pool.slots().length - this.active);
  }

  private async runJob(submitted: TaskRecord): Promise<void> {
    const { records, ledger, redis, keys, nodeId } = this.deps;
    const id = submitted.id;
    // The job is added before its record is written: a submitter that died in between left the job alone.
    await records.create(submitted);
    // Held by another live node (it took the job before its lock was lost): wait until it is done or gone.
    let claim = await claimTask(redis, keys, id, nodeId);
    while (claim.kind === 'held') {
      const current = await this.whileAlive(id, claim.by);
      if (current?.state !== 'pending' && current?.state !== 'running') return;
      claim = await claimTask(redis, keys, id, nodeId);
    }
    let stored = await records.get(id);
    if (!stored) return;
    if (
      claim.previous !== undefined &&
      (stored.state === 'running' || (stored.state === 'pending' && (await startedBy(redis, keys, id)) !== undefined))
    ) {
      // Its node died while running it (perhaps before its `running` record reached Redis).
      stored = await this.interrupted(stored, claim.previous);
      if (!stored) return;
    } else if (claim.previous !== undefined && stored.state !== 'pending') {
      // Its node recorded the run's end, then died before it settled: the cost it recorded is booked.
      await ledger.settleIfHeld(id, stored.result?.costMicrodollars ?? 0);
      await clearStarted(redis, keys, id);
      // The task stays the dead node's (a review of it changes the record alone).
      await returnClaim(redis, keys, id, nodeId, claim.previous);
    }
    if (stored.state !== 'pending') return;
    await this.runClaimed(stored);
  }

  /**
   * Runs a task pinned to this node without the queue: a step of a chain isolated in this node's git worktree
   * or clone, which only this node's slots can reach. It is claimed here, reserves from the ledger and runs on
   * the local pool like a job; a cancel from any node reaches it the same way. Resolves once its run has ended.
   */
  async runPinned(record: TaskRecord): Promise<void> {
    const { redis, keys, nodeId, records } = this.deps;
    this.active += 1;
    await this.deps.membership.setFreeSlots(this.freeSlots());
    try {
      await claimTask(redis, keys, record.id, nodeId);
      await this.runClaimed(record);
    } catch (error) {
      const failed: TaskRecord = {
        ...record,
        state: 'failed',
        completedAtMs: Date.now(),
        result: poolFailure(`node ${nodeId} could not run the task: ${(error as Error).message}`, {
          kind: 'internal_error',
        }),
      };
      await records.put(failed, ['pending']).catch(() => false);
    } finally {
      this.active -= 1;
      await this.deps.membership.setFreeSlots(this.freeSlots()).catch(() => {});
    }
  }

  /** Runs a pending task this node has claimed: the cancel check, the reservation, the run, the settlement. */
  private async runClaimed(stored: TaskRecord): Promise<void> {
    const { records, ledger, redis, keys, nodeId } = this.deps;
    const id = stored.id;
    if ((await redis.sismember(keys.cancelled, id)) === 1) {
      await records.put({ ...stored, state: 'cancelled', completedAtMs: Date.now() }, ['pending']);
      return;
    }
    const cap = stored.config?.maxBudgetUsd;
    const reserved = await this.reserve(stored, cap === undefined ? undefined : usdToMicrodollars(cap));
    if (reserved === undefined) return;
    // Marked started in Redis before any agent can start: a node that dies from here on has begun the run.
    const [, , context] =
      (await markStarted(redis.multi(), keys, id, nodeId)
        .hset(keys.startOrder, id, await redis.incr(keys.startSeq))
        .hgetall(keys.context)
        .exec()) ?? [];
    // The shared context as it is now, even if its change notice has not arrived yet.
    this.syncContext((context?.[1] ?? {}) as Record<string, string>);
    const local: TaskRecord = {
      ...stored,
      // The reservation caps the run, as the pool's own reservation does on one node.
      config:
        reserved.limited && cap === undefined
          ? { ...stored.config, maxBudgetUsd: reserved.amount / 1e6 }
          : stored.config,
    };
    this.local.set(id, stored);
    const ended = this.localRunEnd(id);
    try {
      await this.deps.pool.submitRecord(local);
    } catch (error) {
      this.local.delete(id);
      await ledger.settle(id, 0);
      await clearStarted(redis, keys, id);
      const failed: TaskRecord = {
        ...stored,
        state: 'failed',
        completedAtMs: Date.now(),
        result: poolFailure(
          `node ${nodeId} could not take the task: ${(error as Error).message}`,
          error instanceof PoolShutdown ? { kind: 'pool_shutdown' } : { kind: 'internal_error' },
        ),
      };
      await records.put(failed, ['pending']);
      return;
    }
    // Cancelled while it was being taken: the local pool cancels it now.
    if ((await redis.sismember(keys.cancelled, id)) === 1) await this.cancelLocal(id);
    const end = await ended;
    await ledger.settle(id, end.result?.costMicrodollars ?? 0);
    await clearStarted(redis, keys, id);
  }

  private syncContext(entries: Record<string, string>): void {
    const { pool } = this.deps;
    for (const [key] of pool.listContext()) if (!(key in entries)) pool.deleteContext(key);
    for (const [key, value] of Object.entries(entries)) {
      if (pool.getContext(key) !== value) pool.setContext(key, value);
    }
  }

  /** Resolves with the local record once its run has ended (PendingReview or a final state). */
  private localRunEnd(id: TaskId): Promise<TaskRecord> {
    return firstValueFrom(
      this.deps.pool.records.taskChanged$.pipe(
        map((change) => change.current),
        filter(
          (record) => record.id === id && (record.state === 'pending_review' || FINAL_STATES.includes(record.state)),
        ),
      ),
    );
  }

  /**
   * Reserves the run's budget, waiting while running tasks may still free enough. A refusal fails the task;
   * resolves with the amount, or `undefined` when the task was failed.
   */
  private async reserve(
    record: TaskRecord,
    cap: number | undefined,
  ): Promise<{ amount: number; limited: boolean } | undefined> {
    for (;;) {
      // Listening before asking, so a settlement between the two is not missed; a cancel of this task wakes it
      // too (it then ends here, cancelled, without a run).
      const woken = firstValueFrom(
        race(this.deps.settled$, this.cancels.pipe(filter((id) => id === record.id))).pipe(map(() => undefined)),
      );
      const decision = await this.deps.ledger.reserve(record.id, cap);
      if (decision.kind === 'reserve') return decision;
      if (decision.kind === 'refuse') {
        const failed: TaskRecord = {
          ...record,
          state: 'failed',
          completedAtMs: Date.now(),
          result: poolFailure(refusalText(decision.refusal), budgetFailure(decision.refusal)),
        };
        await this.deps.records.put(failed, ['pending']);
        return undefined;
      }
      await this.unlessReleased(woken);
      if ((await this.deps.redis.sismember(this.deps.keys.cancelled, record.id)) === 1) {
        await this.deps.records.put({ ...record, state: 'cancelled', completedAtMs: Date.now() }, ['pending']);
        return undefined;
      }
    }
  }

  /** The task's record once it has ended, or once `owner` is gone (checked once per heartbeat). */
  private async whileAlive(id: TaskId, owner: string): Promise<TaskRecord | undefined> {
    const { records, membership } = this.deps;
    let current = await records.get(id);
    while (
      current &&
      (current.state === 'running' || current.state === 'pending') &&
      (await membership.isAlive(owner))
    ) {
      await this.unlessReleased(this.changeOrTimeout(id, this.deps.heartbeatMs));
      current = await records.get(id);
    }
    return current;
  }

  /**
   * A task that was running on a node that is gone: the interrupted-run policy (`interrupted.ts`). `fail`
   * records it failed; `requeue` resolves with it pending again, to run here.
   */
  private async interrupted(current: TaskRecord, owner: string): Promise<TaskRecord | undefined> {
    if (owner !== this.deps.nodeId) await this.deps.membership.forget([owner]);
    return applyInterruptedRunPolicy(this.deps, current, owner);
  }

  /** Resolves with `waiting`, or throws `Released` if the node gives its waiting jobs back first. */
  private unlessReleased<T>(waiting: Promise<T>): Promise<T> {
    // `race` drops the loser's subscription, so nothing is left behind per wait.
    return firstValueFrom(
      race(
        from(waiting),
        this.releasing.pipe(
          map((): T => {
            throw new Released();
          }),
        ),
      ),
    );
  }

  private changeOrTimeout(id: TaskId, ms: number): Promise<TaskRecord | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        resolve(undefined);
      }, ms);
      const sub = this.deps.changes$.pipe(filter((record) => record.id === id)).subscribe((record) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(record);
      });
    });
  }

  /** Cancels a task this node's pool holds (nothing when it holds none). */
  async cancelLocal(id: TaskId): Promise<void> {
    this.cancels.next(id);
    if (!this.deps.pool.records.tasks.has(id)) return;
    await this.deps.pool.cancel(id);
  }

  /**
   * Rejects a task in review on this node: the run again reserves what its first run reserved (refused with
   * `BudgetExhausted` when the ledger cannot give it), and its cost is settled when it ends.
   */
  async rejectLocal(id: TaskId, feedback: string): Promise<void> {
    const local = this.deps.pool.records.tasks.get(id);
    if (!local || local.state !== 'pending_review') {
      throw new InvalidTaskState(id, local?.state ?? 'completed', 'pending review on this node');
    }
    const cap = local.config?.maxBudgetUsd;
    const decision = await this.deps.ledger.reserve(id, cap === undefined ? undefined : usdToMicrodollars(cap));
    if (decision.kind !== 'reserve') {
      const ledger = await this.deps.ledger.read();
      throw new BudgetExhausted(ledger.spentMicrodollars, ledger.limitMicrodollars ?? 0);
    }
    const submitted = this.local.get(id) ?? local;
    this.local.set(id, submitted);
    const ended = this.localRunEnd(id);
    try {
      await this.deps.pool.rejectResult(id, feedback);
    } catch (error) {
      await this.deps.ledger.settle(id, 0);
      throw error;
    }
    const after = this.deps.pool.records.tasks.get(id);
    if (after?.state !== 'running' && after?.state !== 'pending') {
      await this.deps.ledger.settle(id, 0);
      return;
    }
    void ended.then((end) => this.deps.ledger.settle(id, end.result?.costMicrodollars ?? 0));
  }
}
