/**
 * Benchmark: one pool over several node processes through Redis and BullMQ, on the simulated agent.
 *
 * 1. Dispatch latency: on an idle 3-node cluster, one task at a time from a node that takes no work; the time
 *    from submission to the run's start on a node (the job through Redis, the ledger's reservation, the local
 *    dispatch), p50 and p99.
 * 2. Throughput: the same batch of tasks (each agent run waits `DELAY_MS`) on 1 node, then on 3 nodes, of
 *    `SLOTS` slots each; tasks per second and the ratio.
 *
 * Needs Debian's `redis-server` (or `REDIS_SERVER`); skipped with a message when it is not installed. Starts
 * its own server on a free loopback port, without persistence. Run with `npm run bench`.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterNode } from '../src/cluster/index.js';
import { Pool } from '../src/pool/index.js';
import { instantRunner } from './runners.js';
import { median, percentile } from './stats.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const SLOTS = Number(process.env.BENCH_CLUSTER_SLOTS ?? 4);
const TASKS = Number(process.env.BENCH_CLUSTER_TASKS ?? 96);
const DELAY_MS = Number(process.env.BENCH_CLUSTER_DELAY_MS ?? 400);
const LATENCY_SAMPLES = Number(process.env.BENCH_CLUSTER_LATENCY_SAMPLES ?? 60);
const nodeScript = fileURLToPath(new URL('./cluster-node.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function startRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-redis-'));
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startNodes(url: string, queue: string, count: number): Promise<ChildProcess[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const child = fork(nodeScript, [url, queue, `${queue}-n${i}`, String(SLOTS)], { stdio: 'inherit' });
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
      });
      return child;
    }),
  );
}

async function stopNodes(nodes: ChildProcess[]): Promise<void> {
  await Promise.all(
    nodes.map(async (child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('leave');
      await exited;
    }),
  );
}

/** A node in this process that only submits and observes. */
async function client(url: string, queue: string): Promise<{ node: ClusterNode; pool: Pool }> {
  const pool = await Pool.builder().runner(instantRunner).build();
  const node = await ClusterNode.join(pool, { redis: url, queue, nodeId: `${queue}-client`, work: false });
  return { node, pool };
}

async function dispatchLatency(url: string): Promise<number[]> {
  const nodes = await startNodes(url, 'latency', 3);
  const { node, pool } = await client(url, 'latency');
  const latencies: number[] = [];
  try {
    for (let i = 0; i < LATENCY_SAMPLES + 5; i++) {
      const id = await node.submit(`latency ${i} [[sim:text ok]]`);
      const record = await node.waitForFinal(id);
      // The first runs warm up the nodes (script cache, connections): not counted.
      if (i >= 5) latencies.push((record.startedAtMs ?? record.createdAtMs) - record.createdAtMs);
    }
  } finally {
    await node.leave();
    await pool.drain();
    await stopNodes(nodes);
  }
  return latencies;
}

async function throughput(url: string, nodeCount: number): Promise<number> {
  const queue = `throughput-${nodeCount}`;
  const nodes = await startNodes(url, queue, nodeCount);
  const { node, pool } = await client(url, queue);
  try {
    const started = performance.now();
    const ids = await Promise.all(
      Array.from({ length: TASKS }, (_, i) => node.submit(`batch ${i} [[sim:delay ${DELAY_MS}]]`)),
    );
    const finals = await Promise.all(ids.map((id) => node.waitForFinal(id)));
    const seconds = (performance.now() - started) / 1000;
    const failed = finals.filter((record) => record.state !== 'completed').length;
    if (failed > 0) throw new Error(`${failed} task(s) did not complete`);
    return TASKS / seconds;
  } finally {
    await node.leave();
    await pool.drain();
    await stopNodes(nodes);
  }
}

async function main(): Promise<void> {
  if (!existsSync(REDIS_SERVER)) {
    process.stdout.write(
      `cluster benchmark skipped: ${REDIS_SERVER} not found (install redis-server, or set REDIS_SERVER)\n`,
    );
    return;
  }
  const redis = await startRedis();
  try {
    process.stdout.write(
      `cluster on BullMQ + Redis (node ${process.version}): ${SLOTS} slots per node, simulated agent\n`,
    );
    const latencies = await dispatchLatency(redis.url);
    process.stdout.write(
      `  dispatch latency through Redis, idle 3-node cluster, ${latencies.length} tasks: ` +
        `p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms ` +
        `(median ${median(latencies).toFixed(0)} ms)\n`,
    );
    const one = await throughput(redis.url, 1);
    const three = await throughput(redis.url, 3);
    process.stdout.write(
      `  throughput, ${TASKS} tasks of ${DELAY_MS} ms: 1 node ${one.toFixed(1)} tasks/s, ` +
        `3 nodes ${three.toFixed(1)} tasks/s, ratio ${(three / one).toFixed(2)}x\n`,
    );
  } finally {
    await redis.stop();
  }
}

await main();
