/**
 * Validation of workflow definitions (objects and JSON/YAML files).
 */
import type { ChainStep, StepAction, StepFailurePolicy } from '../../machines/types.js';
import {
  IDENTIFIER_PATTERN,
  ProblemList,
  checkKnownFields,
  fieldPath,
  isPlainObject,
  parseArgumentList,
  parseTaskOverrides,
  pickField,
  readName,
  readScalarString,
  readString,
  type ParseResult,
  type PlainObject,
} from '../skills/definition.js';
import type { Skill } from '../skills/skill.js';
import {
  CHAIN_PREVIOUS_OUTPUT,
  PREVIOUS_OUTPUT_ARG,
  findPlaceholders,
  parseStepReference,
} from '../skills/template.js';
import type { Workflow, WorkflowArgument } from './workflow.js';

/** Where skill steps are looked up during validation (a `SkillRegistry` fits). */
export interface SkillLookup {
  get(name: string): Skill | undefined;
}

/** Options of {@link parseWorkflowObject}. */
export interface WorkflowParseOptions {
  /** Used when the definition has no `name` (the file name when loading a directory). */
  defaultName?: string;
  /** When given, skill steps must name a skill found here and pass it valid arguments. */
  skills?: SkillLookup;
}

/** What earlier steps make available to `{steps.X.Y}`: step name → output variable names. */
type StepOutputs = Map<string, Set<string>>;

/**
 * Reports placeholders a workflow text may not use. Allowed: declared workflow arguments,
 * `{previous_output}`, `{steps.X.Y}` where an earlier step X declares output variable Y, and `{error}`
 * when `allowError` (recovery prompts).
 */
function checkWorkflowPlaceholders(
  text: string,
  where: string,
  declared: ReadonlySet<string>,
  earlier: StepOutputs,
  allowError: boolean,
  problems: ProblemList,
): void {
  for (const name of findPlaceholders(text)) {
    if (declared.has(name) || name === CHAIN_PREVIOUS_OUTPUT || (allowError && name === 'error')) continue;
    const ref = parseStepReference(name);
    if (ref !== undefined) {
      if (!earlier.get(ref.step)?.has(ref.variable)) {
        problems.add(
          where,
          `references '{${name}}' but no earlier step '${ref.step}' declares output variable '${ref.variable}'`,
        );
      }
      continue;
    }
    problems.add(where, `uses undeclared placeholder '{${name}}'`);
  }
}

/** Checks the arguments a skill step passes against the skill's own arguments. */
function checkSkillStepArguments(
  skill: Skill,
  args: Record<string, string> | undefined,
  where: string,
  problems: ProblemList,
): void {
  const declared = new Set(skill.arguments.map((a) => a.name));
  const valid = skill.arguments.length === 0 ? 'it takes no arguments' : `valid arguments: ${[...declared].join(', ')}`;
  for (const key of Object.keys(args ?? {})) {
    if (key !== PREVIOUS_OUTPUT_ARG && !declared.has(key)) {
      problems.add(fieldPath(where, key), `is not an argument of skill '${skill.name}' (${valid})`);
    }
  }
  for (const arg of skill.arguments) {
    if (arg.required && arg.default === undefined && args?.[arg.name] === undefined) {
      problems.add(where, `is missing required argument '${arg.name}' of skill '${skill.name}'`);
    }
  }
}

/** Checks a `{name: string}` map of skill-step arguments; numbers and booleans become text. */
function readArgumentValues(value: unknown, where: string, problems: ProblemList): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    problems.add(where, 'must be an object');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    const text = readScalarString(v, fieldPath(where, key), problems);
    if (text !== undefined) out[key] = text;
  }
  return out;
}

/** Reads a step's action from `action: {type, …}` or the shorthands `prompt: …` / `skill: …, arguments: …`. */
function readAction(
  step: PlainObject,
  at: string,
  problems: ProblemList,
): { action: StepAction; where: string; argsWhere: string } | undefined {
  const forms = ['action', 'prompt', 'skill'].filter((k) => step[k] !== undefined && step[k] !== null);
  if (forms.length !== 1) {
    problems.add(at, 'must have exactly one of action, prompt or skill');
    return undefined;
  }
  if (step.arguments !== undefined && forms[0] !== 'skill')
    problems.add(`${at}.arguments`, 'is only allowed with skill');
  if (forms[0] === 'prompt') {
    const prompt = readString(step.prompt, `${at}.prompt`, problems, { nonEmpty: true });
    return prompt === undefined
      ? undefined
      : { action: { type: 'prompt', prompt }, where: `${at}.prompt`, argsWhere: '' };
  }
  if (forms[0] === 'skill') {
    const skill = readString(step.skill, `${at}.skill`, problems, { nonEmpty: true });
    const args = readArgumentValues(step.arguments, `${at}.arguments`, problems);
    if (skill === undefined) return undefined;
    const action: StepAction =
      args === undefined ? { type: 'skill', skill } : { type: 'skill', skill, arguments: args };
    return { action, where: `${at}.skill`, argsWhere: `${at}.arguments` };
  }
  const where = `${at}.action`;
  const raw = step.action;
  if (!isPlainObject(raw)) {
    problems.add(where, 'must be an object');
    return undefined;
  }
  if (raw.type === 'prompt') {
    checkKnownFields(raw, ['type', 'prompt'], where, problems);
    const prompt = readString(raw.prompt, `${where}.prompt`, problems, { required: true, nonEmpty: true });
    return prompt === undefined
      ? undefined
      : { action: { type: 'prompt', prompt }, where: `${where}.prompt`, argsWhere: '' };
  }
  if (raw.type === 'skill') {
    checkKnownFields(raw, ['type', 'skill', 'arguments'], where, problems);
    const skill = readString(raw.skill, `${where}.skill`, problems, { required: true, nonEmpty: true });
    const args = readArgumentValues(raw.arguments, `${where}.arguments`, problems);
    if (skill === undefined) return undefined;
    const action: StepAction =
      args === undefined ? { type: 'skill', skill } : { type: 'skill', skill, arguments: args };
    return { action, where: `${where}.skill`, argsWhere: `${where}.arguments` };
  }
  problems.add(`${where}.type`, 'must be one of prompt, skill');
  return undefined;
}

/** Reads `failurePolicy` (or `failure_policy`): `retries` (a non-negative integer, default 0) and `recoveryPrompt`. */
function readFailurePolicy(value: unknown, where: string, problems: ProblemList): StepFailurePolicy | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    problems.add(where, 'must be an object');
    return undefined;
  }
  checkKnownFields(value, ['retries', 'recoveryPrompt', 'recovery_prompt'], where, problems);
  let retries = 0;
  if (value.retries !== undefined && value.retries !== null) {
    if (typeof value.retries === 'number' && Number.isInteger(value.retries) && value.retries >= 0)
      retries = value.retries;
    else problems.add(`${where}.retries`, 'must be a non-negative integer');
  }
  const policy: StepFailurePolicy = { retries };
  const recovery = pickField(value, ['recoveryPrompt', 'recovery_prompt']);
  if (recovery !== undefined) {
    const text = readString(recovery.value, `${where}.${recovery.key}`, problems, { nonEmpty: true });
    if (text !== undefined) policy.recoveryPrompt = text;
  }
  return policy;
}

/** Reads `outputVars` (or `output_vars`): identifier → dot path into the step's JSON output. */
function readOutputVars(value: unknown, where: string, problems: ProblemList): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    problems.add(where, 'must be an object');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!IDENTIFIER_PATTERN.test(key)) problems.add(fieldPath(where, key), 'must be named by an identifier');
    const path = readString(v, fieldPath(where, key), problems);
    if (path !== undefined) out[key] = path;
  }
  return out;
}

/**
 * Validates a workflow given as an object (a `Workflow`, or a parsed JSON/YAML file) and returns a
 * normalised copy. Checks the name, the arguments, that there is at least one step, that step names are
 * unique identifiers, each step's action (`action: {type, …}`, or the shorthands `prompt` / `skill` +
 * `arguments`), config, failure policy (retries a non-negative integer) and output variables, the
 * placeholders every text uses, and, when `skills` is given, that skill steps name existing skills and
 * pass them valid arguments.
 */
export function parseWorkflowObject(raw: unknown, options: WorkflowParseOptions = {}): ParseResult<Workflow> {
  const problems = new ProblemList();
  if (!isPlainObject(raw)) return { ok: false, problems: ['a workflow definition must be an object'] };
  checkKnownFields(raw, ['name', 'description', 'arguments', 'steps'], '', problems);
  const name = readName(raw.name ?? options.defaultName, 'name', problems);
  const description = readString(raw.description, 'description', problems) ?? '';
  const args: WorkflowArgument[] = parseArgumentList(
    raw.arguments,
    'arguments',
    problems,
    [CHAIN_PREVIOUS_OUTPUT, 'error'],
    { aliases: true },
  );
  const declared = new Set(args.map((a) => a.name));

  const steps: ChainStep[] = [];
  if (raw.steps === undefined || raw.steps === null) problems.add('steps', 'is required');
  else if (!Array.isArray(raw.steps)) problems.add('steps', 'must be a list');
  else if (raw.steps.length === 0) problems.add('steps', 'must not be empty');
  else {
    const earlier: StepOutputs = new Map();
    const stepIndex = new Map<string, number>();
    raw.steps.forEach((item: unknown, i) => {
      const at = `steps[${i}]`;
      if (!isPlainObject(item)) {
        problems.add(at, 'must be an object');
        return;
      }
      checkKnownFields(
        item,
        [
          'name',
          'action',
          'prompt',
          'skill',
          'arguments',
          'config',
          'failurePolicy',
          'failure_policy',
          'outputVars',
          'output_vars',
        ],
        at,
        problems,
      );
      const stepName = readString(item.name, `${at}.name`, problems, { required: true });
      if (stepName !== undefined) {
        if (!IDENTIFIER_PATTERN.test(stepName)) {
          problems.add(
            `${at}.name`,
            `'${stepName}' must be an identifier (letters, digits and '_', not starting with a digit)`,
          );
        } else if (stepIndex.has(stepName)) {
          problems.add(`${at}.name`, `'${stepName}' is already used by steps[${stepIndex.get(stepName)}]`);
        } else {
          stepIndex.set(stepName, i);
        }
      }
      const read = readAction(item, at, problems);
      const config = parseTaskOverrides(item.config, `${at}.config`, problems);
      const policyField = pickField(item, ['failurePolicy', 'failure_policy']);
      const failurePolicy = policyField && readFailurePolicy(policyField.value, `${at}.${policyField.key}`, problems);
      const varsField = pickField(item, ['outputVars', 'output_vars']);
      const outputVars = varsField && readOutputVars(varsField.value, `${at}.${varsField.key}`, problems);

      if (read !== undefined) {
        const { action } = read;
        if (action.type === 'prompt') {
          checkWorkflowPlaceholders(action.prompt, read.where, declared, earlier, false, problems);
        } else {
          for (const [key, value] of Object.entries(action.arguments ?? {})) {
            checkWorkflowPlaceholders(value, fieldPath(read.argsWhere, key), declared, earlier, false, problems);
          }
          if (options.skills !== undefined) {
            const skill = options.skills.get(action.skill);
            if (skill === undefined) problems.add(read.where, `'${action.skill}' is not a registered skill`);
            else checkSkillStepArguments(skill, action.arguments, read.argsWhere, problems);
          }
        }
      }
      if (failurePolicy?.recoveryPrompt !== undefined && policyField !== undefined) {
        const key =
          pickField(policyField.value as PlainObject, ['recoveryPrompt', 'recovery_prompt'])?.key ?? 'recoveryPrompt';
        checkWorkflowPlaceholders(
          failurePolicy.recoveryPrompt,
          `${at}.${policyField.key}.${key}`,
          declared,
          earlier,
          true,
          problems,
        );
      }

      if (stepName !== undefined && read !== undefined) {
        const step: ChainStep = { name: stepName, action: read.action };
        if (config !== undefined) step.config = config;
        if (failurePolicy !== undefined) step.failurePolicy = failurePolicy;
        if (outputVars !== undefined) step.outputVars = outputVars;
        steps.push(step);
      }
      if (stepName !== undefined && !earlier.has(stepName))
        earlier.set(stepName, new Set(Object.keys(outputVars ?? {})));
    });
  }
  if (!problems.empty || name === undefined) return { ok: false, problems: problems.items };
  return { ok: true, value: { name, description, arguments: args, steps } };
}
