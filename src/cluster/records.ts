/**
 * The cluster's task records in Redis: every node writes the records of the tasks it runs here and publishes
 * each change, so any node can answer `task`, `result`, `listTasks` and stream `task$`/`events$` for the whole
 * cluster. A write is a Lua script that checks the record's current state, so concurrent writers (a node
 * cancelling a queued task, another node taking it) cannot undo each other, and a finished record is final.
 */
import type { Redis } from 'ioredis';
import type { TaskFilter, TaskId, TaskRecord, TaskState } from '../../machines/types.js';
import { matchesTaskFilter } from '../store/types.js';
import type { ClusterKeys } from './keys.js';
import { LuaScript } from './script.js';

/** The states a task never leaves. */
export const FINAL_STATES: readonly TaskState[] = ['completed', 'failed', 'cancelled'];

// KEYS: tasks, taskOrder, taskChannel. ARGV: id, json, createdAtMs, allowed states ('' = any not final).
// Returns 1 when written, 0 when the current state was not allowed.
const PUT = new LuaScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local state = cjson.decode(current)['state']
  if ARGV[4] == '' then
    if state == 'completed' or state == 'failed' or state == 'cancelled' then return 0 end
  else
    local allowed = false
    for s in string.gmatch(ARGV[4], '[^,]+') do
      if s == state then allowed = true end
    end
    if not allowed then return 0 end
  end
elseif ARGV[4] ~= '' then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[2])
return 1
`);

// KEYS: tasks, taskOrder, taskChannel. ARGV: id, json, createdAtMs. Writes the record only when there is none.
// Returns 1 when written, 0 when a record was there.
const CREATE = new LuaScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[2])
return 1
`);

/** The task records of one cluster. */
export class ClusterRecords {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  /**
   * Writes a record and publishes the change. With `from`, only when the stored record is in one of those
   * states; without, when there is none or it has not finished. Resolves with whether it was written.
   */
  async put(record: TaskRecord, from?: readonly TaskState[]): Promise<boolean> {
    const written = await PUT.run(
      this.redis,
      [this.keys.tasks, this.keys.taskOrder, this.keys.taskChannel],
      [record.id, JSON.stringify(record), record.createdAtMs, from ? from.join(',') : ''],
    );
    return Number(written) === 1;
  }

  /**
   * Writes a task's first record unless it has one (whoever writes first, the submitter or a node that took the
   * task's job, wins; the other changes nothing). Resolves with whether it was written.
   */
  async create(record: TaskRecord): Promise<boolean> {
    const written = await CREATE.run(
      this.redis,
      [this.keys.tasks, this.keys.taskOrder, this.keys.taskChannel],
      [record.id, JSON.stringify(record), record.createdAtMs],
    );
    return Number(written) === 1;
  }

  /** A record, or `undefined` for an unknown id. */
  async get(id: TaskId): Promise<TaskRecord | undefined> {
    const json = await this.redis.hget(this.keys.tasks, id);
    return json === null ? undefined : (JSON.parse(json) as TaskRecord);
  }

  /** The records matching the filter, oldest first. */
  async list(filter?: TaskFilter): Promise<TaskRecord[]> {
    const ids = await this.redis.zrange(this.keys.taskOrder, 0, -1);
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.keys.tasks, ...ids);
    return values
      .filter((json): json is string => json !== null)
      .map((json) => JSON.parse(json) as TaskRecord)
      .filter((record) => matchesTaskFilter(record, filter));
  }
}
