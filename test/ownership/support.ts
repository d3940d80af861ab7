/**
 * Test support for process ownership: a small host program (a pool in a process of its own, through the public
 * API of the built package) and checks on processes read from `/proc`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPackageRoot } from '../../src/agent/simulated/path.js';
import { eventually, waitForPid } from '../support/sim-pool.js';

const dist = (path: string): string => JSON.stringify(join(findPackageRoot(), 'dist', path));

/**
 * The host: builds a pool on the simulated agent (on a SQLite file when one is given), starts `agents` hanging
 * runs that each started a child of their own (in its own process group), then prints the pids and waits to be
 * ended. It installs no signal handler of its own (unless `ownHandler`: then SIGTERM drains and exits 7). `queued` more tasks wait behind them. Every run counts itself
 * in the simulated agent's state folder (`<dir>/state`, see `[[sim:fail-times]]`).
 */
const HOST = `
import { Pool, simulatedClaude } from ${dist('src/index.js')};
import { SqliteStore } from ${dist('src/store/sqlite.js')};
import { agentLifeline } from ${dist('src/agent/lifeline.js')};
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const [dir, agents, db, queued] = process.argv.slice(2);
let pool;
// With --own-handler the host handles SIGTERM itself (installed before any agent runs): drain, then exit 7.
if (process.argv.includes('--own-handler')) {
  process.once('SIGTERM', async () => {
    await pool.drain({ timeoutMs: 100 });
    process.exit(7);
  });
}
const builder = Pool.builder({ binary: simulatedClaude, workingDir: dir, env: { CLAUDE_POOL_SIM_STATE_DIR: join(dir, 'state') } })
  .slots(Number(agents));
if (db) builder.store(SqliteStore.open(db));
pool = await builder.build();
const files = [];
for (let i = 0; i < Number(agents); i++) {
  const agent = join(dir, 'agent-' + i + '.pid');
  const child = join(dir, 'child-' + i + '.pid');
  files.push(agent, child);
  await pool.submit('hang [[sim:fail-times 0 hang-' + i + ']] [[sim:pidfile ' + agent + ']] [[sim:child ' + child + ']] [[sim:hang]]');
}
// Work that waits behind the hanging runs (every slot is busy).
for (let i = 0; i < Number(queued || 0); i++) await pool.submit('queued [[sim:fail-times 0 queued-' + i + ']]');
await pool.flush();
while (!files.every((f) => existsSync(f) && readFileSync(f, 'utf8').endsWith('\\n'))) await new Promise((r) => setTimeout(r, 10));
const pids = files.map((f) => Number(readFileSync(f, 'utf8')));
process.stdout.write(JSON.stringify({ pids, watchdog: agentLifeline.watchdogPid() }) + '\\n');
if (process.argv.includes('--exit')) process.exit(0);
setInterval(() => undefined, 1 << 30);
`;

/** A running host and the processes of its runs. */
export interface Host {
  child: ChildProcess;
  /** The agents' and their children's pids. */
  pids: number[];
  /** The agent watchdog's pid. */
  watchdog: number;
  /** Resolves with how the host ended. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  dir: string;
}

/** Starts a host with `agents` hanging runs (and `--exit`: it calls `process.exit()` once they run). */
export async function startHost(options: {
  agents: number;
  db?: string;
  exit?: boolean;
  dir?: string;
  queued?: number;
  ownHandler?: boolean;
}): Promise<Host> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'claude-pool-host-'));
  const script = join(dir, 'host.mjs');
  writeFileSync(script, HOST);
  const args = [script, dir, String(options.agents), options.db ?? '', String(options.queued ?? 0)];
  if (options.exit) args.push('--exit');
  if (options.ownHandler) args.push('--own-handler');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    void ended.then((how) =>
      reject(new Error(`host ended before its runs started (${JSON.stringify(how)}): ${stderr}`)),
    );
  });
  const { pids, watchdog } = JSON.parse(line) as { pids: number[]; watchdog: number };
  return { child, pids, watchdog, ended, dir };
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Waits (polling `/proc`, at most `timeoutMs`) until none of `pids` is alive; throws naming the survivors. */
export async function waitUntilGone(pids: readonly number[], timeoutMs = 3000): Promise<void> {
  try {
    await eventually(() => pids.every((pid) => !isAlive(pid)), timeoutMs);
  } catch {
    throw new Error(`still alive after ${timeoutMs} ms: ${pids.filter(isAlive).join(', ')}`);
  }
}

/** Kills whatever of `pids` is still alive (cleanup after a failed test). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export { waitForPid };

/** How many times each keyed run ran, from the simulated agent's counters in `<dir>/state`. */
export function runCounts(dir: string): Record<string, number> {
  const counters = join(dir, 'state', 'simulated-sessions', 'fail-counters');
  const counts: Record<string, number> = {};
  for (const key of readdirSync(counters)) counts[key] = Number(readFileSync(join(counters, key), 'utf8'));
  return counts;
}
