/**
 * Auto-routing types: the decision a router model makes about a task, the hints that steer it, and what
 * running the decision gives.
 */
import type { ChainResult, TaskId, TaskResult } from '../../machines/types.js';

/** Which route the caller would rather see (wire form: `prefer_single`, …). */
export type RoutePreference = 'prefer_single' | 'prefer_parallel' | 'prefer_chain';

/** Every route preference. */
export const ROUTE_PREFERENCES: readonly RoutePreference[] = ['prefer_single', 'prefer_parallel', 'prefer_chain'];

/** The names of the three routes. */
export type RouteName = 'single' | 'parallel' | 'chain';

/** Every route name. */
export const ROUTE_NAMES: readonly RouteName[] = ['single', 'parallel', 'chain'];

/** Constraints added to the routing prompt as a `## Constraints` section. */
export interface AutoHint {
  /** At most this many parallel tasks. */
  maxParallel?: number;
  /** At most this many chain steps. */
  maxChainSteps?: number;
  /** The preferred route (the router may still choose differently). */
  prefer?: RoutePreference;
  /** The domain of the task, e.g. `rust backend`. */
  domain?: string;
  /** Where the task may be split, e.g. `['parser', 'printer']`. */
  decompositionHints?: string[];
}

/** How to route: a custom base prompt (replacing the built-in router prompt) and hints. */
export interface AutoConfig {
  customPrompt?: string;
  hints?: AutoHint;
}

/** One step of a chain route. */
export interface AutoStep {
  name: string;
  /** The step's prompt; `{previous_output}` is the previous step's output. */
  prompt: string;
}

/** The router's decision. */
export type AutoRoute =
  | { route: 'single'; prompt: string }
  | { route: 'parallel'; prompts: string[] }
  | { route: 'chain'; steps: AutoStep[] };

/** Where in the router's reply the decision was found. */
export type RouteExtraction = 'direct' | 'json_fence' | 'bare_fence' | 'embedded';

/** A routing decision with what it cost and how it was read. */
export interface RouteDecision {
  decision: AutoRoute;
  /** Which extraction path found it. */
  extraction: RouteExtraction;
  /** The id of the routing task. */
  routingTaskId: TaskId;
  /** What the routing call cost (charged to the pool budget). */
  routingCostMicrodollars: number;
}

/** What `auto` produced; `output` and `costMicrodollars` are there for every route. */
export type AutoResult = (
  | { route: 'single'; result: TaskResult }
  | { route: 'parallel'; results: TaskResult[] }
  | { route: 'chain'; chainId: TaskId; result: ChainResult }
) & {
  /** single: the output; parallel: `[i] <trimmed output>` lines; chain: the final output. */
  output: string;
  /** True when every task (or the chain) succeeded. */
  success: boolean;
  /** What running the route cost, the routing call included. */
  costMicrodollars: number;
  /** What the routing call cost (0 when it never ran). */
  routingCostMicrodollars: number;
  /** The decision that was run (the fallback single route when routing failed). */
  decision: AutoRoute;
  /** Why routing failed and the task ran as a single prompt; absent when routing worked. */
  fallbackReason?: string;
};
