/**
 * The simulated agent's behaviour: validates argv like `claude -p` 2.1.331 (`setup.ts`), then plays the script
 * the prompt's `[[sim:…]]` directives describe, printing the real CLI's stream-json, json or text
 * (`playback.ts`).
 */
import { StdoutWriter } from './output.js';
import { Playback } from './playback.js';
import { prepareRun } from './setup.js';

export { DEFAULT_COST_USD, SIGTERM_EXIT_CODE } from './playback.js';

/**
 * Runs the simulated agent with `argv` (no `node`/script entries) and returns its exit code once all
 * output is flushed. Installs SIGINT/SIGTERM handlers for the duration of the run.
 */
export async function runSimulatedAgent(argv: readonly string[]): Promise<number> {
  const out = new StdoutWriter(process.stdout);
  const setup = await prepareRun(argv, out);
  if ('earlyExit' in setup) return setup.earlyExit;
  return new Playback(setup, out).run();
}
