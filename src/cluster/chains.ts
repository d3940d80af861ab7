/**
 * Chains over the cluster: the chain's actor (the statechart of `machines/chain.ts`, as on one node) runs on
 * the node that submitted it, and each of its steps is a cluster task, reserved from the ledger like any other.
 * The chain's record and progress live in Redis with the tasks', so any node sees them, and a cancel from any
 * node reaches the node that runs the chain.
 *
 * Where the steps run depends on the chain's isolation:
 * - `none` (the default here): each step is queued in the cluster and runs on any node, in its slot's
 *   directory or in the step's own `workingDir`;
 * - `worktree` or `clone`: the chain's node makes the git worktree (or clone) of its pool's repository, as a
 *   pool does, and every step runs there, on this node's slots (pinned: a worktree is one machine's). A node
 *   that takes no jobs has no slots for them and refuses such a chain.
 */
import { newChainRecord } from '../pool/new-records.js';
import { createActor, fromCallback, type AnyActorRef } from 'xstate';
import { chainMachine } from '../../machines/chain.js';
import type { ChainOptions, ChainStep, TaskId, TaskOverrides, TaskRecord } from '../../machines/types.js';
import { chainStepsProblem, createChainActors } from '../chain-actors.js';
import { InvalidInput, TaskNotFound } from '../errors.js';
import type { SkillRegistry } from '../skills/registry.js';
import { ChainStateWriter, type ClusterChainProgress } from './chain-progress.js';
import type { ClusterRecords } from './records.js';
import type { WorktreeManager } from '../worktree.js';

/**
 * Options of a cluster chain: those of a pool's chain. `isolation` defaults to `none` (steps on any node);
 * `worktree` and `clone` run every step on the chain's node, in its worktree or clone.
 */
export type ClusterChainOptions = ChainOptions;

/** What the chains need from their node. */
export interface ClusterChainDeps {
  skills: SkillRegistry;
  records: ClusterRecords;
  progress: ClusterChainProgress;
  /**
   * Submits a step as a cluster task, tagged with its chain: queued for any node, or with `pinned` run on this
   * node (the step of an isolated chain).
   */
  submitStep(step: {
    chainId: TaskId;
    prompt: string;
    config: TaskOverrides | undefined;
    workingDir?: string;
    pinned: boolean;
  }): Promise<TaskId>;
  waitForFinal(taskId: TaskId): Promise<TaskRecord>;
  cancelTask(taskId: TaskId): Promise<void>;
  /** Sends each chunk a step task streams, wherever it runs; returns the unsubscribe. */
  subscribeOutput(taskId: TaskId, onChunk: (chunk: string) => void): () => void;
  /** Records this node as the one that runs the chain. */
  claim(chainId: TaskId): Promise<void>;
  /** Where isolated chains get their worktrees and clones (this node's pool's manager), or why there is none. */
  worktrees(): { manager?: WorktreeManager; reason?: string };
  /** False on a node that takes no jobs: it cannot run an isolated chain's steps. */
  runsSteps: boolean;
}

/** The chains this node runs. */
export class ClusterChains {
  private readonly running = new Map<TaskId, AnyActorRef>();
  private readonly ended = new Map<TaskId, Promise<void>>();
  /** The chains whose steps run here, in their worktree or clone. */
  private readonly isolated = new Set<TaskId>();
  private readonly actors: ReturnType<typeof createChainActors>;

  constructor(private readonly deps: ClusterChainDeps) {
    this.actors = createChainActors(
      {
        skills: deps.skills,
        submitStep: (chainId, prompt, config, workingDir) =>
          deps.submitStep({ chainId, prompt, config, workingDir, pinned: this.isolated.has(chainId) }),
        waitForFinal: deps.waitForFinal,
        cancelTask: deps.cancelTask,
        subscribeOutput: deps.subscribeOutput,
        worktrees: () => Promise.resolve(deps.worktrees()),
      },
      (chainId, chunk) => this.running.get(chainId)?.send({ type: 'STEP.OUTPUT', chunk }),
    );
  }

  /** Validates and starts a chain here; resolves with its id once its record is in Redis. */
  async submit(steps: ChainStep[], options: ClusterChainOptions = {}): Promise<TaskId> {
    const problem = chainStepsProblem(steps, this.deps.skills);
    if (problem) throw new InvalidInput(problem);
    const isolation = options.isolation ?? 'none';
    if (!['none', 'worktree', 'clone'].includes(isolation)) {
      throw new InvalidInput(`isolation must be 'none', 'worktree' or 'clone', got ${JSON.stringify(isolation)}`);
    }
    if (isolation !== 'none' && !this.deps.runsSteps) {
      throw new InvalidInput(
        `a node that takes no jobs cannot run a chain isolated in its ${isolation}: use isolation 'none', or submit it on a node with slots`,
      );
    }
    const record: TaskRecord = { ...newChainRecord(steps, options.tags), startedAtMs: Date.now() };
    const { id } = record;
    await this.deps.claim(id);
    // The chain tells its parent when it has ended; here the parent only lets it go.
    const parent = createActor(
      fromCallback(({ receive }) => {
        receive(() => this.running.delete(id));
      }),
    ).start();
    const actor = createActor(chainMachine.provide({ actors: this.actors }), {
      input: { record, steps: structuredClone(steps), isolation, clock: Date.now },
      parent,
    });
    // Its progress and record are in Redis before its id is returned, so any node can follow it at once.
    const writer = new ChainStateWriter(this.deps.progress, this.deps.records);
    writer.write({ record, progress: actor.getSnapshot().context.progress });
    await writer.flushed();
    let end!: () => void;
    this.ended.set(
      id,
      new Promise<void>((resolve) => {
        end = resolve;
      }),
    );
    actor.subscribe((snapshot) => {
      writer.write({ record: snapshot.context.record, progress: snapshot.context.progress });
      if (snapshot.status !== 'done') return;
      parent.stop();
      this.isolated.delete(id);
      // It has ended once its final progress and record are in Redis.
      void writer.flushed().then(() => {
        this.ended.delete(id);
        end();
      });
    });
    if (isolation !== 'none') this.isolated.add(id);
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
