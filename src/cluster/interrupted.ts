/**
 * The interrupted-run policy over the cluster, as a local restart applies it (`src/restore.ts`): a task whose
 * run had begun on a node that is gone is either failed (`fail`, with `failure.kind: 'interrupted'`) or made
 * pending again to run anew (`requeue`). Its reservation is booked in full (the run's real cost died with its
 * node), and its start mark is cleared.
 *
 * Two paths lead here: the node that takes the task's job after BullMQ found its lock expired (`runner.ts`), and
 * a reader waiting on a task that no job carries any more (`endOrphanedTask`): a rejected task's rerun, which
 * runs outside any job, or a cancel whose node died between removing the job and recording the cancel.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { poolFailure } from '../../machines/failure.js';
import type { TaskId, TaskRecord } from '../../machines/types.js';
import type { InterruptedRunPolicy } from '../restore.js';
import type { ClusterKeys } from './keys.js';
import type { ClusterLedger } from './ledger.js';
import type { Membership } from './membership.js';
import type { ClusterRecords } from './records.js';
import { clearStarted, startedBy } from './run-starts.js';
import type { JobData } from './runner.js';

/** What applying the policy needs. */
export interface InterruptedRunDeps {
  records: ClusterRecords;
  ledger: ClusterLedger;
  redis: Redis;
  keys: ClusterKeys;
  policy: InterruptedRunPolicy;
}

/**
 * Applies the policy to a task whose run began on `owner`, now gone. Resolves with the task pending again
 * (`requeue`), or `undefined` when it was failed or another node got there first.
 */
export async function applyInterruptedRunPolicy(
  deps: InterruptedRunDeps,
  current: TaskRecord,
  owner: string,
): Promise<TaskRecord | undefined> {
  const { records, ledger, redis, keys, policy } = deps;
  // The dead run's real cost died with its node: its whole reservation is booked.
  await ledger.settle(current.id, 'reserved');
  if (policy === 'requeue') {
    const { slotId: _slot, startedAtMs: _started, result: _result, ...rest } = current;
    const requeued: TaskRecord = { ...rest, state: 'pending' };
    // Cleared before the record is pending again: the requeued task has not started until a node marks it.
    await clearStarted(redis, keys, current.id);
    return (await records.put(requeued, ['running', 'pending'])) ? requeued : undefined;
  }
  const failed: TaskRecord = {
    ...current,
    state: 'failed',
    completedAtMs: Date.now(),
    result: {
      ...poolFailure(`the run was interrupted: node ${owner} stopped while it was running`, { kind: 'interrupted' }),
      costMicrodollars: current.result?.costMicrodollars ?? 0,
    },
  };
  await records.put(failed, ['running', 'pending']);
  await clearStarted(redis, keys, current.id);
  return undefined;
}

/** What ending an orphaned task needs. */
export interface OrphanDeps extends InterruptedRunDeps {
  queue: Queue<JobData>;
  membership: Membership;
}

/**
 * Ends a task that nothing will end: no job carries it (BullMQ hands a job on by itself) and the node that
 * holds it is gone. A run that had begun goes to the policy (`requeue` queues it again as a new job); a task
 * whose cancel was asked, and whose job was removed, is recorded cancelled. Anything else is left alone.
 */
export async function endOrphanedTask(deps: OrphanDeps, id: TaskId): Promise<void> {
  const { queue, records, redis, keys, membership } = deps;
  if ((await queue.getJob(id)) !== undefined) return;
  const record = await records.get(id);
  if (!record || record.kind === 'chain') return;
  const owner = (await redis.hget(keys.owners, id)) ?? undefined;
  if (owner !== undefined && (await membership.isAlive(owner))) return;
  const begun = record.state === 'running' || (record.state === 'pending' && (await startedBy(redis, keys, id)));
  if (!begun) {
    if (record.state === 'pending' && (await redis.sismember(keys.cancelled, id)) === 1) {
      await records.put({ ...record, state: 'cancelled', completedAtMs: Date.now() }, ['pending']);
    }
    return;
  }
  const requeued = await applyInterruptedRunPolicy(deps, record, owner ?? 'unknown');
  if (requeued) {
    await queue.add('task', { record: requeued }, { jobId: id, removeOnComplete: true, removeOnFail: true });
  }
}
