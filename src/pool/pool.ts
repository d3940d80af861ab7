/**
 * The Pool facade: turns calls into events for the supervisor actor and awaits the answers the actors give.
 * Every decision (admission, dispatch, budget, scaling bounds, drain) is made by the statecharts in
 * `machines/`; each method here is a one-line delegation to the domain module that does the waiting.
 */
import type {
  ChainOptions,
  ChainResult,
  ChainStep,
  DrainSummary,
  Message,
  SlotConfig,
  SlotId,
  SlotRecord,
  TaskId,
  TaskOverrides,
  TaskRecord,
  TaskResult,
} from '../../machines/types.js';
import type { ClaudeOptions } from '../agent/types.js';
import type { WorktreeManager } from '../worktree.js';
import { InvalidInput } from '../errors.js';
import type { AutoConfig, AutoHint, AutoOptions, AutoResult, RouteDecision, RouteOptions } from '../routing/index.js';
import * as routing from '../routing/route.js';
import type { BuildResources, BuildSettings } from './build-types.js';
import { PoolBuilder } from './builder.js';
import * as chains from './chains.js';
import { PoolView } from './pool-view.js';
import { drain } from './drain.js';
import * as inbox from './inbox.js';
import type {
  CancelChainOptions,
  DrainOptions,
  FanOutChainOutcome,
  RunOptions,
  SubmitOptions,
  SupervisorHandle,
} from './options.js';
import type { PermissionDecision } from './permissions.js';
import { adopt } from './adopt.js';
import { resume } from './resume.js';
import { PoolRuntime } from './runtime.js';
import * as slots from './slots.js';
import * as tasks from './tasks.js';

/** A pool of agent slots run by a supervisor actor: the commands (the queries are in `PoolView`). */
export class Pool extends PoolView {
  /** Starts building a pool that runs `claude` with these options. */
  static builder(claude?: ClaudeOptions): PoolBuilder {
    return new PoolBuilder(claude);
  }

  /** @internal Starts a pool the builder prepared. Use `Pool.builder()`. */
  static start(settings: BuildSettings, resources: BuildResources): Pool {
    const rt = new PoolRuntime(settings, resources);
    rt.actor.start();
    resume(rt, resources.restore, new Set(resources.slots.map((slot) => slot.id)));
    return new Pool(rt);
  }

  private drainSummary?: Promise<DrainSummary>;

  private constructor(rt: PoolRuntime) {
    super(rt);
  }

  /** Runs a prompt on the next idle slot and resolves with its result. */
  run(prompt: string, options: RunOptions = {}): Promise<TaskResult> {
    return tasks.run(this.rt, prompt, options);
  }

  /** Queues a prompt and returns its task id once the supervisor has admitted it. */
  submit(prompt: string): Promise<TaskId> {
    return tasks.admit(this.rt, prompt, {});
  }

  /** Queues a prompt with overrides and tags; returns its task id once admitted. */
  submitWithConfig(prompt: string, config?: TaskOverrides, tags?: string[]): Promise<TaskId> {
    return tasks.admit(this.rt, prompt, { config, tags });
  }

  /** Queues a prompt whose result must be approved; it ends in PendingReview instead of Completed. */
  async submitWithReview(prompt: string, config?: TaskOverrides, tags?: string[], maxRejections = 3): Promise<TaskId> {
    if (!Number.isInteger(maxRejections) || maxRejections < 1) {
      throw new InvalidInput(`maxRejections must be an integer >= 1, got ${maxRejections}`);
    }
    return tasks.admit(this.rt, prompt, { config, tags, review: { maxRejections } });
  }

  /**
   * @internal Queues a pending task record made elsewhere, under its own id (a cluster node runs the cluster's
   * jobs this way). Resolves with the id once admitted.
   */
  submitRecord(record: TaskRecord): Promise<TaskId> {
    return adopt(this.rt, record);
  }

  /**
   * Cancels a task. A queued task is dropped; a running task's run is interrupted and its process ended — a warm
   * slot's process is interrupted only, and lives on for the slot's next task (resolves once the run has ended);
   * a task in review is cancelled. Finished tasks are left as they are. A chain id cancels the chain.
   */
  cancel(id: TaskId): Promise<void> {
    return tasks.cancel(this.rt, id, (chainId) => this.cancelChain(chainId));
  }

  /** Gives the oldest queued task to this idle slot now; returns its id, or `undefined` when nothing was taken. */
  claim(slotId: SlotId): Promise<TaskId | undefined> {
    return tasks.claim(this.rt, slotId);
  }

  /** Runs every prompt in parallel; resolves with every result in input order, failures included. */
  fanOut(prompts: string[], options: SubmitOptions = {}): Promise<TaskResult[]> {
    return tasks.fanOut(this.rt, prompts, options);
  }

  /** Approves a task in PendingReview: it becomes Completed. */
  approveResult(id: TaskId): Promise<void> {
    return tasks.approve(this.rt, id);
  }

  /** Rejects a task in PendingReview: it runs again with the feedback, or fails at its last rejection. */
  rejectResult(id: TaskId, feedback: string): Promise<void> {
    return tasks.reject(this.rt, id, feedback);
  }

  /**
   * Submits a chain of steps; returns its `chain-…` id once admitted. The steps run in order on the pool's
   * slots, isolated in a git worktree by default (`isolation: 'clone'` clones, `'none'` uses the slot's
   * directory).
   */
  submitChain(steps: ChainStep[], options: ChainOptions = {}): Promise<TaskId> {
    return chains.submitChain(this.rt, steps, options);
  }

  /** Submits every chain; one bad chain does not stop the others. Outcomes are in input order. */
  fanOutChains(chainSteps: ChainStep[][], options: ChainOptions = {}): Promise<FanOutChainOutcome[]> {
    return chains.fanOutChains(this.rt, chainSteps, options);
  }

  /**
   * Cancels a chain: the remaining steps are recorded as skipped. By default the running step finishes and
   * its result is kept; with `immediate` it is killed. No-op on a finished chain.
   */
  cancelChain(id: TaskId, options: CancelChainOptions = {}): Promise<void> {
    return chains.cancelChain(this.rt, id, options);
  }

  /** Resolves with the chain's result once it has ended (completed, failed or cancelled). */
  waitForChain(id: TaskId): Promise<ChainResult> {
    return chains.waitForChain(this.rt, id);
  }

  /** Instantiates a registered workflow with its arguments and submits it as a chain. */
  runWorkflow(name: string, args: Record<string, string> = {}, options: ChainOptions = {}): Promise<TaskId> {
    return chains.runWorkflow(this.rt, name, args, options);
  }

  /** Renders a registered skill with its arguments and runs it (the skill's config, then `options.config`). */
  runSkill(name: string, args: Record<string, string> = {}, options: RunOptions = {}): Promise<TaskResult> {
    return chains.runSkill(this.rt, name, args, options);
  }

  /**
   * Stops taking work, cancels (or finishes) queued tasks, waits for running ones (cancelling them once
   * `timeoutMs` has passed), stops every slot and returns the totals. Calling it again returns the same summary.
   */
  drain(options: DrainOptions = {}): Promise<DrainSummary> {
    this.drainSummary ??= drain(this.rt, options);
    return this.drainSummary;
  }

  /**
   * Answers an agent's open tool-permission question (from a \`permission.requested\` event or
   * \`pendingPermissions()\`): \`{behavior: 'allow'}\` runs the tool (with \`updatedInput\` if given),
   * \`{behavior: 'deny', message}\` refuses it. \`PermissionRequestNotFound\` for an unknown or already answered id.
   */
  answerPermission(requestId: string, decision: PermissionDecision): void {
    this.rt.permissions.answer(requestId, decision);
  }

  /** Sets a shared-context entry (injected into every task's system prompt). */
  setContext(key: string, value: string): void {
    inbox.setContext(this.rt, key, value);
  }

  /** Deletes a shared-context entry and returns its old value. */
  deleteContext(key: string): string | undefined {
    return inbox.deleteContext(this.rt, key);
  }

  /** Changes a slot's identity or settings for its next tasks. */
  configureSlot(slotId: SlotId, config: SlotConfig): SlotRecord {
    return slots.configureSlot(this.rt, slotId, config);
  }

  /**
   * Adds `count` slots (ids `slot-N` after the highest in use, with `config` or the default); resolves with
   * the new slot count. Scale calls run one at a time, in call order.
   */
  scaleUp(count: number, config: SlotConfig = {}): Promise<number> {
    return slots.serialised(this.rt, () => slots.scaleUp(this.rt, count, config));
  }

  /**
   * Removes `count` slots: idle ones first, least used first (newest first on a tie), then errored, then
   * busy ones. A busy slot chosen is Retiring: it finishes its task, then stops and is removed. Resolves with
   * the new slot count (Retiring slots no longer count). Scale calls run one at a time, in call order.
   */
  scaleDown(count: number): Promise<number> {
    return slots.serialised(this.rt, () => slots.scaleDown(this.rt, count));
  }

  /** Scales up or down to `target` slots; resolves with the new count. Serialised with the other scale calls. */
  setTargetSlots(target: number): Promise<number> {
    return slots.serialised(this.rt, () => slots.setTargetSlots(this.rt, target));
  }

  /** Starts restarting errored slots (up to `maxRestarts` each); `undefined` when `supervisorEnabled` is false. */
  startSupervisor(): SupervisorHandle | undefined {
    return slots.startSupervisor(this.rt);
  }

  /** Sends a message to a slot; returns its id. */
  sendMessage(from: SlotId, to: SlotId, content: string): string {
    return inbox.sendMessage(this.rt, from, to, content);
  }

  /**
   * @internal Where chains get their git worktrees and clones: the pool's manager, or why it has none (a
   * cluster node's chains isolate their steps with it).
   */
  chainWorkspaces(): { manager?: WorktreeManager; reason?: string } {
    return { manager: this.rt.worktrees, reason: this.rt.worktreesUnavailable };
  }

  /** @internal Delivers a message from a slot of another cluster node (`node/slot-N`) to one of this pool's slots. */
  deliverMessage(from: string, to: SlotId, content: string): Message {
    return inbox.deliverMessage(this.rt, from, to, content);
  }

  /** Sends a message to every other slot; returns one id per recipient. */
  broadcastMessage(from: SlotId, content: string): string[] {
    return inbox.broadcastMessage(this.rt, from, content);
  }

  /** Removes and returns a slot's messages, oldest first. */
  readMessages(slotId: SlotId): Message[] {
    return inbox.readMessages(this.rt, slotId);
  }

  /** Asks the router how to run `task` (custom prompt and hints in `config`); returns the decision without running it. */
  route(task: string, config?: AutoConfig, options?: RouteOptions): Promise<RouteDecision> {
    return routing.route(this, task, config, options);
  }

  /** `route` with a `## Constraints` section built from `hints`. */
  routeWithHints(task: string, hints: AutoHint, options?: RouteOptions): Promise<RouteDecision> {
    return routing.route(this, task, { hints }, options);
  }

  /** Routes `task` and runs the decision (a single run, a fan-out or a chain); falls back to a single run when routing fails. */
  auto(task: string, config?: AutoConfig, options?: AutoOptions): Promise<AutoResult> {
    return routing.auto(this, task, config, options);
  }

  /** `auto` with a `## Constraints` section built from `hints`. */
  autoWithHints(task: string, hints: AutoHint, options?: AutoOptions): Promise<AutoResult> {
    return routing.auto(this, task, { hints }, options);
  }
}
