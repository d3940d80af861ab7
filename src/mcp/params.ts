/**
 * Parameters shared by several tools (reference snake_case names) and their mapping to the library's
 * camelCase types.
 */
import { z } from 'zod';
import {
  EFFORTS,
  PERMISSION_MODES,
  type ChainIsolation,
  type ChainOptions,
  type ChainStep,
  type Effort,
  type PermissionMode,
  type TaskOverrides,
} from '../../machines/types.js';

/** `min` is accepted as an alias of `low` (as the reference does). */
const EFFORT_INPUTS = ['min', ...EFFORTS] as const;

/** Effort input, `min` mapped to `low`. */
export const effortParam = z
  .enum(EFFORT_INPUTS)
  .transform((value): Effort => (value === 'min' ? 'low' : value))
  .describe(`Effort level: ${EFFORTS.join(', ')} (min = low)`);

/** Permission-mode input (exact spelling, as `claude --permission-mode`). */
export const permissionModeParam = z
  .enum(PERMISSION_MODES as [PermissionMode, ...PermissionMode[]])
  .describe(`Permission mode: ${PERMISSION_MODES.join(', ')}`);

const stringList = (what: string) => z.array(z.string()).describe(what);

/** The task states, as the wire spells them. */
export const TASK_STATES = ['pending', 'running', 'pending_review', 'completed', 'failed', 'cancelled'] as const;

/** A task state filter. */
export const taskStateParam = z.enum(TASK_STATES).describe(`Task state: ${TASK_STATES.join(', ')}`);

/** The slot states, as the wire spells them. */
export const SLOT_STATES = ['idle', 'busy', 'retiring', 'errored', 'stopped'] as const;

/** A slot state filter. */
export const slotStateParam = z.enum(SLOT_STATES).describe('Slot state');

/** Required task id. */
export const taskIdParam = z.string().min(1).describe('Task id (task-… or chain-…)');

/** Required slot id. */
export const slotIdParam = z.string().min(1).describe('Slot id (slot-0, slot-1, …)');

/** Tags attached to a task. */
export const tagsParam = stringList('Tags for filtering and metrics');

/**
 * The per-task override parameters. Every one is optional; they are folded into a `TaskOverrides` (no
 * override at all → none).
 */
export const overrideParams = {
  model: z.string().min(1).optional().describe('Model for this task (e.g. sonnet, opus, haiku)'),
  effort: effortParam.optional(),
  permission_mode: permissionModeParam.optional(),
  max_turns: z.number().int().min(1).optional().describe('Stop after this many model turns'),
  system_prompt: z.string().optional().describe("Replaces the slot's system prompt for this task"),
  allowed_tools: stringList('Tools pre-approved for this task (added to the pool and slot lists)').optional(),
  disallowed_tools: stringList('Tools taken away for this task').optional(),
  tools: stringList('The built-in tool set for this task ([] = none)').optional(),
  mcp_servers: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('MCP servers for this task, as in .mcp.json mcpServers (merged by name)'),
  json_schema: z.unknown().optional().describe('JSON schema the answer must follow (structured output)'),
  max_budget_usd: z
    .number()
    .positive()
    .optional()
    .describe('Spend cap of this task in USD (reserved from the pool budget)'),
  timeout_secs: z.number().positive().optional().describe('Kill the run after this many seconds'),
};

/** The parsed values of {@link overrideParams}. */
export type OverrideArgs = {
  model?: string;
  effort?: Effort;
  permission_mode?: PermissionMode;
  max_turns?: number;
  system_prompt?: string;
  allowed_tools?: string[];
  disallowed_tools?: string[];
  tools?: string[];
  mcp_servers?: Record<string, unknown>;
  json_schema?: unknown;
  max_budget_usd?: number;
  timeout_secs?: number;
};

/** Folds override parameters into `TaskOverrides`; `undefined` when none is set. */
export function toOverrides(args: OverrideArgs): TaskOverrides | undefined {
  const overrides: TaskOverrides = {};
  if (args.model !== undefined) overrides.model = args.model;
  if (args.effort !== undefined) overrides.effort = args.effort;
  if (args.permission_mode !== undefined) overrides.permissionMode = args.permission_mode;
  if (args.max_turns !== undefined) overrides.maxTurns = args.max_turns;
  if (args.system_prompt !== undefined) overrides.systemPrompt = args.system_prompt;
  if (args.allowed_tools !== undefined) overrides.allowedTools = args.allowed_tools;
  if (args.disallowed_tools !== undefined) overrides.disallowedTools = args.disallowed_tools;
  if (args.tools !== undefined) overrides.tools = args.tools;
  if (args.mcp_servers !== undefined) overrides.mcpServers = args.mcp_servers;
  if (args.json_schema !== undefined) overrides.jsonSchema = args.json_schema;
  if (args.max_budget_usd !== undefined) overrides.maxBudgetUsd = args.max_budget_usd;
  if (args.timeout_secs !== undefined) overrides.timeoutSecs = args.timeout_secs;
  return Object.keys(overrides).length === 0 ? undefined : overrides;
}

/** Chain isolation input. */
export const isolationParam = z
  .enum(['none', 'worktree', 'clone'])
  .describe('How the chain is isolated: worktree (a git worktree), clone (a git clone) or none (the working dir)');

/**
 * One chain step, in the reference MCP shape: `{name, type, value, arguments?, model?, effort?, retries?,
 * recovery_prompt?, output_vars?}`.
 */
export const chainStepParam = z
  .strictObject({
    name: z.string().min(1).describe('Step name (unique in the chain; used by {steps.NAME.VAR})'),
    type: z
      .enum(['prompt', 'skill'])
      .default('prompt')
      .describe('prompt: value is the prompt; skill: value is a skill name'),
    value: z.string().min(1).describe('The prompt text, or the skill name'),
    arguments: z.record(z.string(), z.string()).optional().describe('Skill arguments (skill steps)'),
    model: z.string().min(1).optional().describe('Model for this step'),
    effort: effortParam.optional(),
    max_budget_usd: z.number().positive().optional().describe('Spend cap of this step in USD'),
    retries: z.number().int().min(0).optional().describe('Extra attempts after a failure (default 0)'),
    recovery_prompt: z
      .string()
      .optional()
      .describe('Runs after the last failed attempt instead of failing the chain ({error}, {previous_output})'),
    output_vars: z
      .record(z.string(), z.string())
      .optional()
      .describe("Variable name → dot path into the step's JSON output, available later as {steps.NAME.VAR}"),
  })
  .describe('A chain step');

/** The parsed value of {@link chainStepParam}. */
export type ChainStepArgs = z.output<typeof chainStepParam>;

/** Converts an MCP chain step to the library's `ChainStep`. */
export function toChainStep(step: ChainStepArgs): ChainStep {
  const out: ChainStep = {
    name: step.name,
    action:
      step.type === 'skill'
        ? { type: 'skill', skill: step.value, ...(step.arguments ? { arguments: step.arguments } : {}) }
        : { type: 'prompt', prompt: step.value },
  };
  const config = toOverrides({ model: step.model, effort: step.effort, max_budget_usd: step.max_budget_usd });
  if (config) out.config = config;
  if (step.retries !== undefined || step.recovery_prompt !== undefined) {
    out.failurePolicy = { retries: step.retries ?? 0 };
    if (step.recovery_prompt !== undefined) out.failurePolicy.recoveryPrompt = step.recovery_prompt;
  }
  if (step.output_vars !== undefined) out.outputVars = step.output_vars;
  return out;
}

/** Chain options from `tags` and `isolation` parameters. */
export function toChainOptions(args: { tags?: string[]; isolation?: ChainIsolation }): ChainOptions {
  const options: ChainOptions = {};
  if (args.tags !== undefined) options.tags = args.tags;
  if (args.isolation !== undefined) options.isolation = args.isolation;
  return options;
}
