/**
 * Auto-routing tools: ask the router how to run a task (`pool_route*`), or route and run it (`pool_auto*`).
 */
import { z } from 'zod';
import {
  ROUTE_PREFERENCES,
  type AutoConfig,
  type AutoHint,
  type AutoResult,
  type RoutePreference,
} from '../../routing/types.js';
import type { ChainFront } from '../../pool/chain-front.js';
import type { TaskFront } from '../../pool/task-front.js';
import { auto, route, type RoutingPool } from '../../routing/route.js';
import { followChain } from './chains.js';
import { isolationParam, overrideParams, tagsParam, toOverrides } from '../params.js';
import { CountedProgress, defineTool, type PoolTool, type ToolContext } from '../tool.js';
import { wireObject, wireResult, type WireObject } from '../wire.js';

const promptParam = z.string().min(1).describe('The task to route');
const customPromptParam = z.string().min(1).optional().describe('Replaces the built-in router instructions');

/** The hint parameters (reference names). */
const hintParams = {
  max_parallel: z.number().int().min(1).optional().describe('At most this many parallel tasks'),
  max_chain_steps: z.number().int().min(1).optional().describe('At most this many chain steps'),
  prefer: z
    .enum(ROUTE_PREFERENCES as [RoutePreference, ...RoutePreference[]])
    .optional()
    .describe('Preferred route'),
  domain: z.string().optional().describe('The domain of the task, e.g. "rust backend"'),
  decomposition_hints: z.array(z.string()).optional().describe('Where the task may be split'),
};

function toHints(args: {
  max_parallel?: number;
  max_chain_steps?: number;
  prefer?: RoutePreference;
  domain?: string;
  decomposition_hints?: string[];
}): AutoHint {
  const hints: AutoHint = {};
  if (args.max_parallel !== undefined) hints.maxParallel = args.max_parallel;
  if (args.max_chain_steps !== undefined) hints.maxChainSteps = args.max_chain_steps;
  if (args.prefer !== undefined) hints.prefer = args.prefer;
  if (args.domain !== undefined) hints.domain = args.domain;
  if (args.decomposition_hints !== undefined) hints.decompositionHints = args.decomposition_hints;
  return hints;
}

/** The `pool_auto*` response: `{route, output, cost_microdollars, success, …}` plus the route's details. */
function wireAuto(result: AutoResult): WireObject {
  const body: WireObject = {
    route: result.route,
    output: result.output,
    cost_microdollars: result.costMicrodollars,
    routing_cost_microdollars: result.routingCostMicrodollars,
    success: result.success,
    decision: wireObject(result.decision),
  };
  if (result.fallbackReason !== undefined) body.fallback_reason = result.fallbackReason;
  if (result.route === 'single') body.result = wireResult(result.result);
  if (result.route === 'parallel') body.results = result.results.map(wireResult);
  if (result.route === 'chain') {
    body.task_id = result.chainId;
    body.result = wireObject(result.result);
  }
  return body;
}

const autoInput = {
  prompt: promptParam,
  ...overrideParams,
  tags: tagsParam.optional(),
  isolation: isolationParam.optional(),
};

/**
 * What routing runs on: the front doors' tasks and chains, so that on a cluster node the routing call and the
 * work it decides on both go to the cluster.
 */
function routingPoolOf(tasks: TaskFront, chains: ChainFront): RoutingPool {
  return {
    run: (prompt, options) => tasks.run(prompt, options),
    fanOut: (prompts, options) => tasks.fanOut(prompts, options),
    submitChain: (steps, options) => chains.submitChain(steps, options),
    waitForChain: (id) => chains.waitForChain(id),
    cancelChain: (id, options) => chains.cancelChain(id, options),
  };
}

/** Routes and runs, reporting the routing decision and a chain route's steps as progress. */
async function runAuto(
  args: z.output<z.ZodObject<typeof autoInput>>,
  config: AutoConfig,
  { tasks, chains, progress, signal }: ToolContext,
): Promise<WireObject> {
  const counted = progress.enabled ? new CountedProgress(progress, 2) : undefined;
  counted?.start('routing');
  let following: Promise<unknown> | undefined;
  const result = await auto(routingPoolOf(tasks, chains), args.prompt, config, {
    config: toOverrides(args),
    tags: args.tags,
    isolation: args.isolation,
    signal,
    onFallback: (reason) => counted?.done(`routing failed, running as one task: ${reason}`),
    onChainSubmitted: (chainId) => {
      counted?.done(`routed as a chain: ${chainId}`);
      if (progress.enabled) following = followChain(chains, chainId, progress).catch(() => undefined);
    },
  });
  await following;
  counted?.done(`${result.route} finished`);
  return wireAuto(result);
}

/** The routing tools. */
export function routingTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_route',
      title: 'Route a task (dry run)',
      description:
        'Ask the router (one plan-mode, one-turn task on the pool, charged to the budget) whether the task runs as one ' +
        'prompt, parallel prompts or a chain, without running it. Returns {route, prompt|prompts|steps, extraction, ' +
        'routing_task_id, routing_cost_microdollars}. An unusable reply is the error route_failed.',
      input: { prompt: promptParam, custom_prompt: customPromptParam },
      annotations: { readOnlyHint: true, openWorldHint: true },
      async run(args, { tasks, chains, signal }) {
        const decided = await route(
          routingPoolOf(tasks, chains),
          args.prompt,
          args.custom_prompt ? { customPrompt: args.custom_prompt } : {},
          { signal },
        );
        return { ...wireObject(decided.decision), ...wireObject({ ...decided, decision: undefined }) };
      },
    }),
    defineTool({
      name: 'pool_route_with_hints',
      title: 'Route a task with hints (dry run)',
      description:
        'pool_route with constraints for the router: max_parallel, max_chain_steps, prefer (prefer_single, ' +
        'prefer_parallel, prefer_chain), domain, decomposition_hints.',
      input: { prompt: promptParam, ...hintParams, custom_prompt: customPromptParam },
      annotations: { readOnlyHint: true, openWorldHint: true },
      async run(args, { tasks, chains, signal }) {
        const config: AutoConfig = {
          hints: toHints(args),
          ...(args.custom_prompt ? { customPrompt: args.custom_prompt } : {}),
        };
        const decided = await route(routingPoolOf(tasks, chains), args.prompt, config, { signal });
        return { ...wireObject(decided.decision), ...wireObject({ ...decided, decision: undefined }) };
      },
    }),
    defineTool({
      name: 'pool_auto',
      title: 'Route and run a task',
      description:
        'Route the task (see pool_route), then run it: single → one task, parallel → a fan-out, chain → a chain (isolated ' +
        'like pool_chain; cancelling the request cancels it). When routing fails the task runs as one prompt and ' +
        'fallback_reason says why. Returns {route, output, cost_microdollars (routing included), routing_cost_microdollars, ' +
        'success, decision, result|results, task_id (chains)}. Overrides apply to the work, not to the routing call.',
      input: { ...autoInput, custom_prompt: customPromptParam },
      annotations: { destructiveHint: false, openWorldHint: true },
      run(args, context) {
        return runAuto(args, args.custom_prompt ? { customPrompt: args.custom_prompt } : {}, context);
      },
    }),
    defineTool({
      name: 'pool_auto_with_hints',
      title: 'Route with hints and run a task',
      description:
        'pool_auto with constraints for the router: max_parallel, max_chain_steps, prefer, domain, decomposition_hints.',
      input: { ...autoInput, ...hintParams, custom_prompt: customPromptParam },
      annotations: { destructiveHint: false, openWorldHint: true },
      run(args, context) {
        return runAuto(
          args,
          { hints: toHints(args), ...(args.custom_prompt ? { customPrompt: args.custom_prompt } : {}) },
          context,
        );
      },
    }),
  ];
}
