#!/usr/bin/env node
/**
 * The `claude-pool` command.
 */
import { runDemo } from './demo.js';

const [command = 'help'] = process.argv.slice(2);
if (command === 'demo') {
  await runDemo();
} else {
  process.stdout.write('usage: claude-pool demo\n');
  process.exitCode = command === 'help' || command === '--help' ? 0 : 1;
}
