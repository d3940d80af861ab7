/**
 * Workflows: named, parameterised chains. Instantiating one with arguments gives the `ChainStep[]` that
 * `submitChain` runs.
 */
import type { ChainStep, StepAction } from '../../machines/types.js';
import { substitutePlaceholders } from '../skills/template.js';

/** One argument a workflow takes; `{name}` in its steps is replaced on instantiation. */
export interface WorkflowArgument {
  /** Identifier used as `{name}` in the steps. */
  name: string;
  description: string;
  /** A required argument without a default must be given to instantiate. */
  required: boolean;
  /** Used when the argument is not given. */
  default?: string;
  /** Other names the argument may be given under (e.g. an older name); `{alias}` is not a placeholder. */
  aliases?: string[];
}

/**
 * One step of a workflow: a chain step whose prompt, skill-argument values and recovery prompt may contain
 * `{arg}` placeholders (plus the chain's own `{previous_output}`, `{steps.X.Y}` and, in recovery prompts,
 * `{error}`).
 */
export type WorkflowStep = ChainStep;

/** A named, parameterised chain. */
export interface Workflow {
  /** Lowercase letters, digits, `_` and `-`, starting with a letter. */
  name: string;
  description: string;
  arguments: WorkflowArgument[];
  /** At least one; step names are unique identifiers. */
  steps: WorkflowStep[];
}

/** Machine-readable kinds of {@link WorkflowError}. */
export type WorkflowErrorCode = 'not_found' | 'missing_argument' | 'unknown_argument' | 'invalid_definition';

/** Any failure to validate, load, find or instantiate a workflow. */
export class WorkflowError extends Error {
  override readonly name = 'WorkflowError';
  /** What went wrong, for programs. */
  readonly code: WorkflowErrorCode;
  /** For `invalid_definition`: every problem found, each a self-contained message. */
  readonly problems: readonly string[];

  constructor(code: WorkflowErrorCode, message: string, problems: readonly string[] = []) {
    super(message);
    this.code = code;
    this.problems = problems;
  }
}

/**
 * Checks `args` against the workflow's arguments (unknown names → `unknown_argument`; an argument given
 * under two of its names → `unknown_argument`; then a required argument without a default →
 * `missing_argument`) and returns every declared argument's value by its name: given (under its name or
 * an alias), else the default, else `''`.
 */
export function resolveWorkflowArguments(
  workflow: Workflow,
  args: Readonly<Record<string, string | undefined>>,
): Map<string, string> {
  const canonical = new Map<string, string>();
  for (const arg of workflow.arguments) {
    canonical.set(arg.name, arg.name);
    for (const alias of arg.aliases ?? []) canonical.set(alias, arg.name);
  }
  const unknown = Object.keys(args).filter((key) => args[key] !== undefined && !canonical.has(key));
  if (unknown.length > 0) {
    const valid =
      workflow.arguments.length === 0
        ? 'it takes no arguments'
        : `valid arguments: ${workflow.arguments.map((a) => a.name).join(', ')}`;
    const noun = unknown.length === 1 ? 'argument' : 'arguments';
    const names = unknown.map((n) => `'${n}'`).join(', ');
    throw new WorkflowError('unknown_argument', `unknown ${noun} ${names} for workflow '${workflow.name}' (${valid})`);
  }
  const given = new Map<string, { key: string; value: string }>();
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    const name = canonical.get(key) as string;
    const earlier = given.get(name);
    if (earlier !== undefined) {
      throw new WorkflowError(
        'unknown_argument',
        `arguments '${earlier.key}' and '${key}' of workflow '${workflow.name}' are the same argument ('${name}'); give one`,
      );
    }
    given.set(name, { key, value });
  }
  const values = new Map<string, string>();
  for (const arg of workflow.arguments) {
    const value = given.get(arg.name)?.value;
    if (value === undefined && arg.required && arg.default === undefined) {
      throw new WorkflowError(
        'missing_argument',
        `missing required argument '${arg.name}' for workflow '${workflow.name}'`,
      );
    }
    values.set(arg.name, value ?? arg.default ?? '');
  }
  return values;
}

/**
 * Turns a workflow into chain steps: checks the arguments (see {@link resolveWorkflowArguments}) and
 * replaces `{arg}` for every declared argument in prompt steps, in the values of skill-step arguments and
 * in recovery prompts, in a single pass. `{previous_output}`, `{steps.X.Y}`, `{error}` and any other
 * placeholder are left for the chain. Each step keeps its config, failure policy and output variables;
 * the result shares no objects with the workflow.
 */
export function instantiateWorkflow(workflow: Workflow, args: Readonly<Record<string, string>> = {}): ChainStep[] {
  const values = resolveWorkflowArguments(workflow, args);
  const fill = (text: string) => substitutePlaceholders(text, values);
  return workflow.steps.map((step) => {
    let action: StepAction;
    if (step.action.type === 'prompt') {
      action = { type: 'prompt', prompt: fill(step.action.prompt) };
    } else {
      action = { type: 'skill', skill: step.action.skill };
      if (step.action.arguments !== undefined) {
        action.arguments = Object.fromEntries(Object.entries(step.action.arguments).map(([k, v]) => [k, fill(v)]));
      }
    }
    const out: ChainStep = { name: step.name, action };
    if (step.config !== undefined) out.config = structuredClone(step.config);
    if (step.failurePolicy !== undefined) {
      out.failurePolicy = { retries: step.failurePolicy.retries };
      if (step.failurePolicy.recoveryPrompt !== undefined)
        out.failurePolicy.recoveryPrompt = fill(step.failurePolicy.recoveryPrompt);
    }
    if (step.outputVars !== undefined) out.outputVars = { ...step.outputVars };
    return out;
  });
}
