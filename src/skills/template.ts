/**
 * Placeholder scanning and substitution shared by skills and workflows.
 *
 * A placeholder is `{name}` or a dotted `{a.b.c}` whose first segment is an identifier. A brace group
 * preceded by `$` (`${HOME}`) is a shell variable, not a placeholder, and is never touched. Substitution is
 * a single pass: text inserted for one placeholder is never scanned again, so an argument value that
 * contains `{other}` stays literal.
 */

/** The source of the placeholder pattern (capture group 1 is the name inside the braces). */
const PLACEHOLDER_SOURCE = String.raw`(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\}`;

/** The chain's output of the previous step (`{previous_output}`), expanded by the chain executor. */
export const CHAIN_PREVIOUS_OUTPUT = 'previous_output';

/** The skill argument that carries the previous chain step's output into a skill (`{_previous_output}`). */
export const PREVIOUS_OUTPUT_ARG = '_previous_output';

/** A fresh global regular expression matching placeholders; group 1 is the placeholder's name. */
export function placeholderPattern(): RegExp {
  return new RegExp(PLACEHOLDER_SOURCE, 'g');
}

/** The distinct placeholder names in `text`, in order of first appearance. */
export function findPlaceholders(text: string): string[] {
  const seen = new Set<string>();
  for (const match of text.matchAll(placeholderPattern())) seen.add(match[1]);
  return [...seen];
}

/** True for `steps.STEP.VAR`, the chain's reference to a named output variable of an earlier step. */
export function isStepReference(name: string): boolean {
  return /^steps\.[^.]+\.[^.]+$/.test(name);
}

/** Splits `steps.STEP.VAR` into its step and variable names; `undefined` for anything else. */
export function parseStepReference(name: string): { step: string; variable: string } | undefined {
  if (!isStepReference(name)) return undefined;
  const [, step, variable] = name.split('.');
  return { step, variable };
}

/** True for the placeholders the chain executor expands itself: `{previous_output}` and `{steps.X.Y}`. */
export function isChainPlaceholder(name: string): boolean {
  return name === CHAIN_PREVIOUS_OUTPUT || isStepReference(name);
}

/**
 * Replaces, in one pass, every placeholder whose name is a key of `values`; every other placeholder is
 * left as it is.
 */
export function substitutePlaceholders(text: string, values: ReadonlyMap<string, string>): string {
  return text.replace(placeholderPattern(), (match, name: string) => values.get(name) ?? match);
}
