import { defineConfig } from 'vitest/config';

/**
 * The tests mutation testing runs against `machines/`: the unit tests of the pure helpers and of the
 * statecharts driven directly (no child processes), so one mutant's run takes milliseconds. Stryker's vitest
 * runner uses worker threads, which reject `--expose-gc`, so this config does not pass it.
 */
export default defineConfig({
  test: {
    include: ['test/machines/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'threads',
  },
});
