/**
 * Chains over the cluster: the chain's actor (the statechart of `machines/chain.ts`, as on one node) runs on
 * the node that submitted it, and each of its steps is a cluster task, queued, reserved from the ledger and run
 * on any node like any other. The chain's record lives in Redis with the tasks', so any node sees its progress
 * and result, and a cancel from any node reaches the node that runs the chain.
 *
 * Worktree and clone isolation need one machine's git checkout, so a cluster chain's steps run in their slot's
 * directory (`isolation: 'none'`, the only isolation it takes) or in a step's own `workingDir`.
 */
import { newChainRecord } from '../pool/new-records.js';
import { createActor, fromCallback, type AnyActorRef } from 'xstate';
import { chainMachine } from '../../machines/chain.js';
import type { ChainResult, ChainStep, TaskId, TaskOverrides, TaskRecord } from '../../machines/types.js';
import { chainStepsProblem, createChainActors } from '../chain-actors.js';
import { InvalidInput, TaskNotFound } from '../errors.js';
import type { SkillRegistry } from '../skills/registry.js';
import type { ClusterRecords } from './records.js';

/** Options of a cluster chain. */
export interface ClusterChainOptions {
  tags?: string[];
  /** Only `none`: steps run on any node, in their slot's directory. */
  isolation?: 'none';
}

/** What the chains need from their node. */
export interface ClusterChainDeps {
  skills: SkillRegistry;
  records: ClusterRecords;
  /** Queues a step as a cluster task, tagged with its chain. */
  submitStep(chainId: TaskId, prompt: string, config: TaskOverrides | undefined, workingDir?: string): Promise<TaskId>;
  waitForFinal(taskId: TaskId): Promise<TaskRecord>;
  cancelTask(taskId: TaskId): Promise<void>;
  /** Sends each chunk a step task streams, wherever it runs; returns the unsubscribe. */
  subscribeOutput(taskId: TaskId, onChunk: (chunk: string) => void): () => void;
  /** Records this node as the one that runs the chain. */
  claim(chainId: TaskId): Promise<void>;
}

/** The chains this node runs. */
export class ClusterChains {
  private readonly running = new Map<TaskId, AnyActorRef>();
  private readonly ended = new Map<TaskId, Promise<void>>();
  private readonly actors: ReturnType<typeof createChainActors>;

  constructor(private readonly deps: ClusterChainDeps) {
    this.actors = createChainActors(
      {
        skills: deps.skills,
        submitStep: deps.submitStep,
        waitForFinal: deps.waitForFinal,
        cancelTask: deps.cancelTask,
        subscribeOutput: deps.subscribeOutput,
        worktrees: () => Promise.resolve({ reason: 'a cluster chain runs its steps on any node' }),
      },
      (chainId, chunk) => this.running.get(chainId)?.send({ type: 'STEP.OUTPUT', chunk }),
    );
  }

  /** Validates and starts a chain here; resolves with its id once its record is in Redis. */
  async submit(steps: ChainStep[], options: ClusterChainOptions = {}): Promise<TaskId> {
    const problem = chainStepsProblem(steps, this.deps.skills);
    if (problem) throw new InvalidInput(problem);
    if (options.isolation !== undefined && options.isolation !== 'none') {
      throw new InvalidInput(
        `a cluster chain runs its steps on any node: isolation must be 'none', got ${JSON.stringify(options.isolation)}`,
      );
    }
    const record: TaskRecord = { ...newChainRecord(steps, options.tags), startedAtMs: Date.now() };
    const { id } = record;
    await this.deps.claim(id);
    await this.deps.records.put(record);
    // The chain tells its parent when it has ended; here the parent only lets it go.
    const parent = createActor(
      fromCallback(({ receive }) => {
        receive(() => this.running.delete(id));
      }),
    ).start();
    const actor = createActor(chainMachine.provide({ actors: this.actors }), {
      input: { record, steps: structuredClone(steps), isolation: 'none', clock: Date.now },
      parent,
    });
    let last: TaskRecord | undefined;
    let end!: () => void;
    this.ended.set(
      id,
      new Promise<void>((resolve) => {
        end = resolve;
      }),
    );
    actor.subscribe((snapshot) => {
      const current = snapshot.context.record;
      if (current !== last) {
        last = current;
        void this.deps.records.put(current).catch(() => {});
      }
      if (snapshot.status !== 'done') return;
      parent.stop();
      this.ended.delete(id);
      end();
    });
    this.running.set(id, actor);
    actor.start();
    return id;
  }

  /** True when the chain runs on this node. */
  has(id: TaskId): boolean {
    return this.running.has(id);
  }

  /** Cancels a chain that runs here (remaining steps skipped; with `immediate` the running step is killed). */
  cancel(id: TaskId, immediate: boolean): void {
    const actor = this.running.get(id);
    if (!actor) throw new TaskNotFound(id);
    actor.send({ type: 'CANCEL', immediate });
  }

  /** Cancels every chain running here (the node is leaving); resolves once they have all ended. */
  async cancelAll(): Promise<void> {
    for (const actor of this.running.values()) actor.send({ type: 'CANCEL', immediate: true });
    await Promise.all(this.ended.values());
  }
}

/** The chain's result from its final record. */
export function chainResultOf(record: TaskRecord): ChainResult {
  return JSON.parse(record.result?.output ?? 'null') as ChainResult;
}
