#!/usr/bin/env node
/**
 * The simulated `claude` executable: a stand-in for `claude -p --output-format stream-json --verbose`
 * (Claude Code 2.1.331) whose behaviour is scripted by `[[sim:…]]` directives in the prompt.
 * See docs/simulated-agent.md. Only node built-ins are imported, so it starts fast.
 */
import { runSimulatedAgent } from './run.js';

runSimulatedAgent(process.argv.slice(2)).then(
  (code) => {
    // Let node exit on its own once stdout has drained (never process.exit with pending writes).
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `simulated agent: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
