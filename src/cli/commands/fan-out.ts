/**
 * `claude-pool fan-out [prompts...] --file <path>`: run prompts in parallel and print every result.
 */
import { readFile } from 'node:fs/promises';
import { err, out, outJson, type OutputOptions, type PoolCommandOptions } from '../common.js';
import { exitCodeForResults } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { withPoolSession } from '../session.js';
import { SettingsError } from '../settings.js';
import { failureDetails, resultJson, resultSummary } from './results.js';
import { taskOptionsFrom, type TaskCommandOptions } from './task-options.js';

/** Prompts of a prompt file: one per line; blank lines and lines starting with `#` are skipped. */
export function parsePromptLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

async function readPromptFile(path: string): Promise<string[]> {
  try {
    const text = path === '-' ? await readStdin() : await readFile(path, 'utf8');
    return parsePromptLines(text);
  } catch (error) {
    throw new SettingsError([`--file: cannot read ${path}: ${(error as Error).message}`]);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs `fan-out`: every result in input order on stdout (or one JSON document with `--json`). */
export async function fanOutAction(
  state: CliState,
  prompts: string[],
  options: PoolCommandOptions & OutputOptions & TaskCommandOptions & { file?: string },
): Promise<void> {
  state.json = options.json === true;
  const all = [...prompts, ...(options.file ? await readPromptFile(options.file) : [])];
  if (all.length === 0) throw new SettingsError(['no prompts: give prompts as arguments or with --file <path>']);
  const submit = taskOptionsFrom(options);
  state.exitCode = await withPoolSession(options, async ({ pool, progress }) => {
    const results = await pool.fanOut(all, submit);
    progress.stop();
    const failed = results.filter((r) => !r.success).length;
    const cost = results.reduce((sum, r) => sum + r.costMicrodollars, 0);
    if (options.json) {
      outJson({
        results: results.map(resultJson),
        succeeded: results.length - failed,
        failed,
        total_cost_microdollars: cost,
      });
    } else {
      results.forEach((result, index) => {
        out(`=== [${index}] ${resultSummary(result)}`);
        out(result.output);
        if (!options.quiet) for (const line of failureDetails(result)) err(`[${index}]${line}`);
      });
      if (!options.quiet)
        err(`${results.length - failed}/${results.length} succeeded, spent $${(cost / 1e6).toFixed(4)}`);
    }
    return exitCodeForResults(results);
  });
}
