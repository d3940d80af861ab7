/**
 * Benchmark: the SQLite store (a file, WAL) against the memory store.
 *
 * One run, on a fresh store: N `putTask` calls of realistic records, awaited one by one as the pool's
 * write-behind does (each is its own SQLite transaction), then one `listTasks` with a state + tags filter.
 * Runs alternate between the stores; each phase reports the median of the runs and the ratio SQLite/Memory
 * of the medians.
 *
 * Run with `npm run build && node dist/bench/store.js` (env: BENCH_STORE_TASKS, default 5000; BENCH_REPEATS,
 * default 5).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TaskFilter, TaskRecord, TaskState } from '../machines/types.js';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { PoolStore } from '../src/store/types.js';

const TASKS = Number(process.env.BENCH_STORE_TASKS ?? 5000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const STATES: readonly TaskState[] = ['pending', 'running', 'completed', 'failed'];
const FILTER: TaskFilter = { state: 'completed', tags: ['batch-2', 'batch-6'] };

/** Timings of one run, in milliseconds, and how many records the filtered list returned. */
interface Sample {
  put: number;
  list: number;
  listed: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A completed-looking task record of ordinary size (prompt, config, result). */
function record(i: number): TaskRecord {
  const state = STATES[i % STATES.length];
  return {
    id: `task-${i.toString(36).padStart(6, '0')}`,
    prompt: `Refactor module ${i} so that its public functions are documented and tested.`,
    state,
    slotId: `slot-${i % 8}`,
    tags: [`batch-${i % 10}`, i % 2 ? 'odd' : 'even'],
    config: { model: 'sonnet', maxTurns: 8, allowedTools: ['Read', 'Edit'] },
    reviewRequired: false,
    maxRejections: 3,
    rejectionCount: 0,
    kind: 'task',
    createdAtMs: 1_700_000_000_000 + i,
    startedAtMs: 1_700_000_000_000 + i + 5,
    ...(state === 'completed' || state === 'failed'
      ? {
          completedAtMs: 1_700_000_000_000 + i + 4_000,
          result: {
            output: `Done with module ${i}: 3 functions documented, 5 tests added.`,
            success: state === 'completed',
            costMicrodollars: 12_000 + i,
            turnsUsed: 4,
            elapsedMs: 3_995,
            model: 'claude-sonnet-4-5',
            sessionId: `session-${i}`,
            subtype: state === 'completed' ? 'success' : 'error_max_turns',
          },
        }
      : {}),
  };
}

async function run(store: PoolStore, records: readonly TaskRecord[]): Promise<Sample> {
  const started = performance.now();
  for (const task of records) await store.putTask(task);
  const put = performance.now() - started;
  const listStarted = performance.now();
  const listed = (await store.listTasks(FILTER)).length;
  return { put, list: performance.now() - listStarted, listed };
}

async function memoryRun(records: readonly TaskRecord[]): Promise<Sample> {
  return run(new MemoryStore(), records);
}

async function sqliteRun(dir: string, n: number, records: readonly TaskRecord[]): Promise<Sample> {
  const store = SqliteStore.open(join(dir, `bench-${n}.db`));
  try {
    return await run(store, records);
  } finally {
    store.close();
  }
}

function line(name: string, put: number, list: number, listed: number): string {
  return (
    `${name.padEnd(22)} put ${put.toFixed(1).padStart(8)} ms (${((put * 1000) / TASKS).toFixed(1).padStart(6)} µs/task)  ` +
    `list ${list.toFixed(2).padStart(7)} ms (${listed} rows)  total ${(put + list).toFixed(1).padStart(8)} ms\n`
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-store-bench-'));
  try {
    const records = Array.from({ length: TASKS }, (_, i) => record(i));
    process.stdout.write(
      `node ${process.version}, ${TASKS} putTask + listTasks(${JSON.stringify(FILTER)}), median of ${REPEATS} runs\n`,
    );
    await memoryRun(records.slice(0, 500)); // warm-up
    await sqliteRun(dir, 0, records.slice(0, 500));
    const memory: Sample[] = [];
    const sqlite: Sample[] = [];
    for (let i = 1; i <= REPEATS; i++) {
      memory.push(await memoryRun(records));
      sqlite.push(await sqliteRun(dir, i, records));
    }
    const m = { put: median(memory.map((s) => s.put)), list: median(memory.map((s) => s.list)) };
    const s = { put: median(sqlite.map((x) => x.put)), list: median(sqlite.map((x) => x.list)) };
    process.stdout.write(line('MemoryStore', m.put, m.list, memory[0].listed));
    process.stdout.write(line('SqliteStore (file, WAL)', s.put, s.list, sqlite[0].listed));
    process.stdout.write(
      `ratio SQLite/Memory    put ${(s.put / m.put).toFixed(1)}×  list ${(s.list / m.list).toFixed(1)}×  ` +
        `total ${((s.put + s.list) / (m.put + m.list)).toFixed(1)}×\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
