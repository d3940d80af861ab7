/**
 * Which tasks have a run that has begun: a node writes its id here, and waits for Redis to have it, before it
 * hands the task to its local pool (before any agent can start). The `running` record a node writes once the
 * run has started reaches Redis later (its record changes are written asynchronously), so without this mark a
 * node that died in between would leave a `pending` record, and the next taker would run the task again as if
 * nothing had happened. With it, the next taker knows the run had begun and applies the interrupted-run
 * policy. The mark is cleared when the run has been settled, or by the node that applied the policy.
 *
 * A job given back before it ran (waiting for budget when its node left) was never marked: it stays a task
 * that has not started.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { TaskId } from '../../machines/types.js';
import type { ClusterKeys } from './keys.js';

/** Adds "`nodeId` has started `taskId`'s run" to a transaction. */
export function markStarted(
  multi: ChainableCommander,
  keys: ClusterKeys,
  taskId: TaskId,
  nodeId: string,
): ChainableCommander {
  return multi.hset(keys.started, taskId, nodeId);
}

/** The node that started the task's run and has not settled it, if any. */
export async function startedBy(redis: Redis, keys: ClusterKeys, taskId: TaskId): Promise<string | undefined> {
  return (await redis.hget(keys.started, taskId)) ?? undefined;
}

/** Clears the task's start mark (its run was settled, or the interrupted-run policy has dealt with it). */
export async function clearStarted(redis: Redis, keys: ClusterKeys, taskId: TaskId): Promise<void> {
  await redis.hdel(keys.started, taskId);
}
