/**
 * The side effects of a chain, provided to the chain statechart: `runStep` (render a step's prompt and run
 * it as a pool task), `isolate` (make the chain's worktree or clone) and `cleanup` (remove it).
 */
import { fromPromise } from 'xstate';
import type { CleanupInput, IsolateInput, IsolateOutput, RunStepInput, RunStepOutput } from '../machines/chain.js';
import { renderRecoveryPrompt, renderStepPrompt } from '../machines/templating.js';
import type { ChainStep, TaskId, TaskOverrides, TaskRecord } from '../machines/types.js';
import type { SkillRegistry } from './skills/registry.js';
import type { WorktreeManager } from './worktree.js';

/** What the chain actors need from the pool. */
export interface ChainActorDeps {
  skills: SkillRegistry;
  /** Submits a step task; resolves with its id once admitted (rejects with the pool's typed errors). */
  submitStep(chainId: TaskId, prompt: string, config: TaskOverrides | undefined, workingDir?: string): Promise<TaskId>;
  /** Resolves with the task's final record. */
  waitForFinal(taskId: TaskId): Promise<TaskRecord>;
  /** Cancels a task (kills its process). */
  cancelTask(taskId: TaskId): Promise<void>;
  /** Sends a streamed chunk of the step task to the chain. */
  subscribeOutput(taskId: TaskId, onChunk: (chunk: string) => void): () => void;
  /** The worktree manager, or why there is none. */
  worktrees(): Promise<{ manager?: WorktreeManager; reason?: string }>;
}

/** The prompt and config a step attempt runs with. */
export function renderStep(
  input: Pick<RunStepInput, 'step' | 'mode' | 'previousOutput' | 'vars' | 'lastError'>,
  skills: SkillRegistry,
): { prompt: string; config?: TaskOverrides } {
  const { step } = input;
  if (input.mode === 'recovery') {
    const template = step.failurePolicy?.recoveryPrompt ?? '';
    return {
      prompt: renderRecoveryPrompt(template, input.lastError, input.previousOutput, input.vars),
      config: step.config,
    };
  }
  if (step.action.type === 'prompt') {
    return { prompt: renderStepPrompt(step.action.prompt, input.previousOutput, input.vars), config: step.config };
  }
  const skill = skills.get(step.action.skill);
  const args: Record<string, string> = { ...(step.action.arguments ?? {}) };
  if (input.previousOutput !== '' && args._previous_output === undefined) args._previous_output = input.previousOutput;
  const rendered = skills.render(step.action.skill, args);
  const config = skill?.config || step.config ? { ...(skill?.config ?? {}), ...(step.config ?? {}) } : undefined;
  return { prompt: renderStepPrompt(rendered, input.previousOutput, input.vars), config };
}

/** Creates the chain actors of a pool; `sendOutput` delivers a step's streamed chunks to its chain. */
export function createChainActors(deps: ChainActorDeps, sendOutput: (chainId: TaskId, chunk: string) => void) {
  /** Cancels of killed steps still under way, by chain: cleanup waits for their processes to be gone. */
  const cancellingByChain = new Map<TaskId, Set<Promise<void>>>();
  const cancellingOf = (chainId: TaskId) => {
    let set = cancellingByChain.get(chainId);
    if (!set) {
      set = new Set();
      cancellingByChain.set(chainId, set);
    }
    return set;
  };
  const runStep = fromPromise<RunStepOutput, RunStepInput>(async ({ input, signal }) => {
    const { prompt, config } = renderStep(input, deps.skills);
    const taskId = await deps.submitStep(input.chainId, prompt, config, input.workingDir);
    const unsubscribe = deps.subscribeOutput(taskId, (chunk) => sendOutput(input.chainId, chunk));
    const onAbort = () => {
      const cancelling = cancellingOf(input.chainId);
      const cancel = deps.cancelTask(taskId).catch(() => undefined);
      cancelling.add(cancel);
      void cancel.finally(() => cancelling.delete(cancel));
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const record = await deps.waitForFinal(taskId);
      if (record.state === 'cancelled') throw new Error(`step task ${taskId} was cancelled`);
      if (!record.result) throw new Error(`step task ${taskId} ended without a result`);
      return { taskId, result: record.result };
    } finally {
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  });

  const isolate = fromPromise<IsolateOutput, IsolateInput>(async ({ input }) => {
    if (input.isolation === 'none') return {};
    const { manager, reason } = await deps.worktrees();
    if (!manager) {
      return {
        warning: `${input.isolation} isolation unavailable (${reason}); the chain runs in the shared directory`,
      };
    }
    try {
      const workingDir =
        input.isolation === 'clone'
          ? await manager.createCloneForChain(input.chainId)
          : await manager.createForChain(input.chainId);
      return { workingDir };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { warning: `${input.isolation} isolation failed (${message}); the chain runs in the shared directory` };
    }
  });

  const cleanup = fromPromise<void, CleanupInput>(async ({ input }) => {
    await Promise.all([...(cancellingByChain.get(input.chainId) ?? [])]);
    cancellingByChain.delete(input.chainId);
    if (input.isolation === 'none') return;
    const { manager } = await deps.worktrees();
    if (!manager) return;
    if (input.isolation === 'clone') await manager.removeClone(input.chainId);
    else await manager.removeChain(input.chainId);
  });

  return { runStep, isolate, cleanup };
}

/** Checks chain steps; returns the first problem, or `undefined` when they are valid. */
export function chainStepsProblem(steps: unknown, skills: SkillRegistry): string | undefined {
  if (!Array.isArray(steps) || steps.length === 0) return 'a chain needs a non-empty list of steps';
  const names = new Set<string>();
  for (const [index, raw] of (steps as unknown[]).entries()) {
    const where = `steps[${index}]`;
    if (typeof raw !== 'object' || raw === null) return `${where} must be an object`;
    const step = raw as Partial<ChainStep>;
    if (typeof step.name !== 'string' || step.name.trim() === '') return `${where}.name must be a non-empty string`;
    if (names.has(step.name)) return `${where}.name '${step.name}' is used by an earlier step`;
    names.add(step.name);
    const action = step.action as Partial<ChainStep['action']> | undefined;
    if (!action || (action.type !== 'prompt' && action.type !== 'skill')) {
      return `${where}.action.type must be 'prompt' or 'skill'`;
    }
    if (action.type === 'prompt' && (typeof action.prompt !== 'string' || action.prompt.trim() === '')) {
      return `${where}.action.prompt must be a non-empty string`;
    }
    if (action.type === 'skill') {
      if (typeof action.skill !== 'string' || !skills.has(action.skill)) {
        return `${where}.action.skill: skill '${String(action.skill)}' not found`;
      }
      const args = action.arguments ?? {};
      if (typeof args !== 'object' || Object.values(args).some((v) => typeof v !== 'string')) {
        return `${where}.action.arguments must map names to strings`;
      }
    }
    const policy = step.failurePolicy;
    if (policy !== undefined) {
      if (!Number.isInteger(policy.retries) || policy.retries < 0) {
        return `${where}.failurePolicy.retries must be an integer >= 0`;
      }
      if (policy.recoveryPrompt !== undefined && typeof policy.recoveryPrompt !== 'string') {
        return `${where}.failurePolicy.recoveryPrompt must be a string`;
      }
    }
    if (step.outputVars !== undefined) {
      if (typeof step.outputVars !== 'object' || Object.values(step.outputVars).some((v) => typeof v !== 'string')) {
        return `${where}.outputVars must map variable names to dot paths`;
      }
    }
  }
  return undefined;
}
