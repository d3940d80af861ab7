/**
 * Task tools: run, submit, result, cancel, fan-out, claim, review and listing.
 */
import { z } from 'zod';
import type { TaskResult } from '../../../machines/types.js';
import { PoolError, PoolShutdown } from '../../errors.js';
import type { SubmitOptions } from '../../pool/index.js';
import type { TaskFront } from '../../pool/task-front.js';
import { resultOfError } from '../../pool/failure-errors.js';
import { overrideParams, slotIdParam, tagsParam, taskIdParam, taskStateParam, toOverrides } from '../params.js';
import { CountedProgress, defineTool, type PoolTool, type ProgressReporter } from '../tool.js';
import { wireResult, wireTaskSummary } from '../wire.js';

const usd = (micro: number) => `$${(micro / 1e6).toFixed(4)}`;

/** One line about a finished result, for progress messages. */
export function resultLine(label: string, result: TaskResult): string {
  const status = result.success ? 'done' : `failed (${result.errorCode ?? result.subtype ?? 'error'})`;
  return `${label} ${status}, ${usd(result.costMicrodollars)}, ${result.elapsedMs} ms`;
}

/** Runs one prompt, streaming its text as progress (total 1). */
export async function runWithProgress(
  pool: TaskFront,
  prompt: string,
  options: SubmitOptions & { workingDir?: string },
  progress: ProgressReporter,
): Promise<TaskResult> {
  if (!progress.enabled) return pool.run(prompt, options);
  const counted = new CountedProgress(progress, 1);
  counted.start('task submitted');
  const result = await pool.run(prompt, { ...options, onOutput: (text) => counted.text('', text) });
  counted.done(resultLine('task', result));
  return result;
}

/**
 * Runs prompts in parallel and returns every result in input order, failures included (as `Pool.fanOut`).
 * With progress enabled each task's streamed text and each completion are reported.
 */
export async function fanOutWithProgress(
  pool: TaskFront,
  shutdown: boolean,
  prompts: string[],
  options: SubmitOptions,
  progress: ProgressReporter,
): Promise<TaskResult[]> {
  if (!progress.enabled) return pool.fanOut(prompts, options);
  if (shutdown) throw new PoolShutdown();
  const counted = new CountedProgress(progress, prompts.length);
  counted.start(`fan-out of ${prompts.length} prompt(s) submitted`);
  let finished = 0;
  return Promise.all(
    prompts.map(async (prompt, index) => {
      let result: TaskResult;
      try {
        result = await pool.run(prompt, { ...options, onOutput: (text) => counted.text(`[${index}]`, text) });
      } catch (error) {
        if (!(error instanceof PoolError)) throw error;
        result = resultOfError(error);
      }
      finished += 1;
      counted.done(`${resultLine(`[${index}]`, result)} (${finished}/${prompts.length})`);
      return result;
    }),
  );
}

const promptParam = z.string().min(1).describe('The prompt for the agent');

/** The task tools. */
export function taskTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_run',
      title: 'Run a task and wait',
      description:
        'Run a prompt on the next idle slot and wait for its result. Returns the TaskResult: {output, success, ' +
        'cost_microdollars, turns_used, elapsed_ms, model, session_id, …}; a failed run comes back with success:false ' +
        '(and failed_command, exit_code, stderr, error_code). With a progressToken, streamed output is sent as progress.',
      input: {
        prompt: promptParam,
        ...overrideParams,
        tags: tagsParam.optional(),
        working_dir: z.string().optional().describe("Run in this directory instead of the slot's"),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { tasks, progress, signal }) {
        // A client that cancels the request cancels the task too (its process is killed).
        const result = await runWithProgress(
          tasks,
          args.prompt,
          { config: toOverrides(args), tags: args.tags, workingDir: args.working_dir, signal },
          progress,
        );
        return wireResult(result);
      },
    }),
    defineTool({
      name: 'pool_submit',
      title: 'Submit a task',
      description:
        'Queue a prompt and return at once with {task_id}. Fetch the result later with pool_result, or cancel with pool_cancel.',
      input: { prompt: promptParam, ...overrideParams, tags: tagsParam.optional() },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { tasks }) {
        const taskId = await tasks.submitWithConfig(args.prompt, toOverrides(args), args.tags);
        return { task_id: taskId };
      },
    }),
    defineTool({
      name: 'pool_result',
      title: 'Get a task result',
      description:
        'The result of a task: the TaskResult fields plus task_id and state (pending, running, pending_review, completed, ' +
        'failed, cancelled). While the task is pending or running: {task_id, state, status:"running"}. A task under review ' +
        'also has review_required, rejection_count and max_rejections.',
      input: { task_id: taskIdParam },
      annotations: { readOnlyHint: true },
      async run(args, { tasks }) {
        const record = await tasks.task(args.task_id);
        if (record.state === 'pending' || record.state === 'running') {
          return { task_id: record.id, state: record.state, status: 'running' };
        }
        const body = { task_id: record.id, state: record.state, ...(record.result ? wireResult(record.result) : {}) };
        if (record.reviewRequired) {
          return {
            ...body,
            review_required: true,
            rejection_count: record.rejectionCount,
            max_rejections: record.maxRejections,
          };
        }
        return body;
      },
    }),
    defineTool({
      name: 'pool_cancel',
      title: 'Cancel a task',
      description:
        "Cancel a task: a queued task is dropped, a running task's process is killed, a task in review is cancelled. " +
        'Finished tasks are left as they are. Returns {task_id, cancelled, state}.',
      input: { task_id: taskIdParam },
      annotations: { destructiveHint: true, idempotentHint: true },
      async run(args, { tasks }) {
        await tasks.cancel(args.task_id);
        const record = await tasks.task(args.task_id);
        return { task_id: record.id, cancelled: record.state === 'cancelled', state: record.state };
      },
    }),
    defineTool({
      name: 'pool_fan_out',
      title: 'Run prompts in parallel',
      description:
        'Run every prompt in parallel across the slots and wait for all of them. Returns {results:[TaskResult…]} in input ' +
        'order, failures included. With a progressToken, progress = finished tasks / total, and the message carries ' +
        'streamed output ("[i] text").',
      input: {
        prompts: z.array(promptParam).min(1, 'prompts array must not be empty').describe('The prompts, one task each'),
        ...overrideParams,
        tags: tagsParam.optional(),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { pool, tasks, progress, signal }) {
        const results = await fanOutWithProgress(
          tasks,
          pool.status().shutdown,
          args.prompts,
          { config: toOverrides(args), tags: args.tags, signal },
          progress,
        );
        return { results: results.map(wireResult) };
      },
    }),
    defineTool({
      name: 'pool_claim',
      title: 'Claim the next queued task for a slot',
      description:
        'Give the oldest queued task to this idle slot now. Returns {claimed:true, task_id} or ' +
        '{claimed:false, task_id:null, reason}.',
      input: { slot_id: slotIdParam },
      annotations: { destructiveHint: false },
      async run(args, { pool }) {
        const taskId = await pool.claim(args.slot_id);
        return taskId === undefined
          ? { claimed: false, task_id: null, reason: 'no pending tasks or slot not idle' }
          : { claimed: true, task_id: taskId };
      },
    }),
    defineTool({
      name: 'pool_submit_with_review',
      title: 'Submit a task that needs review',
      description:
        'Queue a prompt whose result must be approved: it ends in pending_review instead of completed. Approve with ' +
        'pool_approve_result, or reject with feedback (pool_reject_result) to run it again. Returns {task_id, review_required:true}.',
      input: {
        prompt: promptParam,
        ...overrideParams,
        tags: tagsParam.optional(),
        max_rejections: z.number().int().min(1).optional().describe('Rejections before the task fails (default 3)'),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { tasks }) {
        const taskId = await tasks.submitWithReview(
          args.prompt,
          toOverrides(args),
          args.tags,
          args.max_rejections ?? 3,
        );
        return { task_id: taskId, review_required: true, max_rejections: args.max_rejections ?? 3 };
      },
    }),
    defineTool({
      name: 'pool_approve_result',
      title: 'Approve a reviewed result',
      description: 'Approve a task in pending_review: it becomes completed. Returns {approved:true, task_id, state}.',
      input: { task_id: taskIdParam },
      annotations: { destructiveHint: false },
      async run(args, { tasks }) {
        await tasks.approveResult(args.task_id);
        return { approved: true, task_id: args.task_id, state: 'completed' };
      },
    }),
    defineTool({
      name: 'pool_reject_result',
      title: 'Reject a reviewed result',
      description:
        'Reject a task in pending_review with feedback: it runs again with the original prompt plus the feedback, or fails ' +
        'when it reached max_rejections. Returns {rejected:true, task_id, state, rejection_count, max_rejections, requeued}.',
      input: { task_id: taskIdParam, feedback: z.string().min(1).describe('What to change') },
      annotations: { destructiveHint: false },
      async run(args, { tasks }) {
        await tasks.rejectResult(args.task_id, args.feedback);
        const record = await tasks.task(args.task_id);
        return {
          rejected: true,
          task_id: record.id,
          state: record.state,
          rejection_count: record.rejectionCount,
          max_rejections: record.maxRejections,
          requeued: record.state !== 'failed' && record.state !== 'cancelled',
        };
      },
    }),
    defineTool({
      name: 'pool_list_tasks',
      title: 'List tasks',
      description:
        'List task records, oldest first, optionally filtered by state, slot or tags (any tag matches). Returns ' +
        '{tasks:[{task_id, kind, state, prompt, tags, slot_id, success, cost_microdollars, …}], count, total}.',
      input: {
        state: taskStateParam.optional().describe('Only tasks in this state'),
        slot_id: slotIdParam.optional(),
        tags: tagsParam.optional(),
        tag: z.string().optional().describe('Shorthand for tags:[tag]'),
        limit: z.number().int().min(1).max(1000).optional().describe('At most this many (default 100, newest kept)'),
      },
      annotations: { readOnlyHint: true },
      async run(args, { tasks: front }) {
        const tags = [...(args.tags ?? []), ...(args.tag !== undefined ? [args.tag] : [])];
        const tasks = await front.listTasks({
          ...(args.state ? { state: args.state } : {}),
          ...(args.slot_id ? { slotId: args.slot_id } : {}),
          ...(tags.length > 0 ? { tags } : {}),
        });
        const limit = args.limit ?? 100;
        const shown = tasks.slice(Math.max(0, tasks.length - limit));
        return { tasks: shown.map(wireTaskSummary), count: shown.length, total: tasks.length };
      },
    }),
  ];
}
