#!/usr/bin/env node
/**
 * The `claude-pool` command (bin entry). See docs/cli.md.
 */
import { runCli } from './program.js';

const { exitCode, forceExit } = await runCli(process.argv);
process.exitCode = exitCode;
if (forceExit) {
  // Let stdout/stderr drain, then stop even if a handle (stdin, a timer) is still open.
  setTimeout(() => process.exit(exitCode), 50).unref();
}
