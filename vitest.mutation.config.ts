import { defineConfig } from 'vitest/config';

/**
 * The tests mutation testing runs against `machines/`: the unit tests of the pure helpers and of the
 * statecharts driven directly (no child processes), so one mutant's run takes milliseconds. Stryker's vitest
 * runner uses worker threads, which reject `--expose-gc`, so this config does not pass it.
 */
export default defineConfig({
  test: {
    include: ['test/machines/**/*.test.ts'],
    // Every test here takes milliseconds; a mutant that leaves a test waiting fails it fast instead of timing
    // out the whole run (which costs a restart of the test runner).
    testTimeout: 2_000,
    hookTimeout: 2_000,
    pool: 'threads',
  },
});
