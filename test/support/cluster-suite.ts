/**
 * Test support: what every cluster test file sets up. A Redis server for the file (started before its tests,
 * stopped after), a client connection to it, and the nodes a test starts, which leave after each test: node
 * processes are stopped, in-process nodes leave, and their pools are drained. A file's own `afterEach` hooks
 * run before these (vitest runs after-hooks in reverse order), so its servers close before the nodes go. Served
 * nodes (`claude-pool serve`) are stopped with SIGTERM first.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { cleanEnv, cleanupDirs, startCli, waitFor, type CliProcess } from '../cli/support.js';
import type { ClusterNode } from '../../src/cluster/index.js';
import type { NodeProcess } from './cluster-nodes.js';
import { startRedis, type RedisServer } from './redis.js';
import { cleanupPools } from './sim-pool.js';

/** The Redis server of a cluster test file and the nodes its tests started. */
export interface ClusterSuite {
  /** The server (set before the file's first test). */
  readonly server: RedisServer;
  /** A connection to it, for looking into Redis directly. */
  readonly redis: Redis;
  /** Node processes to stop after the test. */
  readonly processes: NodeProcess[];
  /** In-process nodes to leave after the test. */
  readonly members: ClusterNode[];
  /**
   * Starts `claude-pool serve --simulated` with these arguments (and environment) and resolves once it has
   * joined its cluster; it is stopped with SIGTERM after the test.
   */
  serve(args: string[], env?: Record<string, string>): Promise<CliProcess>;
}

/** Registers the file's hooks and returns the suite they fill in. Call it inside the `describe`. */
export function clusterSuite(): ClusterSuite {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  const processes: NodeProcess[] = [];
  const members: ClusterNode[] = [];
  const served: CliProcess[] = [];
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterEach(async () => {
    for (const cli of served.splice(0)) {
      cli.child.kill('SIGTERM');
      await cli.done;
    }
    await Promise.all(processes.splice(0).map((node) => node.stop()));
    await Promise.all(members.splice(0).map((node) => node.leave()));
    await cleanupPools();
    cleanupDirs();
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('the Redis server starts before the first test');
      return server;
    },
    get redis() {
      if (!redis) throw new Error('the Redis server starts before the first test');
      return redis;
    },
    processes,
    members,
    async serve(args, env = {}) {
      const cli = startCli(['serve', '--simulated', ...args], { keepStdinOpen: true, env: { ...cleanEnv(), ...env } });
      served.push(cli);
      await waitFor(() => /MCP server ready/.test(cli.stderr()) || cli.child.exitCode !== null, 20_000);
      expect(cli.stderr()).toMatch(/joined cluster \S+ as node/);
      return cli;
    },
  };
}
