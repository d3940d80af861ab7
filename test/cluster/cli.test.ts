/**
 * `claude-pool serve --redis URL --queue NAME` joins a node to a cluster (flags, or the environment), and
 * `claude-pool status --redis URL --queue NAME` shows every node, its slots and the shared budget.
 */
import { describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/index.js';
import { runCli } from '../cli/support.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { simPool } from '../support/sim-pool.js';
import { redisAvailable } from '../support/redis.js';
import { bodyOf, startServer, type ServerHandle } from '../mcp/support.js';

describe.skipIf(!redisAvailable())('the CLI on a cluster', () => {
  const suite = clusterSuite();
  const clients = suite.members;
  const serve = (args: string[], env: Record<string, string> = {}) => suite.serve(args, env);

  it(
    'joins served nodes to the cluster, runs tasks on them and shows them all in status',
    { timeout: 60_000 },
    async () => {
      // The nodes start side by side (the order they join in does not matter: only one of them sets a budget).
      const joining = simPool().then(async (pool) => {
        const node = await ClusterNode.join(pool, { redis: suite.server.url, queue: 'cli', work: false });
        clients.push(node);
        return node;
      });
      const started = await Promise.allSettled([
        serve(['-n', '2', '--redis', suite.server.url, '--queue', 'cli', '--budget-usd', '5']),
        serve(['-n', '1'], { CLAUDE_POOL_REDIS: suite.server.url, CLAUDE_POOL_QUEUE: 'cli' }),
        joining,
      ]);
      for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
      const client = await joining;
      const ids = await Promise.all([0, 1, 2, 3].map((i) => client.submit(`from the cli ${i} [[sim:cost 0.01]]`)));
      const finals = await Promise.all(ids.map((id) => client.waitForFinal(id)));
      expect(finals.map((record) => record.state)).toEqual(['completed', 'completed', 'completed', 'completed']);

      const status = await runCli(['status', '--simulated', '--redis', suite.server.url, '--queue', 'cli', '--json']);
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

      const text = await runCli(['status', '--simulated', '--redis', suite.server.url, '--queue', 'cli']);
      expect(text.stdout).toMatch(/cluster cli: 3 node\(s\)/);
      expect(text.stdout).toMatch(/budget: spent \$0\.0400, reserved \$0\.0000 of \$5\.0000/);
    },
  );

  it(
    "a served node's MCP tools hand tasks to the whole cluster and read every node's tasks",
    { timeout: 60_000 },
    async () => {
      // Node B works the cluster's jobs; node A is the one the coordinator talks to, over MCP.
      const starting = startServer(['--simulated', '-n', '1', '--redis', suite.server.url, '--queue', 'mcp']);
      const served = serve(['-n', '1', '--redis', suite.server.url, '--queue', 'mcp', '--budget-usd', '5']);
      // Awaited below, once the MCP server is up (the process is stopped after the test either way).
      served.catch(() => undefined);
      const mcp: ServerHandle = await starting;
      try {
        await served;
        const prompts = [0, 1, 2, 3].map(
          (i) => `over mcp ${i} [[sim:text answer-${i}]] [[sim:delay 300]] [[sim:cost 0.01]]`,
        );
        const fanned = bodyOf(
          (await mcp.client.callTool({ name: 'pool_fan_out', arguments: { prompts } })) as never,
        ) as { results: { success: boolean; output: string }[] };
        expect(fanned.results.map((r) => [r.success, r.output])).toEqual(
          [0, 1, 2, 3].map((i) => [true, `answer-${i}`]),
        );
        // The tasks are the cluster's: an observer sees them, run on both nodes, and booked in the shared budget.
        const observer = await ClusterNode.join(await simPool(), {
          redis: suite.server.url,
          queue: 'mcp',
          work: false,
        });
        clients.push(observer);
        const tasks = (await observer.listTasks()).filter((t) => t.prompt.startsWith('over mcp'));
        expect(tasks).toHaveLength(4);
        const nodes = new Set(tasks.map((t) => (t.slotId ?? '').split('/')[0]));
        expect(nodes.size).toBe(2);
        expect((await observer.status()).budget.spentMicrodollars).toBe(40_000);
        // Submit, read and cancel through the same tools.
        const submitted = bodyOf(
          (await mcp.client.callTool({
            name: 'pool_submit',
            arguments: { prompt: 'waits [[sim:hang]]' },
          })) as never,
        ) as { task_id: string };
        await observer.waitFor(submitted.task_id, (t) => t.state === 'running');
        await mcp.client.callTool({ name: 'pool_cancel', arguments: { task_id: submitted.task_id } });
        expect((await observer.waitForFinal(submitted.task_id)).state).toBe('cancelled');
        const listed = bodyOf((await mcp.client.callTool({ name: 'pool_list_tasks', arguments: {} })) as never) as {
          total: number;
        };
        expect(listed.total).toBeGreaterThanOrEqual(5);
      } finally {
        await mcp.close();
      }
    },
  );

  it('refuses --redis without --queue and a bad URL, with exit code 2', async () => {
    const noQueue = await runCli(['status', '--simulated', '--redis', suite.server.url]);
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toMatch(/--redis needs --queue/);
    const badUrl = await runCli(['status', '--simulated', '--redis', 'localhost:6379', '--queue', 'q']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/must be a redis:\/\/ or rediss:\/\/ URL/);
  });
});
