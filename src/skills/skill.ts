/**
 * Skills: named, parameterised prompt templates that a task or a chain step can run.
 */
import type { TaskOverrides } from '../../machines/types.js';
import { PREVIOUS_OUTPUT_ARG, findPlaceholders } from './template.js';

/** Advisory hint about where a skill is meant to run. */
export type SkillScope = 'task' | 'coordinator' | 'chain';

/** Every skill scope. */
export const SKILL_SCOPES: readonly SkillScope[] = ['task', 'coordinator', 'chain'];

/** Where a registered skill came from. */
export type SkillSource = 'builtin' | 'global' | 'project' | 'runtime' | 'directory';

/** Every skill source. */
export const SKILL_SOURCES: readonly SkillSource[] = ['builtin', 'global', 'project', 'runtime', 'directory'];

/** One argument a skill takes. */
export interface SkillArgument {
  /** Identifier used as `{name}` in the prompt. */
  name: string;
  description: string;
  /** A required argument without a default must be given to render. */
  required: boolean;
  /** Used when the argument is not given. */
  default?: string;
}

/** A named prompt template. */
export interface Skill {
  /** Lowercase letters, digits, `_` and `-`, starting with a letter. */
  name: string;
  description: string;
  /** The template: `{arg}`, `{_previous_output}`, `$ARGUMENTS`, `$ARGUMENTS[i]`, `${CLAUDE_SKILL_DIR}`. */
  prompt: string;
  arguments: SkillArgument[];
  /** Overrides applied to the task that runs the rendered prompt. */
  config?: TaskOverrides;
  /** Short usage hint shown to users, e.g. `<file or directory>`. */
  argumentHint?: string;
  /** Advisory only. */
  scope: SkillScope;
  /** The folder of a SKILL.md skill; substituted for `${CLAUDE_SKILL_DIR}`. */
  skillDir?: string;
}

/** A skill as given to `SkillRegistry.register`: the scope may be left out (inferred from the name). */
export type SkillDefinition = Omit<Skill, 'scope'> & { scope?: SkillScope };

/** A skill together with where it came from. */
export interface RegisteredSkill {
  skill: Skill;
  source: SkillSource;
}

/** Machine-readable kinds of {@link SkillError}. */
export type SkillErrorCode =
  | 'missing_argument'
  | 'unknown_argument'
  | 'invalid_definition'
  | 'not_found'
  /** Save or eject had no folder to write to. */
  | 'no_directory'
  /** Eject of a skill that is not a built-in. */
  | 'not_builtin';

/** Any failure to validate, load, find or render a skill. */
export class SkillError extends Error {
  override readonly name = 'SkillError';
  /** What went wrong, for programs. */
  readonly code: SkillErrorCode;
  /** For `invalid_definition`: every problem found, each a self-contained message. */
  readonly problems: readonly string[];

  constructor(code: SkillErrorCode, message: string, problems: readonly string[] = []) {
    super(message);
    this.code = code;
    this.problems = problems;
  }
}

/** Matches `$ARGUMENTS` and `$ARGUMENTS[i]` (group 1 is the index). */
const ARGUMENTS_SOURCE = String.raw`\$ARGUMENTS(?:\[(\d+)\])?(?![A-Za-z0-9_])`;

/** Matches the positional shorthand `$i` (group 1 is the index); not `$1.50` or `$1,000` (amounts). */
const POSITIONAL_SOURCE = String.raw`(?<![A-Za-z0-9_$\\])\$(\d+)(?![0-9]|[.,]\d)`;

/** Matches a shell command marker `` !`cmd` `` (group 1 is the command); an unclosed marker does not match. */
const COMMAND_SOURCE = String.raw`!\`([^\`\n]+)\``;

/**
 * Everything `renderSkill` substitutes, in one pass: placeholders (group 1), `$ARGUMENTS…` (group 2 is the
 * index), `$i` (group 3), `${CLAUDE_SKILL_DIR}`, and `` !`cmd` `` (group 4).
 */
const RENDER_PATTERN = new RegExp(
  String.raw`(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}|${ARGUMENTS_SOURCE}|${POSITIONAL_SOURCE}|\$\{CLAUDE_SKILL_DIR\}|${COMMAND_SOURCE}`,
  'g',
);

/** What `${CLAUDE_SKILL_DIR}` becomes in a skill that has no folder. */
export const NO_SKILL_DIR = '[CLAUDE_SKILL_DIR unavailable: skill has no directory]';

/**
 * Runs the shell command of a `` !`cmd` `` marker and returns the text that replaces it. Given to
 * `renderSkill` only when shell commands are enabled; without one, markers stay literal.
 */
export type SkillCommandRunner = (command: string, skill: Skill) => string;

/** Options of {@link renderSkill}. */
export interface RenderOptions {
  /** Runs `` !`cmd` `` markers of the template. Absent (the default): markers stay as they are. */
  runCommand?: SkillCommandRunner;
}

/** Formats a list of names as `'a', 'b'`. */
function quoteList(names: readonly string[]): string {
  return names.map((n) => `'${n}'`).join(', ');
}

/**
 * Checks `args` against the skill's arguments: unknown names first (`unknown_argument`), then required
 * arguments without a default (`missing_argument`). Returns every declared argument's value (given, else
 * the default, else `''`) in declaration order. `_previous_output` is always accepted and not returned.
 */
export function resolveSkillArguments(
  skill: Skill,
  args: Readonly<Record<string, string | undefined>>,
): Map<string, string> {
  const declared = new Set(skill.arguments.map((a) => a.name));
  const unknown = Object.keys(args).filter(
    (key) => key !== PREVIOUS_OUTPUT_ARG && args[key] !== undefined && !declared.has(key),
  );
  if (unknown.length > 0) {
    const valid =
      skill.arguments.length === 0
        ? 'it takes no arguments'
        : `valid arguments: ${skill.arguments.map((a) => a.name).join(', ')}`;
    const noun = unknown.length === 1 ? 'argument' : 'arguments';
    throw new SkillError(
      'unknown_argument',
      `unknown ${noun} ${quoteList(unknown)} for skill '${skill.name}' (${valid})`,
    );
  }
  const values = new Map<string, string>();
  for (const arg of skill.arguments) {
    const given = args[arg.name];
    if (given === undefined && arg.required && arg.default === undefined) {
      throw new SkillError('missing_argument', `missing required argument '${arg.name}' for skill '${skill.name}'`);
    }
    values.set(arg.name, given ?? arg.default ?? '');
  }
  return values;
}

/**
 * Renders a skill's prompt.
 *
 * - Unknown argument names fail (`unknown_argument`); `_previous_output` is always accepted.
 * - A required argument without a default must be given (`missing_argument`).
 * - `{arg}` becomes the given value, else the default, else `''`, for every declared argument.
 * - `$ARGUMENTS` becomes the non-empty values joined by a space, in declaration order; `$ARGUMENTS[i]` and
 *   `$i` the i-th declared argument's value. `$i` is only replaced for an index below the number of
 *   declared arguments and when it is not followed by a decimal or thousands part, so `$5` in a
 *   one-argument skill and `$1.50` stay as they are.
 * - When the template uses none of its arguments (no `{arg}`, no `$ARGUMENTS`, no `$i`) and some value is
 *   non-empty, `\n\nARGUMENTS: …` is appended.
 * - `{_previous_output}` becomes the `_previous_output` value; when the template does not mention it and the
 *   value is non-empty, a `\n\nPrevious step output:\n…` section is appended.
 * - `${CLAUDE_SKILL_DIR}` becomes the skill's folder, or {@link NO_SKILL_DIR} when it has none.
 * - `` !`cmd` `` in the template becomes what `options.runCommand` returns; without a runner it stays as it
 *   is. Only the template's own markers run: argument values are inserted afterwards, never executed.
 * - Substitution is a single pass, and other placeholders (`{previous_output}`, `{steps.X.Y}`, `${VAR}`)
 *   are left for the chain or the shell.
 */
export function renderSkill(
  skill: Skill,
  args: Readonly<Record<string, string>> = {},
  options: RenderOptions = {},
): string {
  const values = resolveSkillArguments(skill, args);
  const previousOutput = args[PREVIOUS_OUTPUT_ARG] ?? '';
  const positional = skill.arguments.map((a) => values.get(a.name) ?? '');
  const allArgs = positional.filter((v) => v !== '').join(' ');

  const placeholders = findPlaceholders(skill.prompt);
  const mentionsPrevious = placeholders.includes(PREVIOUS_OUTPUT_ARG);
  const usesPositional = [...skill.prompt.matchAll(new RegExp(POSITIONAL_SOURCE, 'g'))].some(
    (m) => Number(m[1]) < positional.length,
  );
  const usesArguments =
    new RegExp(ARGUMENTS_SOURCE).test(skill.prompt) || usesPositional || placeholders.some((name) => values.has(name));

  let text = skill.prompt.replace(
    RENDER_PATTERN,
    (
      match,
      name: string | undefined,
      index: string | undefined,
      position: string | undefined,
      command: string | undefined,
    ) => {
      if (name !== undefined) {
        if (values.has(name)) return values.get(name) as string;
        if (name === PREVIOUS_OUTPUT_ARG) return previousOutput;
        return match;
      }
      if (position !== undefined) return Number(position) < positional.length ? positional[Number(position)] : match;
      if (command !== undefined) return options.runCommand ? options.runCommand(command, skill) : match;
      if (match.startsWith('$ARGUMENTS')) {
        return index === undefined ? allArgs : (positional[Number(index)] ?? '');
      }
      return skill.skillDir ?? NO_SKILL_DIR;
    },
  );

  if (!usesArguments && allArgs !== '') text += `\n\nARGUMENTS: ${allArgs}`;
  if (!mentionsPrevious && previousOutput !== '') text += `\n\nPrevious step output:\n${previousOutput}`;
  return text;
}
