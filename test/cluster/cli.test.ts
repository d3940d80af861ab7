/**
 * `claude-pool serve --redis URL --queue NAME` joins a node to a cluster (flags, or the environment), and
 * `claude-pool status --redis URL --queue NAME` shows every node, its slots and the shared budget.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/index.js';
import { cleanEnv, cleanupDirs, runCli, startCli, waitFor, type CliProcess } from '../cli/support.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import { redisAvailable, startRedis, type RedisServer } from '../support/redis.js';

describe.skipIf(!redisAvailable())('the CLI on a cluster', () => {
  let server: RedisServer;
  const serving: CliProcess[] = [];
  const clients: ClusterNode[] = [];

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    for (const cli of serving.splice(0)) {
      cli.child.kill('SIGTERM');
      await cli.done;
    }
    await Promise.all(clients.splice(0).map((client) => client.leave()));
    await cleanupPools();
    cleanupDirs();
  });
  afterAll(async () => {
    await server.stop();
  });

  function serve(args: string[], env: Record<string, string> = {}): Promise<CliProcess> {
    const cli = startCli(['serve', '--simulated', ...args], { keepStdinOpen: true, env: { ...cleanEnv(), ...env } });
    serving.push(cli);
    return waitFor(() => /MCP server ready/.test(cli.stderr()) || cli.child.exitCode !== null, 20_000).then(() => {
      expect(cli.stderr()).toMatch(/joined cluster cli as node/);
      return cli;
    });
  }

  it(
    'joins served nodes to the cluster, runs tasks on them and shows them all in status',
    { timeout: 60_000 },
    async () => {
      await serve(['-n', '2', '--redis', server.url, '--queue', 'cli', '--budget-usd', '5']);
      await serve(['-n', '1'], { CLAUDE_POOL_REDIS: server.url, CLAUDE_POOL_QUEUE: 'cli' });
      const client = await ClusterNode.join(await simPool(), { redis: server.url, queue: 'cli', work: false });
      clients.push(client);
      const ids = await Promise.all([0, 1, 2, 3].map((i) => client.submit(`from the cli ${i} [[sim:cost 0.01]]`)));
      const finals = await Promise.all(ids.map((id) => client.waitForFinal(id)));
      expect(finals.map((record) => record.state)).toEqual(['completed', 'completed', 'completed', 'completed']);

      const status = await runCli(['status', '--simulated', '--redis', server.url, '--queue', 'cli', '--json']);
      expect(status.code).toBe(0);
      const cluster = (
        JSON.parse(status.stdout) as {
          cluster: {
            nodes: { slots: unknown[] }[];
            budget: { spent_microdollars: number; limit_microdollars: number };
          };
        }
      ).cluster;
      expect(cluster.nodes.map((node) => node.slots.length).sort()).toEqual([0, 1, 2]);
      expect(cluster.budget.limit_microdollars).toBe(5_000_000);
      expect(cluster.budget.spent_microdollars).toBe(40_000);

      const text = await runCli(['status', '--simulated', '--redis', server.url, '--queue', 'cli']);
      expect(text.stdout).toMatch(/cluster cli: 3 node\(s\)/);
      expect(text.stdout).toMatch(/budget: spent \$0\.0400, reserved \$0\.0000 of \$5\.0000/);
    },
  );

  it('refuses --redis without --queue and a bad URL, with exit code 2', async () => {
    const noQueue = await runCli(['status', '--simulated', '--redis', server.url]);
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toMatch(/--redis needs --queue/);
    const badUrl = await runCli(['status', '--simulated', '--redis', 'localhost:6379', '--queue', 'q']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/must be a redis:\/\/ or rediss:\/\/ URL/);
  });
});
