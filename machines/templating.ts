/**
 * Chain templating: `{previous_output}`, `{steps.NAME.VAR}`, `{error}`, and output variables taken from a
 * step's JSON output by dot path. Pure string functions.
 */

/** Replaces every `{previous_output}`. */
export function substitutePreviousOutput(template: string, previousOutput: string): string {
  return template.split('{previous_output}').join(previousOutput);
}

/** Expands `{steps.NAME.VAR}` from the variables of earlier steps; unknown references stay as they are. */
export function expandStepRefs(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{steps\.([^.{}\s]+)\.([^{}\s]+)\}/g, (whole, step: string, name: string) => {
    const value = vars[`${step}.${name}`];
    return value === undefined ? whole : value;
  });
}

/** Renders a step prompt: previous output first, then step references. */
export function renderStepPrompt(
  template: string,
  previousOutput: string,
  vars: Readonly<Record<string, string>>,
): string {
  return expandStepRefs(substitutePreviousOutput(template, previousOutput), vars);
}

/** Renders a recovery prompt: `{error}`, `{previous_output}`, then step references. */
export function renderRecoveryPrompt(
  template: string,
  error: string,
  previousOutput: string,
  vars: Readonly<Record<string, string>>,
): string {
  return renderStepPrompt(template.split('{error}').join(error), previousOutput, vars);
}

/**
 * Extracts a value from a step's output by dot path. `.` or empty gives the whole output; otherwise the
 * output is parsed as JSON and walked key by key (array indexes are keys too). Strings come back as they
 * are, other values as compact JSON; `undefined` when the output is not JSON or the path does not resolve.
 */
export function extractOutputVar(output: string, path: string): string | undefined {
  const trimmed = path.trim();
  if (trimmed === '' || trimmed === '.') return output;
  let value: unknown;
  try {
    value = JSON.parse(jsonPart(output));
  } catch {
    return undefined;
  }
  for (const key of trimmed.replace(/^\./, '').split('.')) {
    if (value === null || typeof value !== 'object' || !(key in value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  // A JSON value is never `undefined`, so a resolved path always gives a string.
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The JSON in an output: the whole text, or the body of its first fenced code block. */
function jsonPart(output: string): string {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)```/.exec(output);
  return fenced ? fenced[1] : output;
}
