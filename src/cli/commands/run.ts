/**
 * `claude-pool run <prompt>`: run one prompt and print its result.
 */
import { outJson, type OutputOptions, type PoolCommandOptions } from '../common.js';
import { exitCodeForResults } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { withPoolSession } from '../session.js';
import { printResult, resultJson } from './results.js';
import { taskOptionsFrom, type TaskCommandOptions } from './task-options.js';

/** Runs `run`: the answer on stdout, a summary on stderr (or one JSON document with `--json`). */
export async function runAction(
  state: CliState,
  prompt: string,
  options: PoolCommandOptions & OutputOptions & TaskCommandOptions,
): Promise<void> {
  state.json = options.json === true;
  const submit = taskOptionsFrom(options);
  state.exitCode = await withPoolSession(options, async ({ pool, progress }) => {
    const result = await pool.run(prompt, submit);
    progress.stop();
    if (options.json) outJson(resultJson(result));
    else printResult(result, { quiet: options.quiet });
    return exitCodeForResults([result]);
  });
}
