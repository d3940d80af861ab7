/**
 * `route` and `auto` as functions over the few pool operations they need. The routing call is an ordinary
 * pool task (plan mode, one turn, no tools), so it takes a slot and is charged to the budget. A chain route
 * is submitted with the pool's chain API and awaited on the pool's promise, never polled.
 */
import type { ChainOptions, ChainResult, ChainStep, TaskId, TaskOverrides, TaskResult } from '../../machines/types.js';
import { PoolError } from '../errors.js';
import { extractRoute } from './parse.js';
import { buildRoutingPrompt } from './prompt.js';
import type { AutoConfig, AutoResult, AutoRoute, RouteDecision } from './types.js';

/** The pool operations routing uses (the `Pool` class has them all). */
export interface RoutingPool {
  run(
    prompt: string,
    options?: { config?: TaskOverrides; tags?: string[]; signal?: AbortSignal; onSubmitted?: (taskId: TaskId) => void },
  ): Promise<TaskResult>;
  fanOut(
    prompts: string[],
    options?: { config?: TaskOverrides; tags?: string[]; signal?: AbortSignal },
  ): Promise<TaskResult[]>;
  submitChain(steps: ChainStep[], options?: ChainOptions): Promise<TaskId>;
  waitForChain(id: TaskId): Promise<ChainResult>;
  cancelChain(id: TaskId, options?: { immediate?: boolean }): Promise<void>;
}

/** Overrides of the routing task: read-only, one turn, no tools. */
export const ROUTING_TASK_CONFIG: Readonly<TaskOverrides> = Object.freeze({
  permissionMode: 'plan',
  maxTurns: 1,
  tools: [],
});

/** The tag every routing task carries. */
export const ROUTING_TAG = 'routing';

/** The routing call failed, or its reply held no valid decision. */
export class RouteError extends PoolError {
  /** The routing task's id, when it ran. */
  readonly routingTaskId?: TaskId;
  /** What the routing call cost (it is charged even when the reply is unusable). */
  readonly routingCostMicrodollars: number;

  constructor(message: string, routingTaskId?: TaskId, routingCostMicrodollars = 0) {
    super('route_failed', message);
    this.routingTaskId = routingTaskId;
    this.routingCostMicrodollars = routingCostMicrodollars;
  }
}

/** Options of {@link route}. */
export interface RouteOptions {
  /** Extra overrides of the routing task (e.g. a cheaper `model`); plan mode, one turn and no tools stay. */
  routingConfig?: TaskOverrides;
  /** Aborting it cancels the routing task. */
  signal?: AbortSignal;
}

/**
 * Asks the router which way to run `task` and returns the decision without running it. Throws
 * {@link RouteError} when the routing task fails or its reply holds no valid decision; the pool's own
 * errors (budget exhausted, pool shut down, cancelled) pass through.
 */
export async function route(
  pool: RoutingPool,
  task: string,
  config: AutoConfig = {},
  options: RouteOptions = {},
): Promise<RouteDecision> {
  if (typeof task !== 'string' || task.trim() === '')
    throw new PoolError('invalid_input', 'the task to route must be a non-empty string');
  let taskId: TaskId | undefined;
  const result = await pool.run(buildRoutingPrompt(task, config), {
    config: { ...(options.routingConfig ?? {}), ...ROUTING_TASK_CONFIG },
    tags: [ROUTING_TAG],
    signal: options.signal,
    onSubmitted: (id) => {
      taskId = id;
    },
  });
  const id = taskId ?? '';
  if (!result.success) {
    throw new RouteError(`the routing task failed: ${firstLine(result.output)}`, id, result.costMicrodollars);
  }
  try {
    const { decision, extraction } = extractRoute(result.output);
    return { decision, extraction, routingTaskId: id, routingCostMicrodollars: result.costMicrodollars };
  } catch (error) {
    throw new RouteError(error instanceof Error ? error.message : String(error), id, result.costMicrodollars);
  }
}

/** Options of {@link auto} and {@link executeRoute}. */
export interface AutoOptions extends RouteOptions {
  /** Overrides of the tasks (or chain steps) that do the work. */
  config?: TaskOverrides;
  tags?: string[];
  /** Isolation of a chain route (default: the pool's default, a git worktree). */
  isolation?: ChainOptions['isolation'];
  /** Called with the chain id as soon as a chain route is submitted (to follow or cancel it). */
  onChainSubmitted?: (chainId: TaskId) => void;
  /** Called when routing failed and the task falls back to a single run. */
  onFallback?: (reason: string) => void;
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** `[i] <trimmed output>` lines of a parallel route. */
export function parallelOutput(results: readonly TaskResult[]): string {
  return results.map((r, i) => `[${i}] ${r.output.trim()}`).join('\n');
}

/** The chain steps of a chain route: prompt steps with the default failure policy. */
export function chainStepsOf(decision: Extract<AutoRoute, { route: 'chain' }>, config?: TaskOverrides): ChainStep[] {
  return decision.steps.map((step) => ({
    name: step.name,
    action: { type: 'prompt', prompt: step.prompt },
    ...(config ? { config: { ...config } } : {}),
  }));
}

/**
 * Runs a decision: single → `run`, parallel → `fanOut`, chain → `submitChain` then the pool's
 * `waitForChain` promise. Aborting `options.signal` cancels the work (a chain is cancelled immediately).
 */
export async function executeRoute(
  pool: RoutingPool,
  decision: AutoRoute,
  options: AutoOptions = {},
  routingCostMicrodollars = 0,
): Promise<AutoResult> {
  const common = { decision, routingCostMicrodollars };
  if (decision.route === 'single') {
    const result = await pool.run(decision.prompt, {
      config: options.config,
      tags: options.tags,
      signal: options.signal,
    });
    return {
      ...common,
      route: 'single',
      result,
      output: result.output,
      success: result.success,
      costMicrodollars: routingCostMicrodollars + result.costMicrodollars,
    };
  }
  if (decision.route === 'parallel') {
    const results = await pool.fanOut(decision.prompts, {
      config: options.config,
      tags: options.tags,
      signal: options.signal,
    });
    return {
      ...common,
      route: 'parallel',
      results,
      output: parallelOutput(results),
      success: results.every((r) => r.success),
      costMicrodollars: routingCostMicrodollars + results.reduce((sum, r) => sum + r.costMicrodollars, 0),
    };
  }
  const chainId = await pool.submitChain(chainStepsOf(decision, options.config), {
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.isolation ? { isolation: options.isolation } : {}),
  });
  options.onChainSubmitted?.(chainId);
  const onAbort = () => void pool.cancelChain(chainId, { immediate: true }).catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  try {
    const result = await pool.waitForChain(chainId);
    return {
      ...common,
      route: 'chain',
      chainId,
      result,
      output: result.finalOutput,
      success: result.success,
      costMicrodollars: routingCostMicrodollars + result.totalCostMicrodollars,
    };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Routes `task` and runs the decision. When routing fails ({@link RouteError}), the task runs as a single
 * prompt instead and `fallbackReason` says why; the routing call's cost is still counted.
 */
export async function auto(
  pool: RoutingPool,
  task: string,
  config: AutoConfig = {},
  options: AutoOptions = {},
): Promise<AutoResult> {
  let decided: RouteDecision;
  try {
    decided = await route(pool, task, config, options);
  } catch (error) {
    if (!(error instanceof RouteError)) throw error;
    options.onFallback?.(error.message);
    const result = await executeRoute(pool, { route: 'single', prompt: task }, options, error.routingCostMicrodollars);
    return { ...result, fallbackReason: error.message };
  }
  return executeRoute(pool, decided.decision, options, decided.routingCostMicrodollars);
}
