/**
 * The statecharts in machines/ are pure: they import nothing but XState and each other, so every decision can
 * be replayed, traversed and mutation-tested without I/O.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const machinesDir = fileURLToPath(new URL('../../machines/', import.meta.url));

/** Every module specifier a file imports or re-exports (static and dynamic). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s+['"]([^'"]+)['"]/g,
    /\bimport\s+['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]);
  return found;
}

describe('machines/', () => {
  const files = readdirSync(machinesDir).filter((name) => name.endsWith('.ts'));

  it('has the statecharts and their pure helpers', () => {
    expect(files).toEqual(
      expect.arrayContaining(['pool.ts', 'slot.ts', 'task.ts', 'chain.ts', 'budget.ts', 'queue.ts']),
    );
  });

  it.each(files)('%s imports only xstate and machines/ itself', (name) => {
    const imported = specifiers(readFileSync(join(machinesDir, name), 'utf8'));
    const foreign = imported.filter((spec) => spec !== 'xstate' && !/^\.\/[\w-]+\.js$/.test(spec));
    expect(foreign).toEqual([]);
  });

  it('the check sees a foreign import when there is one', () => {
    const imported = specifiers(
      "import { x } from 'node:fs';\nimport type { Y } from '../src/pool.js';\nconst z = await import('rxjs');",
    );
    expect(imported).toEqual(['node:fs', '../src/pool.js', 'rxjs']);
  });
});
