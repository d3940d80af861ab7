/**
 * Benchmark: what the pool adds on top of running the agent.
 *
 * 1. Process runs: N prompts on 4 slots of the simulated agent through `pool.fanOut`, against a baseline that
 *    spawns the same simulated agent directly with a plain 4-way promise pool (same argv, same parser-free
 *    wait for exit). The ratio is the pool's whole overhead: actors, dispatch, parsing, store writes.
 * 2. Machinery only: N prompts through the pool with an in-process runner that answers at once, against a
 *    baseline that calls the same runner from a plain 4-way promise pool. This isolates the statecharts,
 *    the projection and the observation streams.
 *
 * Each measurement is repeated; medians are reported with the ratio against the baseline of the same run.
 * Run with `npm run bench`.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { simulatedClaude } from '../src/agent/simulated/path.js';
import { Pool } from '../src/pool/index.js';
import { instantRunner } from './runners.js';

const SLOTS = 4;
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function limited<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function processRuns(count: number, stateDir: string): Promise<{ baseline: number; pool: number }> {
  const prompts = Array.from({ length: count }, (_, i) => `bench ${i} [[sim:text ok]]`);
  const env = { ...process.env, CLAUDE_POOL_SIM_STATE_DIR: stateDir };
  const baseline = await time(() =>
    limited(prompts, SLOTS, (prompt) =>
      execa(
        simulatedClaude,
        ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode=plan', '--', prompt],
        {
          env,
          stdin: 'ignore',
        },
      ),
    ),
  );
  // A process per run, like the baseline (warm slots are measured by bench/warm.ts).
  const pool = await Pool.builder({ binary: simulatedClaude, env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir } })
    .slots(SLOTS)
    .warmSlots(false)
    .build();
  const pooled = await time(() => pool.fanOut(prompts));
  await pool.drain();
  return { baseline, pool: pooled };
}

async function machineryRuns(count: number): Promise<{ baseline: number; pool: number }> {
  const prompts = Array.from({ length: count }, (_, i) => `task ${i}`);
  const controller = new AbortController();
  const baseline = await time(() =>
    limited(prompts, SLOTS, (prompt) =>
      instantRunner.run(
        {
          prompt,
          config: {
            permissionMode: 'plan',
            allowedTools: [],
            disallowedTools: [],
            mcpServers: {},
            strictMcpConfig: true,
          },
          workingDir: '.',
        },
        controller.signal,
        () => {},
      ),
    ),
  );
  const pool = await Pool.builder().runner(instantRunner).slots(SLOTS).build();
  const pooled = await time(() => pool.fanOut(prompts));
  await pool.drain();
  return { baseline, pool: pooled };
}

function report(name: string, count: number, samples: { baseline: number; pool: number }[]): void {
  const base = median(samples.map((s) => s.baseline));
  const pooled = median(samples.map((s) => s.pool));
  const ratio = median(samples.map((s) => s.pool / s.baseline));
  process.stdout.write(
    `${name.padEnd(34)} n=${String(count).padEnd(5)} baseline ${base.toFixed(1).padStart(8)} ms  ` +
      `pool ${pooled.toFixed(1).padStart(8)} ms  per task ${(pooled / count).toFixed(2).padStart(6)} ms  ` +
      `ratio ${ratio.toFixed(2)} (median of ${samples.length})\n`,
  );
}

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-'));
  try {
    process.stdout.write(`node ${process.version}, ${SLOTS} slots, ${REPEATS} repeats\n`);
    const processCount = Number(process.env.BENCH_PROCESS_TASKS ?? 40);
    const machineryCount = Number(process.env.BENCH_MACHINERY_TASKS ?? 500);
    await processRuns(8, stateDir); // warm-up
    await machineryRuns(200);
    const processSamples = [];
    for (let i = 0; i < REPEATS; i++) processSamples.push(await processRuns(processCount, stateDir));
    report('simulated agent processes', processCount, processSamples);
    const machinerySamples = [];
    for (let i = 0; i < REPEATS; i++) machinerySamples.push(await machineryRuns(machineryCount));
    report('in-process runner (machinery)', machineryCount, machinerySamples);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
