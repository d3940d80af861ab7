/**
 * Validation of skill definitions (objects, JSON/YAML files, SKILL.md folders) and the field checkers
 * that workflow definitions share.
 *
 * Every checker appends human-readable problems of the form `<field path> <what is wrong>` (for example
 * `arguments[1].name is required`) to a {@link ProblemList} instead of throwing, so that one pass reports
 * every problem of a definition.
 */
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { EFFORTS, PERMISSION_MODES, type TaskOverrides } from '../../machines/types.js';
import { SKILL_SCOPES, type Skill, type SkillArgument, type SkillScope } from './skill.js';
import { CHAIN_PREVIOUS_OUTPUT, PREVIOUS_OUTPUT_ARG, findPlaceholders, isStepReference } from './template.js';

/** Skill and workflow names: lowercase letters, digits, `_` and `-`, starting with a letter. */
export const NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;

/** Argument, step and output-variable names: letters, digits and `_`, not starting with a digit. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** File extensions read as one definition per file. */
export const DEFINITION_EXTENSIONS: readonly string[] = ['.json', '.yaml', '.yml'];

/** Collects validation problems. */
export class ProblemList {
  /** The problems so far, in the order found. */
  readonly items: string[] = [];

  /** Records `"<path> <message>"` (just the message when the path is empty). */
  add(fieldPath: string, message: string): void {
    this.items.push(fieldPath === '' ? message : `${fieldPath} ${message}`);
  }

  /** True when nothing was recorded. */
  get empty(): boolean {
    return this.items.length === 0;
  }
}

/** A plain (non-array, non-null) object. */
export type PlainObject = Record<string, unknown>;

/** True for a plain object (not an array, not null). */
export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `a.b` (or just `b` when `a` is empty). */
export function fieldPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** The first of `keys` present in `obj`, with its value. */
export function pickField(obj: PlainObject, keys: readonly string[]): { key: string; value: unknown } | undefined {
  for (const key of keys) {
    if (Object.prototype.hasOwnProperty.call(obj, key) && obj[key] !== undefined) return { key, value: obj[key] };
  }
  return undefined;
}

/** Reports every key of `obj` that is not in `allowed`. */
export function checkKnownFields(
  obj: PlainObject,
  allowed: readonly string[],
  parent: string,
  problems: ProblemList,
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key) && obj[key] !== undefined) problems.add(fieldPath(parent, key), 'is not a known field');
  }
}

/**
 * An optional string field. A missing field gives `undefined` (or a problem when `required`); a present
 * field must be a string, and non-empty after trimming when `nonEmpty`.
 */
export function readString(
  value: unknown,
  where: string,
  problems: ProblemList,
  options: { required?: boolean; nonEmpty?: boolean } = {},
): string | undefined {
  if (value === undefined || value === null) {
    if (options.required) problems.add(where, 'is required');
    return undefined;
  }
  if (typeof value !== 'string') {
    problems.add(where, 'must be a string');
    return undefined;
  }
  if (options.nonEmpty && value.trim() === '') {
    problems.add(where, 'must not be empty');
    return undefined;
  }
  return value;
}

/** A scalar given where a string is expected: strings as they are, numbers and booleans as text. */
export function readScalarString(value: unknown, where: string, problems: ProblemList): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  problems.add(where, 'must be a string');
  return undefined;
}

/**
 * Splits a tool list written as one string: entries are separated by commas or whitespace outside
 * parentheses, so `Bash(git diff:*), Read` and `Bash(git:*) Read` both give two entries.
 */
export function splitToolList(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '(') depth += 1;
    else if (ch === ')') depth = Math.max(0, depth - 1);
    if (depth === 0 && (ch === ',' || /\s/.test(ch))) {
      if (current !== '') out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current !== '') out.push(current);
  return out;
}

/** A list of strings; a single string is split by {@link splitToolList} when `allowString`. */
function readStringList(
  value: unknown,
  where: string,
  problems: ProblemList,
  allowString = false,
): string[] | undefined {
  if (allowString && typeof value === 'string') return splitToolList(value);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    problems.add(where, 'must be a list of strings');
    return undefined;
  }
  return [...value];
}

/** How one `TaskOverrides` field is checked, and the names it may be spelled with in files. */
interface OverrideField {
  key: keyof TaskOverrides;
  aliases: readonly string[];
  check: (value: unknown, where: string, problems: ProblemList) => unknown;
}

const nonEmptyString = (value: unknown, where: string, problems: ProblemList) =>
  readString(value, where, problems, { nonEmpty: true });
const anyString = (value: unknown, where: string, problems: ProblemList) => readString(value, where, problems);
const oneOf =
  (allowed: readonly string[]) =>
  (value: unknown, where: string, problems: ProblemList): string | undefined => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      problems.add(where, `must be one of ${allowed.join(', ')}`);
      return undefined;
    }
    return value;
  };
const positiveInteger = (value: unknown, where: string, problems: ProblemList): number | undefined => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    problems.add(where, 'must be a positive integer');
    return undefined;
  }
  return value;
};
const positiveNumber = (value: unknown, where: string, problems: ProblemList): number | undefined => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    problems.add(where, 'must be a positive number');
    return undefined;
  }
  return value;
};
const stringList = (value: unknown, where: string, problems: ProblemList) => readStringList(value, where, problems);
const object = (value: unknown, where: string, problems: ProblemList): PlainObject | undefined => {
  if (!isPlainObject(value)) {
    problems.add(where, 'must be an object');
    return undefined;
  }
  return structuredClone(value);
};

const OVERRIDE_FIELDS: readonly OverrideField[] = [
  { key: 'model', aliases: [], check: nonEmptyString },
  { key: 'permissionMode', aliases: ['permission_mode'], check: oneOf(PERMISSION_MODES) },
  { key: 'maxTurns', aliases: ['max_turns'], check: positiveInteger },
  { key: 'systemPrompt', aliases: ['system_prompt'], check: anyString },
  { key: 'allowedTools', aliases: ['allowed_tools'], check: stringList },
  { key: 'disallowedTools', aliases: ['disallowed_tools'], check: stringList },
  { key: 'tools', aliases: [], check: stringList },
  { key: 'mcpServers', aliases: ['mcp_servers'], check: object },
  { key: 'effort', aliases: [], check: oneOf(EFFORTS) },
  { key: 'fallbackModel', aliases: ['fallback_model'], check: nonEmptyString },
  { key: 'jsonSchema', aliases: ['json_schema'], check: object },
  { key: 'maxBudgetUsd', aliases: ['max_budget_usd'], check: positiveNumber },
  { key: 'timeoutSecs', aliases: ['timeout_secs'], check: positiveNumber },
];

/**
 * Checks a `TaskOverrides` object and returns a normalised copy. Field names may be camelCase (as in
 * `TaskOverrides`) or snake_case (as in the reference's files); unknown fields are problems.
 */
export function parseTaskOverrides(value: unknown, where: string, problems: ProblemList): TaskOverrides | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) {
    problems.add(where, 'must be an object');
    return undefined;
  }
  checkKnownFields(
    value,
    OVERRIDE_FIELDS.flatMap((f) => [f.key, ...f.aliases]),
    where,
    problems,
  );
  const result: Record<string, unknown> = {};
  for (const field of OVERRIDE_FIELDS) {
    const found = pickField(value, [field.key, ...field.aliases]);
    if (found === undefined) continue;
    const checked = field.check(found.value, fieldPath(where, found.key), problems);
    if (checked !== undefined) result[field.key] = checked;
  }
  return result as TaskOverrides;
}

/**
 * Checks an argument list (`[{name, description?, required?, default?}]`): names are identifiers, unique
 * and not `reserved`; `required` defaults to false; `default` may be a string, number or boolean.
 */
export function parseArgumentList(
  value: unknown,
  where: string,
  problems: ProblemList,
  reserved: readonly string[] = [],
  options: { aliases?: boolean } = {},
): (SkillArgument & { aliases?: string[] })[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    problems.add(where, 'must be a list');
    return [];
  }
  const result: (SkillArgument & { aliases?: string[] })[] = [];
  const seen = new Set<string>();
  value.forEach((item: unknown, i) => {
    const at = `${where}[${i}]`;
    if (!isPlainObject(item)) {
      problems.add(at, 'must be an object');
      return;
    }
    checkKnownFields(
      item,
      ['name', 'description', 'required', 'default', ...(options.aliases ? ['aliases'] : [])],
      at,
      problems,
    );
    const name = readString(item.name, `${at}.name`, problems, { required: true });
    if (name !== undefined) {
      if (!IDENTIFIER_PATTERN.test(name)) {
        problems.add(
          `${at}.name`,
          `'${name}' must be an identifier (letters, digits and '_', not starting with a digit)`,
        );
      } else if (reserved.includes(name)) {
        problems.add(`${at}.name`, `'${name}' is reserved`);
      } else if (seen.has(name)) {
        problems.add(`${at}.name`, `'${name}' is declared twice`);
      }
      seen.add(name);
    }
    const description = readString(item.description, `${at}.description`, problems) ?? '';
    let required = false;
    if (item.required !== undefined && item.required !== null) {
      if (typeof item.required === 'boolean') required = item.required;
      else problems.add(`${at}.required`, 'must be a boolean');
    }
    const def =
      item.default === undefined || item.default === null
        ? undefined
        : readScalarString(item.default, `${at}.default`, problems);
    let aliases: string[] | undefined;
    if (options.aliases && item.aliases !== undefined && item.aliases !== null) {
      const list = Array.isArray(item.aliases) ? item.aliases : [item.aliases];
      aliases = [];
      for (const alias of list) {
        if (typeof alias !== 'string' || !IDENTIFIER_PATTERN.test(alias)) {
          problems.add(`${at}.aliases`, `${JSON.stringify(alias)} must be an identifier`);
        } else if (seen.has(alias) || reserved.includes(alias)) {
          problems.add(`${at}.aliases`, `'${alias}' is already used`);
        } else {
          seen.add(alias);
          aliases.push(alias);
        }
      }
    }
    if (name !== undefined) {
      const arg: SkillArgument & { aliases?: string[] } = { name, description, required };
      if (def !== undefined) arg.default = def;
      if (aliases !== undefined && aliases.length > 0) arg.aliases = aliases;
      result.push(arg);
    }
  });
  return result;
}

/** Checks a skill or workflow name against {@link NAME_PATTERN}. */
export function readName(value: unknown, where: string, problems: ProblemList): string | undefined {
  const name = readString(value, where, problems, { required: true, nonEmpty: true });
  if (name === undefined) return undefined;
  if (!NAME_PATTERN.test(name)) {
    problems.add(where, `'${name}' must match ${NAME_PATTERN.source}`);
    return undefined;
  }
  return name;
}

/** Argument names a skill may not declare: they are filled by the chain. */
const RESERVED_SKILL_ARGUMENTS: readonly string[] = [PREVIOUS_OUTPUT_ARG, CHAIN_PREVIOUS_OUTPUT];

/**
 * Reports every identifier-like placeholder of a skill prompt that is neither a declared argument, nor
 * `_previous_output`, nor one left for the chain (`previous_output`, `steps.X.Y`).
 */
function checkSkillPlaceholders(
  prompt: string,
  args: readonly SkillArgument[],
  where: string,
  problems: ProblemList,
): void {
  const declared = new Set(args.map((a) => a.name));
  for (const name of findPlaceholders(prompt)) {
    if (declared.has(name) || name === PREVIOUS_OUTPUT_ARG || name === CHAIN_PREVIOUS_OUTPUT || isStepReference(name))
      continue;
    problems.add(where, `uses undeclared placeholder '{${name}}'`);
  }
}

/**
 * The scope a skill name implies when none is given: `cps-coordinator…` → `coordinator`, `cps-chain…` →
 * `chain`, anything else → `task`.
 */
export function inferScope(name: string | undefined): SkillScope {
  if (name?.startsWith('cps-coordinator')) return 'coordinator';
  if (name?.startsWith('cps-chain')) return 'chain';
  return 'task';
}

/** Checks a skill scope (default: inferred from the name, see {@link inferScope}). */
function readScope(value: unknown, where: string, problems: ProblemList, name?: string): SkillScope {
  if (value === undefined || value === null) return inferScope(name);
  if (typeof value !== 'string' || !(SKILL_SCOPES as readonly string[]).includes(value)) {
    problems.add(where, `must be one of ${SKILL_SCOPES.join(', ')}`);
    return 'task';
  }
  return value as SkillScope;
}

/** The outcome of validating one definition: the normalised value, or the problems found. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Builds a skill from its validated parts, leaving optional fields out when unset. */
function buildSkill(parts: {
  name: string;
  description: string;
  prompt: string;
  arguments: SkillArgument[];
  config?: TaskOverrides;
  argumentHint?: string;
  scope: SkillScope;
  skillDir?: string;
}): Skill {
  const skill: Skill = {
    name: parts.name,
    description: parts.description,
    prompt: parts.prompt,
    arguments: parts.arguments,
    scope: parts.scope,
  };
  if (parts.config !== undefined) skill.config = parts.config;
  if (parts.argumentHint !== undefined) skill.argumentHint = parts.argumentHint;
  if (parts.skillDir !== undefined) skill.skillDir = parts.skillDir;
  return skill;
}

/**
 * Validates a skill given as an object (a `Skill`, or a parsed JSON/YAML file) and returns a normalised
 * copy. Fields: `name` (default `options.defaultName`), `description`, `prompt`, `arguments`, `config`,
 * `argumentHint` (also `argument_hint`, `argument-hint`), `scope`, and `skillDir` when `allowSkillDir`.
 */
export function parseSkillObject(
  raw: unknown,
  options: { defaultName?: string; allowSkillDir?: boolean } = {},
): ParseResult<Skill> {
  const problems = new ProblemList();
  if (!isPlainObject(raw)) return { ok: false, problems: ['a skill definition must be an object'] };
  const hintKeys = ['argumentHint', 'argument_hint', 'argument-hint'];
  checkKnownFields(
    raw,
    [
      'name',
      'description',
      'prompt',
      'arguments',
      'config',
      'scope',
      ...hintKeys,
      ...(options.allowSkillDir ? ['skillDir'] : []),
    ],
    '',
    problems,
  );
  const name = readName(raw.name ?? options.defaultName, 'name', problems);
  const description = readString(raw.description, 'description', problems) ?? '';
  const prompt = readString(raw.prompt, 'prompt', problems, { required: true, nonEmpty: true });
  const args = parseArgumentList(raw.arguments, 'arguments', problems, RESERVED_SKILL_ARGUMENTS);
  const config = parseTaskOverrides(raw.config, 'config', problems);
  const hint = pickField(raw, hintKeys);
  const argumentHint = hint === undefined ? undefined : readString(hint.value, hint.key, problems);
  const scope = readScope(raw.scope, 'scope', problems, name);
  const skillDir = options.allowSkillDir ? readString(raw.skillDir, 'skillDir', problems) : undefined;
  if (prompt !== undefined) checkSkillPlaceholders(prompt, args, 'prompt', problems);
  if (!problems.empty || name === undefined || prompt === undefined) return { ok: false, problems: problems.items };
  return {
    ok: true,
    value: buildSkill({ name, description, prompt, arguments: args, config, argumentHint, scope, skillDir }),
  };
}

/** Splits `---\n<yaml>\n---\n<body>` into its frontmatter text and trimmed body. */
export function splitFrontmatter(text: string): { frontmatter: string; body: string } | { error: string } {
  const lines = text
    .replace(/^\uFEFF/, '')
    .trim()
    .split(/\r?\n/);
  if (lines[0]?.trimEnd() !== '---') return { error: "must start with a '---' YAML frontmatter block" };
  const end = lines.findIndex((line, i) => i > 0 && line.trimEnd() === '---');
  if (end < 0) return { error: "frontmatter is not closed with '---'" };
  return {
    frontmatter: lines.slice(1, end).join('\n'),
    body: lines
      .slice(end + 1)
      .join('\n')
      .trim(),
  };
}

/** The first line of a parser's error message. */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim();
}

/** Parses YAML text; a syntax error becomes a problem. */
export function parseYamlText(text: string): { value: unknown } | { error: string } {
  try {
    return { value: parseYaml(text) };
  } catch (error) {
    return { error: `invalid YAML: ${firstLine(error)}` };
  }
}

/** Parses a `.json`, `.yaml` or `.yml` file's text by its extension; a syntax error becomes a problem. */
export function parseDefinitionText(file: string, text: string): { value: unknown } | { error: string } {
  if (path.extname(file).toLowerCase() === '.json') {
    try {
      return { value: JSON.parse(text) as unknown };
    } catch (error) {
      return { error: `invalid JSON: ${firstLine(error)}` };
    }
  }
  return parseYamlText(text);
}

/**
 * Validates a SKILL.md file: YAML frontmatter between `---` lines, then the prompt body.
 *
 * Frontmatter: `name` (default: the folder name), `description`, `argument-hint`, `allowed-tools` (a list,
 * or one string of entries separated by commas or spaces; it replaces `metadata.config.allowedTools`),
 * `model` (replaces `metadata.config.model`), and `metadata: { scope?, arguments?, config? }`. Other
 * frontmatter and metadata keys are ignored, as other tools define their own.
 */
export function parseSkillMarkdown(
  text: string,
  options: { defaultName?: string; skillDir?: string } = {},
): ParseResult<Skill> {
  const problems = new ProblemList();
  const split = splitFrontmatter(text);
  if ('error' in split) return { ok: false, problems: [split.error] };
  const parsed = parseYamlText(split.frontmatter);
  if ('error' in parsed) return { ok: false, problems: [`frontmatter: ${parsed.error}`] };
  const front = parsed.value ?? {};
  if (!isPlainObject(front)) return { ok: false, problems: ['frontmatter must be a YAML mapping'] };

  const name = readName(front.name ?? options.defaultName, 'name', problems);
  const description = readString(front.description, 'description', problems) ?? '';
  const argumentHint = readString(front['argument-hint'], 'argument-hint', problems);
  let metadata: PlainObject = {};
  if (front.metadata !== undefined && front.metadata !== null) {
    if (isPlainObject(front.metadata)) metadata = front.metadata;
    else problems.add('metadata', 'must be an object');
  }
  const scope = readScope(metadata.scope, 'metadata.scope', problems, name);
  const args = parseArgumentList(metadata.arguments, 'metadata.arguments', problems, RESERVED_SKILL_ARGUMENTS);
  let config = parseTaskOverrides(metadata.config, 'metadata.config', problems);
  if (front['allowed-tools'] !== undefined && front['allowed-tools'] !== null) {
    const tools = readStringList(front['allowed-tools'], 'allowed-tools', problems, true);
    if (tools !== undefined) config = { ...config, allowedTools: tools };
  }
  if (front.model !== undefined && front.model !== null) {
    const model = readString(front.model, 'model', problems, { nonEmpty: true });
    if (model !== undefined) config = { ...config, model };
  }
  let prompt: string | undefined = split.body;
  if (prompt === '') {
    problems.add('body', '(the prompt after the frontmatter) must not be empty');
    prompt = undefined;
  } else {
    checkSkillPlaceholders(prompt, args, 'body', problems);
  }
  if (!problems.empty || name === undefined || prompt === undefined) return { ok: false, problems: problems.items };
  return {
    ok: true,
    value: buildSkill({
      name,
      description,
      prompt,
      arguments: args,
      config,
      argumentHint,
      scope,
      skillDir: options.skillDir,
    }),
  };
}
