/**
 * Reading the router's reply: tolerant extraction of the JSON decision and its validation.
 */
import type { AutoRoute, AutoStep, RouteExtraction } from './types.js';

/** Why a reply could not be read as a routing decision. */
export class RouteParseError extends Error {
  override readonly name = 'RouteParseError';
}

/** A decision found in a reply, and where it was found. */
export interface ExtractedRoute {
  decision: AutoRoute;
  extraction: RouteExtraction;
}

/** The first ```json fenced block's body. */
function jsonFence(text: string): string | undefined {
  return /```json[ \t]*\r?\n([\s\S]*?)```/i.exec(text)?.[1];
}

/** The first bare ``` fenced block's body (a fence with no language). */
function bareFence(text: string): string | undefined {
  return /```[ \t]*\r?\n([\s\S]*?)```/.exec(text)?.[1];
}

/**
 * The brace-balanced object around the first `"route"`: from the nearest `{` before it to its matching
 * `}` (braces inside JSON strings are skipped).
 */
function embeddedObject(text: string): string | undefined {
  const at = text.indexOf('"route"');
  if (at < 0) return undefined;
  const start = text.lastIndexOf('{', at);
  if (start < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i += 1) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i += 1;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') depth += 1;
    else if (ch === '}') {
      depth -= 1;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  return undefined;
}

function tryJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text.trim()) as unknown;
  } catch {
    return undefined;
  }
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * Checks a parsed value against the `AutoRoute` shape: `route` is `single` (a non-empty `prompt`),
 * `parallel` (a non-empty list of non-empty `prompts`) or `chain` (a non-empty list of `steps` with a
 * non-empty `prompt`; a missing or repeated `name` becomes `step_N`). Route names are case-insensitive.
 */
export function validateRoute(value: unknown): AutoRoute {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RouteParseError('the routing decision must be a JSON object');
  }
  const raw = value as Record<string, unknown>;
  const route = typeof raw.route === 'string' ? raw.route.trim().toLowerCase() : undefined;
  if (route === 'single') {
    if (!nonEmptyString(raw.prompt)) throw new RouteParseError('a single route needs a non-empty "prompt"');
    return { route: 'single', prompt: raw.prompt };
  }
  if (route === 'parallel') {
    if (!Array.isArray(raw.prompts) || raw.prompts.length === 0 || !raw.prompts.every(nonEmptyString)) {
      throw new RouteParseError('a parallel route needs "prompts": a non-empty list of non-empty strings');
    }
    return { route: 'parallel', prompts: [...(raw.prompts as string[])] };
  }
  if (route === 'chain') {
    if (!Array.isArray(raw.steps) || raw.steps.length === 0) {
      throw new RouteParseError('a chain route needs "steps": a non-empty list');
    }
    const used = new Set<string>();
    const steps: AutoStep[] = raw.steps.map((item: unknown, index) => {
      const step = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
      if (!nonEmptyString(step.prompt)) throw new RouteParseError(`chain step ${index + 1} needs a non-empty "prompt"`);
      let name = nonEmptyString(step.name) ? step.name.trim() : `step_${index + 1}`;
      if (used.has(name)) name = `${name}_${index + 1}`;
      used.add(name);
      return { name, prompt: step.prompt };
    });
    return { route: 'chain', steps };
  }
  throw new RouteParseError(
    `unknown route ${JSON.stringify(raw.route ?? null)}: expected "single", "parallel" or "chain"`,
  );
}

/**
 * Finds the routing decision in a reply. Tries, in order: the whole reply as JSON; the first ```json
 * fenced block; the first bare ``` block; the brace-balanced object around the first `"route"`. The first
 * candidate that parses as JSON is validated; when none parses, `RouteParseError` says so.
 */
export function extractRoute(reply: string): ExtractedRoute {
  const candidates: [RouteExtraction, () => string | undefined][] = [
    ['direct', () => reply],
    ['json_fence', () => jsonFence(reply)],
    ['bare_fence', () => bareFence(reply)],
    ['embedded', () => embeddedObject(reply)],
  ];
  for (const [extraction, find] of candidates) {
    const parsed = tryJson(find());
    if (parsed !== undefined) return { decision: validateRoute(parsed), extraction };
  }
  const shown = reply.length > 200 ? `${reply.slice(0, 200)}…` : reply;
  throw new RouteParseError(
    `no routing decision (JSON with a "route" field) found in the reply: ${JSON.stringify(shown)}`,
  );
}
