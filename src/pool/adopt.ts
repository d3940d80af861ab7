/**
 * Taking in a task record made elsewhere (a cluster node runs a job under the task id the cluster gave it):
 * the supervisor admits it like any submission, under that id, with its record as it is.
 */
import type { TaskId, TaskRecord } from '../../machines/types.js';
import { validateOverrides, validatePrompt, validateTags } from '../config.js';
import { InvalidInput } from '../errors.js';
import { errorForRefusal } from './failure-errors.js';
import type { PoolRuntime } from './runtime.js';

/** Admits a pending task record under its own id; resolves once it is queued (throws the refusal's error). */
export async function adopt(rt: PoolRuntime, record: TaskRecord): Promise<TaskId> {
  if (record.state !== 'pending' || record.kind !== 'task') {
    throw new InvalidInput(`only a pending task record can be submitted, got a ${record.kind} in ${record.state}`);
  }
  if (rt.projection.tasks.has(record.id)) throw new InvalidInput(`task ${record.id} is already in this pool`);
  validatePrompt(record.prompt);
  validateOverrides(record.config);
  validateTags(record.tags);
  const refusal = await rt.request({ type: 'SUBMIT', record: structuredClone(record) }, record.id);
  if (refusal) throw errorForRefusal(refusal);
  return record.id;
}
