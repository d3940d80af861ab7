/**
 * Benchmark: what the HTTP front door costs on top of the pool.
 *
 * The pool runs an in-process runner that answers at once, so the figures are the HTTP layer's own:
 * 1. REST reads: `GET /v1/pool/status` from 8 concurrent clients (requests/s, p50/p99 latency).
 * 2. REST task round trip: `POST /v1/tasks`, then the task's SSE stream until `complete`, one task at a time,
 *    against `pool.run` of the same prompt in process (median latency and the difference).
 * 3. MCP over Streamable HTTP: `pool_status` tool calls from one SDK client (calls/s).
 * 4. Event fan-out: 20 readers of `/v1/pool/events` while 500 tasks run (time until every reader has seen every
 *    `task.finished`).
 *
 * Run with `npm run bench` (after the build: `node dist/bench/http.js`).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { performance } from 'node:perf_hooks';
import { startHttpServer } from '../src/http/index.js';
import { Pool } from '../src/pool/index.js';
import { instantRunner } from './runners.js';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Reads an SSE response until an event named `until` (or, with `count`, until it was seen `count` times). */
async function readEvents(response: Response, until: string, count = 1): Promise<void> {
  const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let seen = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (block.split('\n').includes(`event: ${until}`)) {
        seen += 1;
        if (seen >= count) {
          await reader.cancel();
          return;
        }
      }
    }
  }
}

async function main(): Promise<void> {
  const pool = await Pool.builder().slots(4).runner(instantRunner).build();
  const server = await startHttpServer(pool, { port: 0 });
  const base = server.url;

  // 1. REST reads.
  const reads = 4000;
  const latencies: number[] = [];
  let next = 0;
  const readStarted = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < reads) {
        next += 1;
        const started = performance.now();
        const response = await fetch(`${base}/v1/pool/status`);
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
      }
    }),
  );
  const readSeconds = (performance.now() - readStarted) / 1000;
  console.log(
    `REST GET /v1/pool/status: ${reads} requests, 8 clients: ${(reads / readSeconds).toFixed(0)} req/s, ` +
      `p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
  );

  // 2. Task round trip over REST + SSE vs in process.
  const rounds = 200;
  const http: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    let started = performance.now();
    await pool.run(`direct ${i}`);
    direct.push(performance.now() - started);
    started = performance.now();
    const submitted = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `http ${i}` }),
    });
    const { task_id: id } = (await submitted.json()) as { task_id: string };
    await readEvents(await fetch(`${base}/v1/tasks/${id}/stream`), 'complete');
    http.push(performance.now() - started);
  }
  const httpMedian = percentile(http, 50);
  const directMedian = percentile(direct, 50);
  console.log(
    `task round trip (${rounds}, sequential): POST /v1/tasks + SSE complete median ${httpMedian.toFixed(2)} ms, ` +
      `pool.run median ${directMedian.toFixed(2)} ms, HTTP adds ${(httpMedian - directMedian).toFixed(2)} ms`,
  );

  // 3. MCP over Streamable HTTP.
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
  const calls = 1000;
  const mcpStarted = performance.now();
  for (let i = 0; i < calls; i += 1) await client.callTool({ name: 'pool_status', arguments: {} });
  const mcpSeconds = (performance.now() - mcpStarted) / 1000;
  console.log(`MCP over HTTP: ${calls} pool_status calls, one client: ${(calls / mcpSeconds).toFixed(0)} calls/s`);
  await client.close();

  // 4. Pool events to 20 readers.
  const readers = 20;
  const tasks = 500;
  const streams = await Promise.all(Array.from({ length: readers }, () => fetch(`${base}/v1/pool/events`)));
  const fanStarted = performance.now();
  const allSeen = Promise.all(streams.map((response) => readEvents(response, 'task.finished', tasks)));
  await pool.fanOut(Array.from({ length: tasks }, (_, i) => `fan ${i}`));
  await allSeen;
  const fanMs = performance.now() - fanStarted;
  console.log(
    `SSE /v1/pool/events: ${readers} readers, ${tasks} tasks: every reader saw every task.finished after ${fanMs.toFixed(0)} ms`,
  );

  await server.close();
  await pool.drain();
}

await main();
