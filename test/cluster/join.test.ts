/**
 * Joining a cluster with bad settings fails at once with a typed error, and leaves nothing running.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/index.js';
import { InvalidInput } from '../../src/errors.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

describe('joining a cluster', () => {
  afterEach(cleanupPools);

  it('refuses a bad URL, queue name or node id with InvalidInput', async () => {
    const pool = await simPool();
    await expect(ClusterNode.join(pool, { redis: 'localhost:6379', queue: 'q' })).rejects.toThrow(
      /redis must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    await expect(ClusterNode.join(pool, { redis: 'redis://127.0.0.1:1', queue: 'a queue' })).rejects.toBeInstanceOf(
      InvalidInput,
    );
    await expect(ClusterNode.join(pool, { redis: 'redis://127.0.0.1:1', queue: 'q', nodeId: 'a/b' })).rejects.toThrow(
      /nodeId must be a non-empty name without '\/'/,
    );
  });

  it('fails with InvalidInput when Redis cannot be reached', async () => {
    const pool = await simPool();
    const port = await closedPort();
    const joining = ClusterNode.join(pool, { redis: `redis://127.0.0.1:${port}`, queue: 'q' });
    await expect(joining).rejects.toBeInstanceOf(InvalidInput);
    await expect(joining).rejects.toThrow(`cannot reach Redis at redis://127.0.0.1:${port}`);
  });
});
