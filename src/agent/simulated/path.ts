/**
 * Where the built simulated agent lives, for spawning it from tests, the demo and benchmarks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this module whose package.json is named `claude-pool`. */
export function findPackageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'claude-pool') return dir;
      } catch {
        // not a readable manifest: keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`claude-pool package root not found above ${from}`);
    dir = parent;
  }
}

/**
 * Absolute path of the built, executable simulated agent (`dist/src/agent/simulated/main.js`).
 * The same whether this module runs from `src/` (vitest) or from `dist/src/`. Run `npm run build` first.
 */
export const simulatedClaude: string = join(findPackageRoot(), 'dist', 'src', 'agent', 'simulated', 'main.js');
