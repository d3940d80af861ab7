/**
 * Test support for the CLI: spawn `node dist/src/cli/main.js …` the way a user would (no TTY).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN, cleanEnv, requireBuild } from '../mcp/support.js';

export { CLI_MAIN, cleanEnv };

/** How a CLI run ended. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** A CLI process still running. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  done: Promise<CliRun>;
}

const dirs: string[] = [];

/** A fresh temporary directory, removed by {@link cleanupDirs}. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-cli-test-'));
  dirs.push(dir);
  return dir;
}

/** Removes every directory made by {@link tempDir}. */
export function cleanupDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Options of {@link startCli}. */
export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Leave stdin open (for `serve`). */
  keepStdinOpen?: boolean;
}

/** Starts the CLI; stdin is closed (after `input`) unless `keepStdinOpen`. */
export function startCli(args: string[], options: CliOptions = {}): CliProcess {
  requireBuild();
  const started = Date.now();
  const child = spawn(process.execPath, [CLI_MAIN, ...args], {
    cwd: options.cwd ?? tempDir(),
    env: options.env ?? cleanEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  if (options.input !== undefined) child.stdin?.end(options.input);
  else if (!options.keepStdinOpen) child.stdin?.end();
  const done = new Promise<CliRun>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** Runs the CLI to the end. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return startCli(args, options).done;
}

/** Polls until `check` is true. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
