/**
 * Benchmark: one pool over several node processes through Redis and BullMQ, on the simulated agent.
 *
 * 1. Dispatch latency: on an idle 3-node cluster, one task at a time from a node that takes no work; the time
 *    from submission to the run's start on a node (the job through Redis, the ledger's reservation, the local
 *    dispatch), p50 and p99.
 * 2. Throughput: the same batch of tasks (each agent run waits `DELAY_MS`) on 1 node, then on 3 nodes, of
 *    `SLOTS` slots each; tasks per second and the ratio.
 * 3. Streamed text: the output script's capacity (`STREAM_CHUNKS` chunks appended and published without
 *    waiting, as a running node sends them), and one task streaming `STREAM_CHUNKS` chunks on a node process,
 *    read by a node that takes no work (`output$`): chunks per second received, and the whole text checked.
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
import { Redis } from 'ioredis';
import { ClusterNode } from '../src/cluster/index.js';
import { clusterKeys } from '../src/cluster/keys.js';
import { appendOutputChunk } from '../src/cluster/output.js';
import { simulatedClaude } from '../src/agent/simulated/path.js';
import { Pool } from '../src/pool/index.js';
import { instantRunner } from './runners.js';
import { median, percentile } from './stats.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const SLOTS = Number(process.env.BENCH_CLUSTER_SLOTS ?? 4);
const TASKS = Number(process.env.BENCH_CLUSTER_TASKS ?? 96);
const DELAY_MS = Number(process.env.BENCH_CLUSTER_DELAY_MS ?? 400);
const LATENCY_SAMPLES = Number(process.env.BENCH_CLUSTER_LATENCY_SAMPLES ?? 60);
const STREAM_CHUNKS = Number(process.env.BENCH_CLUSTER_STREAM_CHUNKS ?? 2000);
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

/** Chunks per second the output script takes when chunks are sent without waiting (one connection). */
async function forwardingCapacity(url: string): Promise<number> {
  const redis = new Redis(url);
  const keys = clusterKeys('capacity');
  const chunk = 'forty bytes of streamed text, a chunk...';
  try {
    await appendOutputChunk(redis, keys, 'task-warmup', 0, chunk);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: STREAM_CHUNKS * 5 }, () => appendOutputChunk(redis, keys, 'task-capacity', 0, chunk)),
    );
    return (STREAM_CHUNKS * 5) / ((performance.now() - started) / 1000);
  } finally {
    redis.disconnect();
  }
}

function streamedText(): string {
  return Array.from({ length: STREAM_CHUNKS }, (_, i) => `chunk ${String(i).padStart(5, '0')}|`).join('');
}

/** The same task on a local pool (no cluster): the rate its chunks reach `pool.output$`, for comparison. */
async function localStreaming(): Promise<number> {
  const stateDir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-local-'));
  const pool = await Pool.builder({
    binary: simulatedClaude,
    workingDir: stateDir,
    env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir },
  })
    .slots(1)
    .build();
  try {
    let first = 0;
    let last = 0;
    let count = 0;
    const sub = pool.output$.subscribe(() => {
      last = performance.now();
      if (count++ === 0) first = last;
    });
    await pool.run(`[[sim:text ${JSON.stringify(streamedText())}]] [[sim:chunks ${STREAM_CHUNKS}]]`);
    sub.unsubscribe();
    return count / (Math.max(last - first, 1) / 1000);
  } finally {
    await pool.drain();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** One task streaming `STREAM_CHUNKS` chunks on a node process, read on a node that takes no work. */
async function streaming(url: string): Promise<{ chunksPerSec: number; received: number; complete: boolean }> {
  const nodes = await startNodes(url, 'stream', 1);
  const { node, pool } = await client(url, 'stream');
  try {
    const text = streamedText();
    const id = await node.submit(`[[sim:text ${JSON.stringify(text)}]] [[sim:chunks ${STREAM_CHUNKS}]]`);
    let first = 0;
    let last = 0;
    const chunks: string[] = [];
    await new Promise<void>((resolve, reject) =>
      node.output$(id).subscribe({
        next: (chunk) => {
          last = performance.now();
          if (chunks.length === 0) first = last;
          chunks.push(chunk);
        },
        complete: resolve,
        error: reject,
      }),
    );
    const final = await node.waitForFinal(id);
    const seconds = Math.max(last - first, 1) / 1000;
    return {
      chunksPerSec: chunks.length / seconds,
      received: chunks.length,
      complete: chunks.join('') === text && final.result?.output === text,
    };
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
    const capacity = await forwardingCapacity(redis.url);
    const stream = await streaming(redis.url);
    const local = await localStreaming();
    process.stdout.write(
      `  streamed text: the output script takes ${capacity.toFixed(0)} chunks/s on one connection; ` +
        `a task of ${STREAM_CHUNKS} chunks on another node reached its reader as ${stream.received} chunks ` +
        `at ${stream.chunksPerSec.toFixed(0)} chunks/s, ${stream.complete ? 'whole and in order' : 'INCOMPLETE'} ` +
        `(on a local pool, no cluster: ${local.toFixed(0)} chunks/s)\n`,
    );
  } finally {
    await redis.stop();
  }
}

await main();
