import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The observation tests measure the heap after forcing garbage collection.
    execArgv: ['--expose-gc'],
  },
});
