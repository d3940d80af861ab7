/**
 * The lifeline between this process and the agent processes it starts: whatever way this process ends, the
 * agents and everything they started end with it.
 *
 * - **Any death, SIGKILL included**: the first agent started launches one watchdog process
 *   (`watchdog/main.ts`), detached, holding the read end of a pipe whose write end only this process has. Each
 *   agent's pid, process group and start time are written to it when the agent starts, and withdrawn when it
 *   ends. When this process dies, the kernel closes the pipe; the watchdog reads end-of-file and kills every
 *   registered agent's process tree. One watchdog serves every pool of the process, so a run costs one short
 *   write to a pipe and nothing more.
 * - **`process.exit()` and a normal end with agents still running**: an `exit` hook kills the trees at once,
 *   synchronously (the watchdog would too, a moment later).
 * - **SIGTERM, SIGINT, SIGHUP with no handler of the host's own**: node's default is to die of the signal
 *   without running `exit` hooks. While agents run, a listener is installed that — only when it is the sole
 *   listener for that signal — kills the agents' trees, removes itself and raises the signal again, so the
 *   process still dies of that signal exactly as it would have. When the host has a listener of its own, the
 *   host decides what the signal means (and the pool's `drain` or the watchdog ends the agents).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageRoot } from './simulated/path.js';
import { killTrees, type ProcessIdentity } from './process-tree.js';

/** Signals whose default action (death) would skip `exit` hooks. */
const FATAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** The built watchdog script: beside this module when built, else in the package's `dist/`. */
function watchdogScript(): string {
  const beside = fileURLToPath(new URL('./watchdog/main.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return join(findPackageRoot(), 'dist', 'src', 'agent', 'watchdog', 'main.js');
}

/** Keeps the agents of this process tied to its life. One per process: {@link agentLifeline}. */
export class AgentLifeline {
  private watchdog?: ChildProcess;
  private readonly agents = new Map<number, ProcessIdentity>();
  private hooksInstalled = false;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();

  /** Ties an agent process (just started) to this process's life. */
  register(agent: ProcessIdentity): void {
    this.agents.set(agent.pid, agent);
    this.installHooks();
    this.send(`+ ${agent.pid} ${agent.pgid} ${agent.startTime ?? '-'}\n`);
  }

  /** The agent has ended (and its tree was dealt with): the watchdog forgets it. */
  release(pid: number): void {
    if (!this.agents.delete(pid)) return;
    this.send(`- ${pid}\n`);
    if (this.agents.size === 0) this.removeSignalHandlers();
  }

  /** How many agent processes are tied to this process now. */
  get size(): number {
    return this.agents.size;
  }

  /** The watchdog's pid, once one runs. */
  watchdogPid(): number | undefined {
    return this.watchdog?.exitCode === null ? this.watchdog.pid : undefined;
  }

  /** Kills every registered agent's tree now (synchronously). */
  killAll(): void {
    killTrees([...this.agents.values()], { trustUnknownStart: true });
  }

  private send(line: string): void {
    const stdin = this.ensureWatchdog()?.stdin;
    if (!stdin || stdin.destroyed) return;
    stdin.write(line);
  }

  private ensureWatchdog(): ChildProcess | undefined {
    if (this.watchdog && this.watchdog.exitCode === null && this.watchdog.signalCode === null) return this.watchdog;
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [watchdogScript()], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    } catch {
      return undefined; // the exit and signal hooks still cover every end but SIGKILL
    }
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    child.on('exit', () => {
      if (this.watchdog === child) this.watchdog = undefined;
    });
    // The watchdog must never keep this process alive.
    child.unref();
    (child.stdin as Socket | null)?.unref();
    this.watchdog = child;
    // A new watchdog learns about the agents already running.
    for (const agent of this.agents.values())
      child.stdin?.write(`+ ${agent.pid} ${agent.pgid} ${agent.startTime ?? '-'}\n`);
    return child;
  }

  private installHooks(): void {
    if (!this.hooksInstalled) {
      this.hooksInstalled = true;
      process.on('exit', () => this.killAll());
    }
    for (const sig of FATAL_SIGNALS) {
      if (this.signalHandlers.has(sig)) continue;
      const handler = (): void => {
        // Another listener is the host's: the signal is the host's to handle.
        if (process.listenerCount(sig) > 1) return;
        this.killAll();
        this.removeSignalHandlers();
        process.kill(process.pid, sig);
      };
      this.signalHandlers.set(sig, handler);
      // First in line, so a host's `once` listener is still counted when this one runs.
      process.prependListener(sig, handler);
    }
  }

  private removeSignalHandlers(): void {
    for (const [sig, handler] of this.signalHandlers) process.removeListener(sig, handler);
    this.signalHandlers.clear();
  }
}

/** The lifeline of this process's agents. */
export const agentLifeline = new AgentLifeline();
