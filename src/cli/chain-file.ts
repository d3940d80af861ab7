/**
 * Chain files for `claude-pool chain <file>`: JSON or YAML, either a list of steps or
 * `{steps, tags?, isolation?}`. A step is the MCP shape `{name, type, value, …}`, or the shorthand
 * `{name, prompt}` / `{name, skill, arguments}`; keys may be snake_case or camelCase.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ChainOptions, ChainStep } from '../../machines/types.js';
import { describeZodError } from '../mcp/errors.js';
import { chainStepParam, isolationParam, toChainOptions, toChainStep } from '../mcp/params.js';
import { SettingsError } from './settings.js';

/** A parsed chain file. */
export interface ChainFile {
  steps: ChainStep[];
  options: ChainOptions;
}

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Normalises one step: camelCase keys → snake_case, `prompt`/`skill` shorthands → `type` + `value`. */
function normaliseStep(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const step: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // Keep user maps (arguments, output_vars) as they are; only rename the step's own keys.
    step[snake(key)] = value;
  }
  if (step.prompt !== undefined && step.value === undefined && step.type === undefined) {
    step.type = 'prompt';
    step.value = step.prompt;
    delete step.prompt;
  } else if (step.skill !== undefined && step.value === undefined && step.type === undefined) {
    step.type = 'skill';
    step.value = step.skill;
    delete step.skill;
  }
  return step;
}

const fileSchema = z.union([
  z.array(z.unknown()),
  z.strictObject({
    steps: z.array(z.unknown()),
    tags: z.array(z.string()).optional(),
    isolation: isolationParam.optional(),
  }),
]);

/** Parses a chain file's content; problems name the file and the field. Throws `SettingsError`. */
export function parseChainFile(text: string, file: string): ChainFile {
  let raw: unknown;
  try {
    raw = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new SettingsError([
      `${file}: invalid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
    ]);
  }
  const top = fileSchema.safeParse(raw);
  if (!top.success) {
    throw new SettingsError([
      `${file}: expected a list of steps or {steps, tags?, isolation?}: ${describeZodError(top.error)}`,
    ]);
  }
  const rawSteps = Array.isArray(top.data) ? top.data : top.data.steps;
  if (rawSteps.length === 0) throw new SettingsError([`${file}: the chain has no steps`]);
  const problems: string[] = [];
  const steps: ChainStep[] = [];
  rawSteps.forEach((rawStep, index) => {
    const parsed = chainStepParam.safeParse(normaliseStep(rawStep));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const path = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
        problems.push(`${file}: steps[${index}]${path}: ${issue.message}`);
      }
    } else {
      steps.push(toChainStep(parsed.data));
    }
  });
  if (problems.length > 0) throw new SettingsError(problems);
  const options = Array.isArray(top.data) ? {} : toChainOptions(top.data);
  return { steps, options };
}

/** Reads and parses a chain file. */
export async function readChainFile(file: string): Promise<ChainFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SettingsError([`cannot read chain file ${file}: ${(error as Error).message}`]);
  }
  return parseChainFile(text, file);
}
