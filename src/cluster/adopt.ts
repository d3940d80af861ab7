/**
 * A task whose job is in the queue but whose record is not in Redis yet: a node adds a task's job first and
 * then writes its record, so a submitter that died in between left the job alone. Its record is the one the
 * job carries; a node that is asked about the task (its record, a wait on it, a cancel) writes it from there,
 * as the node that takes the job does, so nothing asked of the task is lost.
 */
import type { Queue } from 'bullmq';
import type { TaskId, TaskRecord } from '../../machines/types.js';
import type { ClusterRecords } from './records.js';
import type { JobData } from './runner.js';

/** Writes a queued job's record when the task has none; resolves with the task's record, if there is one now. */
export async function adoptQueuedRecord(
  queue: Queue<JobData>,
  records: ClusterRecords,
  id: TaskId,
): Promise<TaskRecord | undefined> {
  const job = await queue.getJob(id);
  const submitted = job?.data?.record;
  if (submitted?.id !== id) return undefined;
  await records.create(submitted);
  return records.get(id);
}
