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
  TaskId,
  TaskRecord,
  TaskResult,
} from '../../machines/types.js';
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
export async function fanOutChains(
  rt: PoolRuntime,
  chains: ChainStep[][],
  options: ChainOptions = {},
): Promise<FanOutChainOutcome[]> {
  if (!Array.isArray(chains)) throw new InvalidInput('chains must be a list of step lists');
  const outcomes: FanOutChainOutcome[] = [];
  for (const steps of chains) {
    try {
      outcomes.push({ chainId: await submitChain(rt, steps, options) });
    } catch (error) {
      if (!(error instanceof PoolError)) throw error;
      outcomes.push({ error: { code: error.code, message: error.message } });
    }
  }
  return outcomes;
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
  const record = await rt.waitForFinal(id);
  return JSON.parse(record.result?.output ?? 'null') as ChainResult;
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
  let steps: ChainStep[];
  try {
    steps = rt.workflows.instantiate(name, args);
  } catch (error) {
    throw asInvalidInput(error);
  }
  return submitChain(rt, steps, options);
}

/** Renders a registered skill with its arguments and runs it (the skill's config, then `options.config`). */
export async function runSkill(
  rt: PoolRuntime,
  name: string,
  args: Record<string, string> = {},
  options: RunOptions = {},
): Promise<TaskResult> {
  let prompt: string;
  try {
    prompt = rt.skills.render(name, args);
  } catch (error) {
    throw asInvalidInput(error);
  }
  const skillConfig = rt.skills.get(name)?.config;
  return run(rt, prompt, { ...options, config: { ...(skillConfig ?? {}), ...(options.config ?? {}) } });
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
