/**
 * Chains: each one a child actor of the supervisor (`START_CHAIN`), with its progress, cancel and result;
 * workflows and skills, which submit chains and tasks.
 */
import { newChainRecord } from './new-records.js';
import type {
  ChainOptions,
  ChainProgress,
  ChainResult,
  ChainStep,
  StepResult,
  TaskId,
  TaskOverrides,
  TaskRecord,
  TaskResult,
} from '../../machines/types.js';
import type { SkillRegistry } from '../skills/registry.js';
import type { WorkflowRegistry } from '../workflows/registry.js';
import { chainStepsProblem } from '../chain-actors.js';
import { InvalidInput, PoolError, TaskNotFound } from '../errors.js';
import { errorForRefusal } from './failure-errors.js';
import type { CancelChainOptions, FanOutChainOutcome, RunOptions } from './options.js';
import type { PoolRuntime } from './runtime.js';
import { run } from './tasks.js';

/**
 * Submits a chain of steps; returns its `chain-…` id at once. The steps run in order on the pool's slots,
 * isolated in a git worktree by default (`isolation: 'clone'` clones, `'none'` uses the slot's directory).
 */
export async function submitChain(rt: PoolRuntime, steps: ChainStep[], options: ChainOptions = {}): Promise<TaskId> {
  const problem = chainStepsProblem(steps, rt.skills);
  if (problem) throw new InvalidInput(problem);
  const isolation = options.isolation ?? 'worktree';
  if (!['none', 'worktree', 'clone'].includes(isolation)) {
    throw new InvalidInput(`isolation must be 'none', 'worktree' or 'clone', got ${JSON.stringify(isolation)}`);
  }
  const record = newChainRecord(steps, options.tags);
  const { id } = record;
  const refusal = await rt.request({ type: 'START_CHAIN', record, steps: structuredClone(steps), isolation }, id);
  if (refusal) throw errorForRefusal(refusal);
  return id;
}

/** Submits every chain; one bad chain does not stop the others. Outcomes are in input order. */
export function fanOutChains(
  rt: PoolRuntime,
  chains: ChainStep[][],
  options: ChainOptions = {},
): Promise<FanOutChainOutcome[]> {
  return submitEach(chains, (steps) => submitChain(rt, steps, options));
}

/** A chain's live progress (finished chains: while they are among the recent ones). */
export function chainProgress(rt: PoolRuntime, id: TaskId): ChainProgress {
  const progress = rt.projection.chains.get(id);
  if (!progress) throw new TaskNotFound(id);
  return progress;
}

/**
 * Cancels a chain: the remaining steps are recorded as skipped. By default the running step finishes and
 * its result is kept; with `immediate` it is killed. No-op on a finished chain.
 */
export async function cancelChain(rt: PoolRuntime, id: TaskId, options: CancelChainOptions = {}): Promise<void> {
  const record = await chainRecord(rt, id);
  if (record.state !== 'running' && record.state !== 'pending') return;
  rt.actor.send({ type: 'CANCEL_CHAIN', chainId: id, immediate: options.immediate === true });
  if (options.immediate) await rt.waitForFinal(id);
}

/** Resolves with the chain's result once it has ended (completed, failed or cancelled). */
export async function waitForChain(rt: PoolRuntime, id: TaskId): Promise<ChainResult> {
  await chainRecord(rt, id);
  return chainResultOfRecord(await rt.waitForFinal(id));
}

/**
 * The result of a chain from its final record. A chain that ran to its end keeps its `ChainResult` there; one
 * that was cut short (interrupted by a restart, or by the death of the cluster node that ran it) keeps the
 * reason instead, which becomes a failed result with the steps it had finished (`finishedSteps`, when known).
 */
export function chainResultOfRecord(record: TaskRecord, finishedSteps: StepResult[] = []): ChainResult {
  const output = record.result?.output ?? '';
  try {
    const parsed = JSON.parse(output) as Partial<ChainResult> | null;
    if (parsed !== null && typeof parsed === 'object' && Array.isArray(parsed.steps)) return parsed as ChainResult;
  } catch {
    // Not a chain result: the reason the chain was cut short.
  }
  return {
    steps: finishedSteps,
    finalOutput: output,
    totalCostMicrodollars: record.result?.costMicrodollars ?? 0,
    success: false,
  };
}

/** Submits each chain with `submit`; one refused chain does not stop the others. Outcomes in input order. */
export async function submitEach(
  chains: ChainStep[][],
  submit: (steps: ChainStep[]) => Promise<TaskId>,
): Promise<FanOutChainOutcome[]> {
  if (!Array.isArray(chains)) throw new InvalidInput('chains must be a list of step lists');
  const outcomes: FanOutChainOutcome[] = [];
  for (const steps of chains) {
    try {
      outcomes.push({ chainId: await submit(steps) });
    } catch (error) {
      if (!(error instanceof PoolError)) throw error;
      outcomes.push({ error: { code: error.code, message: error.message } });
    }
  }
  return outcomes;
}

/** Warnings a chain collected (isolation fallback, output variables not found, cleanup failures). */
export function chainWarnings(rt: PoolRuntime, id: TaskId): string[] {
  const actor = rt.context().chains[id];
  if (actor) return [...actor.getSnapshot().context.warnings];
  const progress = rt.projection.chains.get(id);
  if (!progress) throw new TaskNotFound(id);
  return [...(progress.warnings ?? [])];
}

/** Instantiates a registered workflow with its arguments and submits it as a chain. */
export async function runWorkflow(
  rt: PoolRuntime,
  name: string,
  args: Record<string, string> = {},
  options: ChainOptions = {},
): Promise<TaskId> {
  return submitChain(rt, workflowSteps(rt.workflows, name, args), options);
}

/** Renders a registered skill with its arguments and runs it (the skill's config, then `options.config`). */
export async function runSkill(
  rt: PoolRuntime,
  name: string,
  args: Record<string, string> = {},
  options: RunOptions = {},
): Promise<TaskResult> {
  const { prompt, config } = skillRun(rt.skills, name, args, options.config);
  return run(rt, prompt, { ...options, config });
}

/**
 * The steps of a registered workflow instantiated with its arguments (`not_found` for an unknown workflow,
 * `InvalidInput` for missing or unknown arguments). A pool and a cluster node start them alike.
 */
export function workflowSteps(workflows: WorkflowRegistry, name: string, args: Record<string, string>): ChainStep[] {
  try {
    return workflows.instantiate(name, args);
  } catch (error) {
    throw asInvalidInput(error);
  }
}

/**
 * The prompt and config a registered skill runs with: rendered with its arguments, the skill's config and
 * then `config` (`not_found` for an unknown skill, `InvalidInput` for missing or unknown arguments).
 */
export function skillRun(
  skills: SkillRegistry,
  name: string,
  args: Record<string, string>,
  config: TaskOverrides | undefined,
): { prompt: string; config: TaskOverrides } {
  let prompt: string;
  try {
    prompt = skills.render(name, args);
  } catch (error) {
    throw asInvalidInput(error);
  }
  return { prompt, config: { ...(skills.get(name)?.config ?? {}), ...(config ?? {}) } };
}

/** The record of a chain (`TaskNotFound`; `InvalidInput` when the id is a task's). */
async function chainRecord(rt: PoolRuntime, id: TaskId): Promise<TaskRecord> {
  const record = await rt.task(id);
  if (record.kind !== 'chain') throw new InvalidInput(`${id} is not a chain`);
  return record;
}

/** Turns a registry's typed error (skill or workflow) into `InvalidInput`, keeping its message. */
function asInvalidInput(error: unknown): PoolError {
  if (error instanceof PoolError) return error;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'not_found') return new PoolError('not_found', error.message);
    return new InvalidInput(error.message);
  }
  return new InvalidInput(String(error));
}
