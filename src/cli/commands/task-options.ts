/**
 * Per-task options of `run` and `fan-out`.
 */
import type { Command } from 'commander';
import type { TaskOverrides } from '../../../machines/types.js';
import type { SubmitOptions } from '../../pool/index.js';
import { splitToolList } from '../../skills/definition.js';
import { SettingsError } from '../settings.js';

/** The per-task options as commander parses them. */
export interface TaskCommandOptions {
  tag?: string[];
  maxBudgetUsd?: string;
  maxTurns?: string;
  timeout?: string;
  allowedTools?: string[];
}

/** Adds `--tag`, `--max-budget-usd`, `--max-turns`, `--timeout` and `--allowed-tools`. */
export function addTaskOptions(command: Command): Command {
  return command
    .option('--tag <tag...>', 'tag the task(s) (repeatable)')
    .option('--max-budget-usd <usd>', 'spend cap of each task in USD (reserved from the pool budget)')
    .option('--max-turns <n>', 'stop each task after this many model turns')
    .option('--timeout <secs>', 'kill each task after this many seconds')
    .option(
      '--allowed-tools <tools>',
      'tools pre-approved for the task(s), comma or space separated, e.g. "Read,Bash(git diff:*)" (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    );
}

function positive(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new SettingsError([
      `${flag}: expected ${integer ? 'an integer' : 'a number'} greater than 0, got ${JSON.stringify(value)}`,
    ]);
  }
  return n;
}

/** The submit options the per-task flags give. Throws `SettingsError` for bad values. */
export function taskOptionsFrom(options: TaskCommandOptions): SubmitOptions {
  const config: TaskOverrides = {};
  const budget = positive('--max-budget-usd', options.maxBudgetUsd, false);
  const turns = positive('--max-turns', options.maxTurns, true);
  const timeout = positive('--timeout', options.timeout, false);
  if (budget !== undefined) config.maxBudgetUsd = budget;
  if (turns !== undefined) config.maxTurns = turns;
  if (timeout !== undefined) config.timeoutSecs = timeout;
  if (options.allowedTools !== undefined) {
    const tools = options.allowedTools.flatMap((entry) => splitToolList(entry));
    if (tools.length === 0) throw new SettingsError(['--allowed-tools: expected at least one tool name']);
    config.allowedTools = tools;
  }
  return {
    ...(Object.keys(config).length > 0 ? { config } : {}),
    ...(options.tag && options.tag.length > 0 ? { tags: options.tag } : {}),
  };
}
