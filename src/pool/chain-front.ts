/**
 * The chain operations a front door (the MCP tools, the REST API) offers its clients, next to its task
 * operations (`task-front.ts`). A pool's chains run their steps on its own slots (`poolChainFront`); a cluster
 * node's (`claude-pool/bullmq`) run their steps as cluster tasks on any node, against the cluster's budget.
 */
import { defer, type Observable } from 'rxjs';
import type { ChainOptions, ChainProgress, ChainResult, ChainStep, TaskId } from '../../machines/types.js';
import type { CancelChainOptions, FanOutChainOutcome } from './options.js';
import type { Pool } from './pool.js';

/** Submitting, following, cancelling and listing chains and workflows, as a front door needs them. */
export interface ChainFront {
  /** Starts a chain; resolves with its `chain-…` id. */
  submitChain(steps: ChainStep[], options?: ChainOptions): Promise<TaskId>;
  /** Starts every chain; one bad chain does not stop the others. Outcomes in input order. */
  fanOutChains(chains: ChainStep[][], options?: ChainOptions): Promise<FanOutChainOutcome[]>;
  /** Instantiates a registered workflow with its arguments and starts it as a chain. */
  runWorkflow(name: string, args?: Record<string, string>, options?: ChainOptions): Promise<TaskId>;
  /** A chain's progress (`TaskNotFound` for an unknown id). */
  progress(id: TaskId): Promise<ChainProgress>;
  /** A chain's progress, the current one and then each change, completing once it is no longer running. */
  progress$(id: TaskId): Observable<ChainProgress>;
  /** Every chain's progress, oldest first. */
  listProgress(): Promise<ChainProgress[]>;
  /** Resolves with the chain's result once it has ended (completed, failed or cancelled). */
  waitForChain(id: TaskId): Promise<ChainResult>;
  /** Cancels a chain: the remaining steps are skipped; with `immediate` the running step is killed too. */
  cancelChain(id: TaskId, options?: CancelChainOptions): Promise<void>;
}

/** The chain front of a pool: its chains run on its own slots. */
export function poolChainFront(pool: Pool): ChainFront {
  return {
    submitChain: (steps, options) => pool.submitChain(steps, options),
    fanOutChains: (chains, options) => pool.fanOutChains(chains, options),
    runWorkflow: (name, args, options) => pool.runWorkflow(name, args, options),
    progress: async (id) => pool.chainProgress(id),
    progress$: (id) => defer(() => pool.chain$(id)),
    listProgress: async () => pool.listChainProgress(),
    waitForChain: (id) => pool.waitForChain(id),
    cancelChain: (id, options) => pool.cancelChain(id, options),
  };
}
