/**
 * Tasks: submit (admission is the supervisor's decision), run, cancel, claim, fan-out, and the review loop.
 */
import type { SlotId, TaskFilter, TaskId, TaskOverrides, TaskRecord, TaskResult } from '../../machines/types.js';
import { InvalidInput, InvalidTaskState, PoolError, TaskCancelled } from '../errors.js';
import { newId } from '../ids.js';
import { newTaskRecord, type TaskSubmission } from './new-records.js';
import { errorForRefusal, resultOfError, resultOrThrow } from './failure-errors.js';
import type { RunOptions, SubmitOptions } from './options.js';
import { isFinal, type PoolRuntime } from './runtime.js';

/** What a submission asks for besides the prompt. */
interface Submission extends TaskSubmission {
  /** A step of a running chain (admitted while the pool drains). */
  internal?: boolean;
}

/** Validates a submission and asks the supervisor to admit it; resolves with the task id once it is queued. */
export async function admit(
  rt: PoolRuntime,
  prompt: string,
  submission: Submission,
  id: TaskId = newId('task'),
): Promise<TaskId> {
  const record = newTaskRecord(prompt, submission, id);
  const refusal = await rt.request({ type: 'SUBMIT', record, internal: submission.internal === true }, id);
  if (refusal) throw errorForRefusal(refusal);
  return id;
}

/** Submits a chain step (tagged with its chain). */
export function submitStep(
  rt: PoolRuntime,
  chainId: TaskId,
  prompt: string,
  config: TaskOverrides | undefined,
  workingDir?: string,
): Promise<TaskId> {
  return admit(rt, prompt, { config, workingDir, tags: [chainId], internal: true });
}

/** Runs a prompt on the next idle slot and resolves with its result. */
export async function run(rt: PoolRuntime, prompt: string, options: RunOptions = {}): Promise<TaskResult> {
  const id = newId('task');
  if (options.signal?.aborted) throw new TaskCancelled(id);
  const unsubscribe = options.onOutput ? rt.outputListeners.add(id, options.onOutput) : undefined;
  const onAbort = () => rt.actor.send({ type: 'CANCEL', taskId: id });
  try {
    await admit(rt, prompt, { config: options.config, tags: options.tags, workingDir: options.workingDir }, id);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    options.onSubmitted?.(id);
    return resultOrThrow(await rt.waitForFinal(id), rt.config.slotAssignmentTimeoutSecs);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    unsubscribe?.();
  }
}

/**
 * Runs every prompt in parallel; resolves with every result in input order, failures included (a prompt that is
 * bad input or refused admission gets its error's result). The accepted tasks are submitted to the supervisor in
 * one step, queued in input order.
 */
export async function fanOut(rt: PoolRuntime, prompts: string[], options: SubmitOptions = {}): Promise<TaskResult[]> {
  if (!Array.isArray(prompts)) throw new InvalidInput('prompts must be a list of strings');
  const { signal, ...submission } = options;
  const results: TaskResult[] = new Array<TaskResult>(prompts.length);
  const records: TaskRecord[] = [];
  const positions: number[] = [];
  prompts.forEach((prompt, position) => {
    try {
      const record = newTaskRecord(prompt, submission);
      if (signal?.aborted) throw new TaskCancelled(record.id);
      records.push(record);
      positions.push(position);
    } catch (error) {
      if (!(error instanceof PoolError)) throw error;
      results[position] = resultOfError(error);
    }
  });
  if (records.length === 0) return results;
  const refusals = await rt.requestMany(records, records[0].id);
  const accepted = records.filter((record) => !refusals.has(record.id));
  const onAbort = () => rt.actor.send({ type: 'CANCEL_MANY', taskIds: accepted.map((record) => record.id) });
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    await Promise.all(
      records.map(async (record, index) => {
        const position = positions[index];
        const refusal = refusals.get(record.id);
        try {
          if (refusal) throw errorForRefusal(refusal);
          results[position] = resultOrThrow(await rt.waitForFinal(record.id), rt.config.slotAssignmentTimeoutSecs);
        } catch (error) {
          if (!(error instanceof PoolError)) throw error;
          results[position] = resultOfError(error);
        }
      }),
    );
    return results;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** The task's result: set in Completed, Failed and PendingReview; `undefined` while pending or running. */
export async function result(rt: PoolRuntime, id: TaskId): Promise<TaskResult | undefined> {
  const record = await rt.task(id);
  return record.state === 'pending' || record.state === 'running' ? undefined : record.result;
}

/** Lists task records (oldest first). */
export async function listTasks(rt: PoolRuntime, filterBy?: TaskFilter): Promise<TaskRecord[]> {
  await rt.projection.flush();
  return rt.store.listTasks(filterBy);
}

/**
 * Cancels a task. A queued task is dropped; a running task's process is killed (resolves once it is gone);
 * a task in review is cancelled. Finished tasks are left as they are. A chain id cancels the chain.
 */
export async function cancel(rt: PoolRuntime, id: TaskId, cancelChain: (id: TaskId) => Promise<void>): Promise<void> {
  const record = rt.projection.tasks.get(id);
  if (!record) {
    await rt.task(id); // throws TaskNotFound for unknown ids
    return;
  }
  if (isFinal(record)) return;
  if (record.kind === 'chain') return cancelChain(id);
  await rt.cancelAndWait(id);
}

/** Gives the oldest queued task to this idle slot now; returns its id, or `undefined` when nothing was taken. */
export async function claim(rt: PoolRuntime, slotId: SlotId): Promise<TaskId | undefined> {
  rt.slotRecord(slotId);
  return rt.claim(slotId);
}

/** Approves a task in PendingReview: it becomes Completed. */
export async function approve(rt: PoolRuntime, id: TaskId): Promise<void> {
  const before = await liveReview(rt, id);
  rt.actor.send({ type: 'APPROVE', taskId: id });
  const after = await rt.waitForTask(id, (task) => task !== before);
  await rt.projection.flushTask(id);
  // Cancelled (or rejected) by someone else in the meantime: the approval did not happen.
  if (after.state !== 'completed') throw new InvalidTaskState(id, after.state, 'pending review');
}

/** Rejects a task in PendingReview: it runs again with the feedback, or fails at its last rejection. */
export async function reject(rt: PoolRuntime, id: TaskId, feedback: string): Promise<void> {
  if (typeof feedback !== 'string') throw new InvalidInput('feedback must be a string');
  const before = await liveReview(rt, id);
  rt.actor.send({ type: 'REJECT', taskId: id, feedback });
  const after = await rt.waitForTask(id, (task) => task !== before);
  await rt.projection.flushTask(id);
  if (after.rejectionCount <= before.rejectionCount) throw new InvalidTaskState(id, after.state, 'pending review');
}

/** The task's live record, which must be in PendingReview now (not just when the caller last looked). */
async function liveReview(rt: PoolRuntime, id: TaskId): Promise<TaskRecord> {
  const record = await rt.task(id);
  const live = rt.projection.tasks.get(id);
  if (record.state !== 'pending_review' || !live || live.state !== 'pending_review') {
    throw new InvalidTaskState(id, live?.state ?? record.state, 'pending review');
  }
  return live;
}
