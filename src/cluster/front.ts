/**
 * The task front of a cluster node: what the MCP tools and the REST API of `serve --redis` use, so that a
 * coordinator talking to any node hands its tasks to the whole cluster (its queue, its shared budget, any
 * node's idle slot) and reads, cancels and reviews any task of the cluster.
 *
 * `run`'s `onOutput` receives the text the task streams wherever it runs: the node that runs it forwards each
 * chunk through Redis (`output.ts`), so MCP progress shows a task's output as it comes, whichever node runs it.
 */
import type { TaskFilter, TaskId, TaskOverrides, TaskRecord, TaskResult } from '../../machines/types.js';
import type { ChainFront } from '../pool/chain-front.js';
import { skillRun } from '../pool/chains.js';
import { PoolError, TaskCancelled } from '../errors.js';
import { resultOfError, resultOrThrow } from '../pool/failure-errors.js';
import type { RunOptions, SubmitOptions } from '../pool/options.js';
import type { TaskFront } from '../pool/task-front.js';
import type { Subscription } from 'rxjs';
import type { ClusterNode } from './node.js';

/** The task front that sends every task to the node's cluster. */
export function clusterTaskFront(node: ClusterNode): TaskFront {
  const run = async (prompt: string, options: RunOptions = {}): Promise<TaskResult> => {
    const { signal, onSubmitted, onOutput, config, tags, workingDir } = options;
    if (signal?.aborted) throw new TaskCancelled('(not submitted)');
    const id = await node.submit(prompt, { config, tags, workingDir });
    onSubmitted?.(id);
    // Subscribed before waiting (the text streamed before the subscription is read back from Redis); the run
    // returns once every chunk has been handed over.
    let output: Subscription | undefined;
    let outputDone = Promise.resolve();
    if (onOutput) {
      outputDone = new Promise<void>((resolve) => {
        output = node.output$(id).subscribe({ next: onOutput, error: () => resolve(), complete: () => resolve() });
      });
    }
    // A client that cancels the request cancels the task, wherever it runs.
    const onAbort = () => void node.cancel(id).catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      const final = await node.waitForFinal(id);
      await outputDone;
      return resultOrThrow(final, node.pool.config().slotAssignmentTimeoutSecs);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      output?.unsubscribe();
    }
  };
  return {
    run,
    async fanOut(prompts: string[], options: SubmitOptions = {}): Promise<TaskResult[]> {
      return Promise.all(
        prompts.map(async (prompt) => {
          try {
            return await run(prompt, options);
          } catch (error) {
            if (error instanceof PoolError) return resultOfError(error);
            throw error;
          }
        }),
      );
    },
    runSkill: (name: string, args: Record<string, string> = {}, options: RunOptions = {}) => {
      const { prompt, config } = skillRun(node.pool.skills, name, args, options.config);
      return run(prompt, { ...options, config });
    },
    submitWithConfig: (prompt: string, config?: TaskOverrides, tags?: string[]) =>
      node.submit(prompt, { config, tags }),
    submitWithReview: (prompt: string, config?: TaskOverrides, tags?: string[], maxRejections = 3) =>
      node.submit(prompt, { config, tags, review: { maxRejections } }),
    task: (id: TaskId): Promise<TaskRecord> => node.task(id),
    cancel: (id: TaskId) => node.cancel(id),
    approveResult: (id: TaskId) => node.approveResult(id),
    rejectResult: (id: TaskId, feedback: string) => node.rejectResult(id, feedback),
    listTasks: (filterBy?: TaskFilter) => node.listTasks(filterBy),
    task$: (id: TaskId) => node.task$(id),
    taskOutput$: (id: TaskId) => node.output$(id),
  };
}

/**
 * The chain front that runs chains on the node's cluster: each chain's actor runs on this node and each of its
 * steps is a cluster task (any node's slot, the shared budget); progress and results are read from Redis, so
 * they are the same on every node. Steps run in their slot's directory: `isolation` must be `none` (the default).
 */
export function clusterChainFront(node: ClusterNode): ChainFront {
  return {
    submitChain: (steps, options) => node.submitChain(steps, options),
    fanOutChains: (chains, options) => node.fanOutChains(chains, options),
    runWorkflow: (name, args, options) => node.runWorkflow(name, args, options),
    progress: (id) => node.chainProgressOf(id),
    progress$: (id) => node.chain$(id),
    listProgress: () => node.listChainProgress(),
    waitForChain: (id) => node.waitForChain(id),
    cancelChain: (id, options) => node.cancelChain(id, options),
  };
}
