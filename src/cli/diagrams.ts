#!/usr/bin/env node
/**
 * `npm run diagrams`: writes docs/statecharts/<machine>.md for every statechart in machines/.
 *
 * Usage: `node dist/src/cli/diagrams.js [outDir] [--check]`. With `--check` nothing is written; the exit code is 1
 * when a page is out of date.
 */
import { resolve } from 'node:path';
import { staleDiagrams, writeDiagrams } from '../inspect/diagrams.js';

const args = process.argv.slice(2);
const check = args.includes('--check');
const outDir = resolve(args.find((arg) => !arg.startsWith('--')) ?? 'docs/statecharts');

if (check) {
  const stale = await staleDiagrams(outDir);
  if (stale.length > 0) {
    process.stderr.write(`out of date in ${outDir}: ${stale.join(', ')} — run npm run diagrams\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`statechart diagrams in ${outDir} are up to date\n`);
  }
} else {
  for (const path of await writeDiagrams(outDir)) process.stdout.write(`wrote ${path}\n`);
}
