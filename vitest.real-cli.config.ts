import { defineConfig } from 'vitest/config';

/**
 * The opt-in checks against the real `claude` CLI (`npm run test:real-cli`): never part of `npm test`. They run
 * only when `CLAUDE_POOL_REAL_CLI` names the binary and `CLAUDE_POOL_REAL_API` the base URL of a loopback mock of
 * the Messages API (see docs/permissions-and-warm-slots.md); otherwise they are skipped.
 */
export default defineConfig({
  test: {
    include: ['test/real-cli/**/*.real-cli.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
