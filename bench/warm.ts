/**
 * Benchmark: warm slots against cold ones.
 *
 * N short tasks (default 200) on 4 slots of the simulated agent, once with a fresh process per task (cold, the
 * default) and once with warm slots (each slot keeps its process and gets the next prompt as a new user message).
 * The simulated agent is given a start-up delay like the real CLI's (`CLAUDE_POOL_SIM_STARTUP_MS`, default
 * {@link DEFAULT_STARTUP_MS} ms; set `BENCH_STARTUP_MS` to change it), so what warm slots save is what they save
 * with the real CLI: one process start-up per task. Each mode runs `BENCH_REPEATS` times (default 3), alternating;
 * the medians and their ratio are printed.
 *
 * Run with `npm run bench` (or `node dist/bench/warm.js` after `npm run build`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { simulatedClaude } from '../src/agent/simulated/path.js';
import { STARTUP_DELAY_ENV } from '../src/agent/simulated/run.js';
import { Pool } from '../src/pool/index.js';
import { median } from './stats.js';

/**
 * The real CLI's start-up before its first API call, in ms: measured on `claude` 2.1.331 (linux-x64) against
 * a loopback mock of the Messages API (see docs/permissions-and-warm-slots.md for how).
 */
export const DEFAULT_STARTUP_MS = 700;

const TASKS = Number(process.env.BENCH_TASKS ?? 200);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 4);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const STARTUP_MS = Number(process.env.BENCH_STARTUP_MS ?? DEFAULT_STARTUP_MS);

/** Runs the tasks on a fresh pool; returns the wall time in ms and how many distinct processes ran them. */
async function runOnce(warm: boolean): Promise<{ ms: number; processes: number }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-warm-'));
  const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-bench-cwd-'));
  try {
    const pool = await Pool.builder({
      binary: simulatedClaude,
      workingDir: cwd,
      env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir, [STARTUP_DELAY_ENV]: String(STARTUP_MS) },
    })
      .slots(SLOTS)
      .warmSlots(warm)
      .build();
    const prompts = Array.from({ length: TASKS }, (_, i) => `short task ${i} [[sim:text ok]] [[sim:pid]]`);
    const started = performance.now();
    const results = await pool.fanOut(prompts);
    const ms = performance.now() - started;
    await pool.drain();
    const failed = results.filter((r) => !r.success);
    if (failed.length > 0) throw new Error(`${failed.length} task(s) failed: ${failed[0].output}`);
    const pids = new Set(results.map((r) => /sim-pid: (\d+)/.exec(r.output)?.[1]));
    return { ms, processes: pids.size };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(cwd, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `warm slots: ${TASKS} short tasks on ${SLOTS} slots, simulated agent with ${STARTUP_MS} ms start-up, ${REPEATS} repeats`,
  );
  const cold: number[] = [];
  const warm: number[] = [];
  let coldProcesses = 0;
  let warmProcesses = 0;
  for (let i = 0; i < REPEATS; i++) {
    const c = await runOnce(false);
    cold.push(c.ms);
    coldProcesses = c.processes;
    const w = await runOnce(true);
    warm.push(w.ms);
    warmProcesses = w.processes;
    console.log(
      `  run ${i + 1}: cold ${c.ms.toFixed(0)} ms (${c.processes} processes), warm ${w.ms.toFixed(0)} ms (${w.processes} processes)`,
    );
  }
  const coldMedian = median(cold);
  const warmMedian = median(warm);
  console.log(
    `  cold: median ${coldMedian.toFixed(0)} ms (${(coldMedian / TASKS).toFixed(1)} ms/task, ${coldProcesses} processes)`,
  );
  console.log(
    `  warm: median ${warmMedian.toFixed(0)} ms (${(warmMedian / TASKS).toFixed(1)} ms/task, ${warmProcesses} processes)`,
  );
  console.log(`  cold / warm: ${(coldMedian / warmMedian).toFixed(2)}x`);
}

await main();
