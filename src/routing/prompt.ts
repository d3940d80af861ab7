/**
 * The routing prompt: the built-in router instructions (or a custom base), an optional `## Constraints`
 * section built from the hints, and the task.
 */
import type { AutoConfig, AutoHint, RoutePreference } from './types.js';

/** The built-in router instructions. */
export const ROUTER_PROMPT = `You are a work router. You ONLY classify tasks: you never do the work, and you use no tools.

Choose exactly one of three ways to carry out the task below:

- SINGLE: one agent does the whole task. Use it for small or tightly coupled work.
- PARALLEL: the task splits into independent parts that agents can do at the same time, each without
  seeing the others' results. Use it only when the parts really are independent.
- CHAIN: the task is a sequence of phases where each builds on the previous one's result (for example
  investigate, then change, then verify). A step sees the previous step's output as {previous_output}.

Rules:
- If in doubt, choose SINGLE.
- PARALLEL and CHAIN have between 2 and 6 items. Each prompt must be self-contained: say what to do and
  where, since the agent that runs it sees nothing else.
- Reply with JSON only, no prose and no code fence, in exactly one of these forms:

{"route":"single","prompt":"<the task, restated if useful>"}
{"route":"parallel","prompts":["<part 1>","<part 2>"]}
{"route":"chain","steps":[{"name":"<step name>","prompt":"<step 1>"},{"name":"<step name>","prompt":"<step 2, using {previous_output}>"}]}`;

/** How a preference reads in the constraints section. */
const PREFERENCE_WORDS: Record<RoutePreference, string> = {
  prefer_single: 'single',
  prefer_parallel: 'parallel',
  prefer_chain: 'chain',
};

/** The `- …` lines of the constraints section; empty when the hints say nothing. */
export function constraintLines(hints: AutoHint): string[] {
  const lines: string[] = [];
  if (hints.maxParallel !== undefined) lines.push(`- Maximum parallel tasks: ${hints.maxParallel}`);
  if (hints.maxChainSteps !== undefined) lines.push(`- Maximum chain steps: ${hints.maxChainSteps}`);
  if (hints.prefer !== undefined) {
    lines.push(
      `- Preferred route: ${PREFERENCE_WORDS[hints.prefer]} (but choose differently if the task clearly warrants it)`,
    );
  }
  if (hints.domain !== undefined && hints.domain.trim() !== '') lines.push(`- Domain: ${hints.domain}`);
  if (hints.decompositionHints !== undefined && hints.decompositionHints.length > 0) {
    lines.push(`- Suggested decomposition boundaries: ${hints.decompositionHints.join(', ')}`);
  }
  return lines;
}

/**
 * Assembles the routing prompt: the custom prompt or {@link ROUTER_PROMPT}, then `\n\n## Constraints\n\n`
 * and one line per hint (when any), then `\n\n## Task\n\n` and the task.
 */
export function buildRoutingPrompt(task: string, config: AutoConfig = {}): string {
  let prompt = config.customPrompt ?? ROUTER_PROMPT;
  const lines = config.hints ? constraintLines(config.hints) : [];
  if (lines.length > 0) prompt += `\n\n## Constraints\n\n${lines.join('\n')}`;
  return `${prompt}\n\n## Task\n\n${task}`;
}
