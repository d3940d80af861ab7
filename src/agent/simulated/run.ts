/**
 * The simulated agent's behaviour: validates argv like `claude -p` 2.1.331 (`setup.ts`), then plays the script
 * the prompt's `[[sim:…]]` directives describe, printing the real CLI's stream-json, json or text
 * (`playback.ts`).
 */
import { StdoutWriter } from './output.js';
import { Playback } from './playback.js';
import { prepareRun } from './setup.js';
import { StreamInputSession } from './stream-input.js';

export { DEFAULT_COST_USD, SIGTERM_EXIT_CODE } from './playback.js';

/**
 * Runs the simulated agent with `argv` (no `node`/script entries) and returns its exit code once all
 * output is flushed. Installs SIGINT/SIGTERM handlers for the duration of the run.
 */
export async function runSimulatedAgent(argv: readonly string[]): Promise<number> {
  await startupDelay(process.env);
  const out = new StdoutWriter(process.stdout);
  const setup = await prepareRun(argv, out);
  if ('earlyExit' in setup) return setup.earlyExit;
  if (setup.flags.inputFormat === 'stream-json') return new StreamInputSession(setup, out).run();
  return new Playback(setup, out).run();
}

/**
 * `CLAUDE_POOL_SIM_STARTUP_MS`: how long the agent takes to start before it reads its argv (the real CLI
 * spends about a second starting before its first API call), so benchmarks can weigh process start-up.
 */
export const STARTUP_DELAY_ENV = 'CLAUDE_POOL_SIM_STARTUP_MS';

async function startupDelay(env: NodeJS.ProcessEnv): Promise<void> {
  const ms = Number(env[STARTUP_DELAY_ENV] ?? 0);
  if (Number.isFinite(ms) && ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}
