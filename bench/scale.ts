/**
 * Benchmark: how the engine's cost per task grows with the number of tasks, against a plain p-limit baseline
 * measured in the same run.
 *
 * 1. Fan-out: N tasks through `pool.fanOut` on 8 slots with an in-process runner that answers at once,
 *    against `p-limit(8)` around the same runner and against the structural floor of an engine in which every
 *    task is an XState actor (`floor.ts`). Reports tasks/s, µs per task, and the ratio of the per-task time at
 *    the largest N to the smallest.
 * 2. Rounds: 20 rounds of 1,000 tasks in one pool, with the heap after a forced GC at each round (run with
 *    `node --expose-gc`), to show that finished tasks leave memory.
 * 3. Utilisation: 400 tasks of 20 ms on 8 slots; the share of slot-time spent running tasks.
 * 4. Dispatch latency: with idle slots, from `submit` to the runner being called (p50/p99).
 * 5. Processes: 1,000 runs of a minimal agent (a `/bin/sh` script printing the three stream-json lines of a
 *    run) on 4 slots through the real CLI runner, against `execa` + `p-limit(4)` spawning the same script with
 *    the same arguments.
 *
 * Sizes come from `BENCH_SCALE_SIZES` (comma-separated, default `10000,100000`); repeats from `BENCH_REPEATS`.
 */
import { execa } from 'execa';
import pLimit from 'p-limit';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildClaudeArgv } from '../src/agent/argv.js';
import type { AgentRunRequest } from '../src/agent/types.js';
import { runFloor } from './floor.js';
import { instantRunner, sleepingRunner, time } from './runners.js';
import { Pool } from '../src/pool/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { median, percentile } from './stats.js';

const SLOTS = 8;
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '10000,100000').split(',').map(Number);

const plainRequest = (prompt: string): AgentRunRequest => ({
  prompt,
  config: { permissionMode: 'plan', allowedTools: [], disallowedTools: [], mcpServers: {}, strictMcpConfig: true },
  workingDir: '.',
});

async function fanOut(count: number): Promise<{ baseline: number; floor: number; pool: number }> {
  const prompts = Array.from({ length: count }, (_, i) => `task ${i}`);
  const signal = new AbortController().signal;
  const limit = pLimit(SLOTS);
  const baseline = await time(() =>
    Promise.all(prompts.map((prompt) => limit(() => instantRunner.run(plainRequest(prompt), signal, () => {})))),
  );
  const floor = await time(() => runFloor(count, SLOTS));
  const pool = await Pool.builder()
    .runner(instantRunner)
    .slots(SLOTS)
    .config({ scaling: { maxSlots: SLOTS } })
    .build();
  const pooled = await time(async () => {
    const results = await pool.fanOut(prompts);
    if (results.some((result) => !result.success)) throw new Error('a task failed');
  });
  await pool.drain();
  return { baseline, floor, pool: pooled };
}

function heapMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

async function rounds(store: 'memory' | 'sqlite'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-'));
  const builder = Pool.builder().runner(instantRunner).slots(SLOTS);
  // With SQLite the records live in the database file, so the heap shows the engine's own memory alone; the
  // in-memory store keeps every record in the heap by design.
  const sqlite = store === 'sqlite' ? SqliteStore.open(join(dir, 'pool.db')) : undefined;
  if (sqlite) builder.store(sqlite);
  const pool = await builder.build();
  const heaps: number[] = [];
  const times: number[] = [];
  for (let round = 0; round < 20; round++) {
    const prompts = Array.from({ length: 1000 }, (_, i) => `round ${round} task ${i}`);
    times.push(await time(() => pool.fanOut(prompts)));
    await pool.flush();
    heaps.push(heapMb());
  }
  await pool.drain();
  sqlite?.close();
  rmSync(dir, { recursive: true, force: true });
  const first = heaps.slice(2, 5);
  const last = heaps.slice(-3);
  const growth = (median(last) - median(first)) / (15 * 1000);
  process.stdout.write(
    `rounds (${store} store): 20 × 1,000 tasks, heap ${heaps[0].toFixed(1)} → ${heaps[heaps.length - 1].toFixed(1)} MB ` +
      `(${(growth * 1e6).toFixed(0)} bytes per finished task from round 3 on), ` +
      `round time first ${times[0].toFixed(0)} ms, median ${median(times).toFixed(0)} ms, last ${times[times.length - 1].toFixed(0)} ms` +
      `${(globalThis as { gc?: unknown }).gc ? '' : ' (no --expose-gc: heap figures are noisy)'}\n`,
  );
}

async function utilisation(): Promise<void> {
  const tasks = 400;
  const ms = 20;
  const limit = pLimit(SLOTS);
  const runner = sleepingRunner(ms);
  const signal = new AbortController().signal;
  const prompts = Array.from({ length: tasks }, (_, i) => `sleep ${i}`);
  const ideal = (tasks / SLOTS) * ms;
  const baseline = await time(() =>
    Promise.all(prompts.map((prompt) => limit(() => runner.run(plainRequest(prompt), signal, () => {})))),
  );
  const pool = await Pool.builder().runner(runner).slots(SLOTS).build();
  const pooled = await time(() => pool.fanOut(prompts));
  await pool.drain();
  process.stdout.write(
    `utilisation: ${tasks} × ${ms} ms on ${SLOTS} slots: pool ${((ideal / pooled) * 100).toFixed(1)} %, ` +
      `p-limit ${((ideal / baseline) * 100).toFixed(1)} % (ideal ${ideal} ms, pool ${pooled.toFixed(0)} ms, ` +
      `p-limit ${baseline.toFixed(0)} ms)\n`,
  );
}

async function dispatchLatency(): Promise<void> {
  let submittedAt = 0;
  const latencies: number[] = [];
  const runner = sleepingRunner(0, () => latencies.push(performance.now() - submittedAt));
  const pool = await Pool.builder().runner(runner).slots(SLOTS).build();
  for (let i = 0; i < 2000; i++) {
    submittedAt = performance.now();
    await pool.run(`latency ${i}`);
  }
  await pool.drain();
  const measured = latencies.slice(100);
  process.stdout.write(
    `dispatch latency (idle slots, submit → runner called): p50 ${(percentile(measured, 50) * 1000).toFixed(0)} µs, ` +
      `p99 ${(percentile(measured, 99) * 1000).toFixed(0)} µs (n=${measured.length})\n`,
  );
}

/** A minimal agent: the init, assistant and result lines of a one-turn run, nothing else. */
const MINIMAL_AGENT = `#!/bin/sh
echo '{"type":"system","subtype":"init","session_id":"s-1","model":"m","tools":[],"cwd":"/"}'
echo '{"type":"assistant","message":{"model":"m","content":[{"type":"text","text":"ok"}]},"session_id":"s-1"}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.0001,"num_turns":1,"duration_ms":1,"session_id":"s-1"}'
`;

async function processes(): Promise<void> {
  const runs = Number(process.env.BENCH_PROCESS_RUNS ?? 1000);
  const slots = 4;
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-'));
  const agent = join(dir, 'agent.sh');
  writeFileSync(agent, MINIMAL_AGENT);
  chmodSync(agent, 0o755);
  try {
    const prompts = Array.from({ length: runs }, (_, i) => `run ${i}`);
    const config = {
      permissionMode: 'plan' as const,
      allowedTools: [],
      disallowedTools: [],
      mcpServers: {},
      strictMcpConfig: true,
    };
    const samples: { baseline: number; pool: number }[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      const limit = pLimit(slots);
      const baseline = await time(() =>
        Promise.all(
          prompts.map((prompt) => limit(() => execa(agent, buildClaudeArgv(config, { prompt }), { stdin: 'ignore' }))),
        ),
      );
      // A process per run (the baseline spawns one per run too).
      const pool = await Pool.builder({ binary: agent }).slots(slots).warmSlots(false).build();
      const pooled = await time(async () => {
        const results = await pool.fanOut(prompts);
        if (results.some((result) => !result.success)) throw new Error('a run failed');
      });
      await pool.drain();
      samples.push({ baseline, pool: pooled });
    }
    const base = median(samples.map((s) => s.baseline));
    const pooled = median(samples.map((s) => s.pool));
    const ratio = median(samples.map((s) => s.pool / s.baseline));
    process.stdout.write(
      `processes: ${runs} runs of a minimal stream-json agent on ${slots} slots: pool ${pooled.toFixed(0)} ms, ` +
        `execa + p-limit(${slots}) ${base.toFixed(0)} ms, ratio ${ratio.toFixed(3)} (median of ${samples.length})\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.stdout.write(`node ${process.version}, ${SLOTS} slots, ${REPEATS} repeats\n`);
  await fanOut(2000); // warm-up
  const perTask: number[] = [];
  for (const size of SIZES) {
    const samples: { baseline: number; floor: number; pool: number }[] = [];
    for (let i = 0; i < REPEATS; i++) samples.push(await fanOut(size));
    const pooled = median(samples.map((s) => s.pool));
    const base = median(samples.map((s) => s.baseline));
    const floor = median(samples.map((s) => s.floor));
    perTask.push(pooled / size);
    process.stdout.write(
      `fan-out n=${String(size).padEnd(7)} pool ${pooled.toFixed(0).padStart(7)} ms ` +
        `${Math.round(size / (pooled / 1000))
          .toString()
          .padStart(7)} tasks/s ` +
        `${((pooled / size) * 1000).toFixed(1).padStart(6)} µs/task | p-limit ${base.toFixed(0).padStart(5)} ms ` +
        `${Math.round(size / (base / 1000))
          .toString()
          .padStart(8)} tasks/s | ratio ${(pooled / base).toFixed(1)} | XState floor ` +
        `${((floor / size) * 1000).toFixed(1)} µs/task ${Math.round(size / (floor / 1000))} tasks/s, ` +
        `pool / floor ${median(samples.map((s) => s.pool / s.floor)).toFixed(2)}\n`,
    );
  }
  if (perTask.length > 1) {
    process.stdout.write(
      `per-task time at n=${SIZES[SIZES.length - 1]} / at n=${SIZES[0]}: ` +
        `${(perTask[perTask.length - 1] / perTask[0]).toFixed(2)}\n`,
    );
  }
  await rounds('sqlite');
  await rounds('memory');
  await utilisation();
  await dispatchLatency();
  await processes();
}

await main();
