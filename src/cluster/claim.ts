/**
 * Which node holds a task: one Lua script that claims it for a node unless another live node (one whose
 * heartbeat key exists) holds it. A job handed on while its first taker still works on it (a lock lost, not a
 * death) is therefore never run by two nodes at once.
 */
import type { Redis } from 'ioredis';
import type { TaskId } from '../../machines/types.js';
import type { ClusterKeys } from './keys.js';
import { LuaScript } from './script.js';

/** What a claim found: the task is now this node's (with the node that held it before, if any), or another live node's. */
export type ClaimOutcome = { kind: 'claimed'; previous?: string } | { kind: 'held'; by: string };

// KEYS: owners. ARGV: taskId, nodeId, the node heartbeat key of a node id minus the id.
const CLAIM = new LuaScript(`
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if owner and owner ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. owner) == 1 then
  return {'held', owner}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if owner then return {'claimed', owner} end
return {'claimed'}
`);

// KEYS: owners. ARGV: taskId, nodeId. Gives the task up if this node holds it.
const UNCLAIM = new LuaScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`);

// KEYS: owners. ARGV: taskId, nodeId, previous owner. Hands the task back to the node that held it before.
const RETURN = new LuaScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`);

/** Claims `taskId` for `nodeId`. */
export async function claimTask(
  redis: Redis,
  keys: ClusterKeys,
  taskId: TaskId,
  nodeId: string,
): Promise<ClaimOutcome> {
  const reply = (await CLAIM.run(redis, [keys.owners], [taskId, nodeId, keys.node('')])) as string[];
  if (reply[0] === 'held') return { kind: 'held', by: reply[1]! };
  return reply[1] === undefined ? { kind: 'claimed' } : { kind: 'claimed', previous: reply[1] };
}

/** Gives up a claim this node holds (a job handed back to the queue before it ran). */
export async function unclaimTask(redis: Redis, keys: ClusterKeys, taskId: TaskId, nodeId: string): Promise<void> {
  await UNCLAIM.run(redis, [keys.owners], [taskId, nodeId]);
}

/**
 * Gives a task this node claimed back to the node that held it before (a dead node whose run had ended: the
 * task, and its review, stay that node's).
 */
export async function returnClaim(
  redis: Redis,
  keys: ClusterKeys,
  taskId: TaskId,
  nodeId: string,
  previous: string,
): Promise<void> {
  await RETURN.run(redis, [keys.owners], [taskId, nodeId, previous]);
}
