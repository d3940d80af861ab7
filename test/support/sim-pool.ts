/**
 * Test support: pools on the real simulated agent (a child process per run), each with its own state dir.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool, type PoolBuilder } from '../../src/pool/index.js';
import { simulatedClaude } from '../../src/agent/simulated/path.js';

const cleanups: (() => Promise<void>)[] = [];

/** A builder for a pool on the simulated agent; the pool is drained and its state removed by `cleanupPools`. */
export function simBuilder(
  env: Record<string, string> = {},
  workingDir?: string,
  binary: string = simulatedClaude,
): PoolBuilder {
  const stateDir = mkdtempSync(join(tmpdir(), 'claude-pool-test-'));
  cleanups.push(async () => rmSync(stateDir, { recursive: true, force: true }));
  // By default the agents work in a fresh directory that is not a git repository.
  const cwd = workingDir ?? mkdtempSync(join(tmpdir(), 'claude-pool-cwd-'));
  if (!workingDir) cleanups.push(async () => rmSync(cwd, { recursive: true, force: true }));
  return Pool.builder({
    binary,
    workingDir: cwd,
    env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir, ...env },
  }).cancelGraceMs(2000);
}

/** Builds a pool and registers it for draining after the test. */
export async function simPool(
  configure: (builder: PoolBuilder) => PoolBuilder = (b) => b,
  workingDir?: string,
  binary?: string,
): Promise<Pool> {
  const pool = await configure(simBuilder({}, workingDir, binary)).build();
  cleanups.unshift(async () => {
    await pool.drain({ timeoutMs: 100 });
  });
  return pool;
}

/** Drains every pool made by `simPool` and removes their state. Call from `afterEach`. */
export async function cleanupPools(): Promise<void> {
  const pending = cleanups.splice(0);
  for (const cleanup of pending) await cleanup();
}

/** True while a process with this pid exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until `check` is true or the time is up. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Makes a git repository with one commit in a temp dir; removed by `cleanupPools`. */
export function makeGitRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', ...args], { cwd: dir });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# fixture\n');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The pid a `[[sim:pidfile …]]` run wrote, or `undefined` while it has not written it yet. */
export function readPid(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** Waits until a `[[sim:pidfile …]]` run has written its pid, and returns it. */
export async function waitForPid(file: string, timeoutMs = 5000): Promise<number> {
  await eventually(() => readPid(file) !== undefined, timeoutMs);
  return readPid(file) as number;
}
