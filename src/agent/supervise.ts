/**
 * Supervising one agent process: streaming what it prints, ending it on abort or timeout, and waiting until it
 * and its pipes are gone.
 *
 * Ending a run, whether cancelled or timed out, is the same sequence: interrupt (SIGINT to the agent's process
 * group, so the CLI prints an error result with what it spent and the cost is booked), give it
 * {@link INTERRUPT_GRACE_MS}, then terminate: SIGTERM to the group, and SIGKILL after {@link KILL_GRACE_MS} to
 * the group and to every process of the agent's tree (the real CLI starts its Bash tool children in process
 * groups of their own, so the group alone would miss them). The tree is recorded while the agent is still
 * alive, since its children lose their parent link once it exits; they are only killed while they are still the
 * recorded processes (same start time).
 */
import type { ChildProcess } from 'node:child_process';
import { agentLifeline } from './lifeline.js';
import { describeTree, groupHasLiveMember, killProcesses, type ProcessIdentity } from './process-tree.js';
import { StreamJsonAccumulator, type StreamState } from './stream-json.js';
import type { AgentEvent } from './types.js';

/** How long a killed process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2_000;
/**
 * How long a cancelled or timed-out run gets after SIGINT before it is terminated. On SIGINT the real CLI
 * prints an error result with what the run spent and exits, so the cost is still booked.
 */
export const INTERRUPT_GRACE_MS = 1_000;
/** How much of stderr is kept (the tail). */
export const STDERR_TAIL_BYTES = 64 * 1024;
/** How long stdout/stderr may stay open after the process exited (a leftover grandchild holding the pipe). */
export const DRAIN_GRACE_MS = 1_000;
/** How long the process may live on after printing its `result` line before the group is terminated. */
export const POST_RESULT_GRACE_MS = 5_000;

/** How a process ended, as node reported it. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** Why the pool ended a run. */
export type KillReason = 'aborted' | 'timeout';

/** The child process as supervision needs it (an execa subprocess fits). */
export type SupervisedProcess = Pick<ChildProcess, 'stdout' | 'stderr' | 'on' | 'off' | 'kill'> &
  PromiseLike<{ exitCode?: number; signal?: string }>;

/** What `supervise` needs. */
export interface SuperviseInput {
  subprocess: SupervisedProcess;
  /** The agent: pid, process group (its own) and start time. */
  agent: ProcessIdentity;
  signal: AbortSignal;
  timeoutMs: number | undefined;
  emit: (event: AgentEvent) => void;
}

/** What became of a supervised process. */
export interface Supervised {
  state: StreamState;
  exit: ExitInfo;
  stderr: string;
  killReason?: KillReason;
}

/** Timers that are all cleared together when supervision ends. */
class Timers {
  private readonly live = new Set<NodeJS.Timeout>();

  later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.live.delete(t);
      fn();
    }, ms);
    this.live.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout | undefined): void {
    if (t === undefined) return;
    clearTimeout(t);
    this.live.delete(t);
  }

  clear(): void {
    for (const t of this.live) clearTimeout(t);
    this.live.clear();
  }

  /** Resolves true when `promise` settles within `ms`, false otherwise. */
  within(promise: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const t = this.later(ms, () => resolve(false));
      void promise.then(() => {
        this.cancel(t);
        resolve(true);
      });
    });
  }
}

/** A promise with its resolver. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Keeps the last `limit` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(buf);
    this.size += buf.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit) {
      this.size -= this.chunks[0].length;
      this.chunks.shift();
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** Sends a signal to the agent's process group, or to the process itself when there is no group. */
function signalGroup(pgid: number, subprocess: SupervisedProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
    return;
  } catch {
    // No such group (already gone) or no process groups on this platform: fall back to the process itself.
  }
  try {
    subprocess.kill(sig);
  } catch {
    // Already gone.
  }
}

/** One supervision: the state shared by the named steps below. */
class Supervision {
  readonly timers = new Timers();
  readonly acc = new StreamJsonAccumulator();
  readonly stderrTail = new TailBuffer(STDERR_TAIL_BYTES);
  readonly exit = deferred<ExitInfo>();
  readonly close = deferred<void>();
  readonly killSettled = deferred<void>();
  killReason: KillReason | undefined;
  resultSeen = false;
  exited = false;
  terminating = false;
  timeoutTimer: NodeJS.Timeout | undefined;
  /** The agent's process tree as last seen while the agent was alive. */
  tree: ProcessIdentity[] = [];
  /** Descendants tied to the lifeline by `recordTree` (released when supervision ends). */
  readonly tied = new Set<number>();

  constructor(readonly input: SuperviseInput) {}

  get pgid(): number {
    return this.input.agent.pgid;
  }

  readonly onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
    if (this.exited) return;
    this.exited = true;
    this.exit.resolve({ code, signal: sig });
  };

  readonly onClose = (): void => this.close.resolve();

  readonly onStdout = (chunk: Buffer | string): void => {
    for (const event of this.acc.push(chunk)) this.input.emit(event);
    if (!this.resultSeen && this.acc.state.result !== undefined) this.onResult();
  };

  readonly onStderr = (chunk: Buffer | string): void => this.stderrTail.push(chunk);

  /** The run is decided: no timeout or abort can change it now. Give the process time to exit by itself. */
  private onResult(): void {
    this.resultSeen = true;
    this.timers.cancel(this.timeoutTimer);
    this.input.signal.removeEventListener('abort', this.onAbort);
    this.timers.later(POST_RESULT_GRACE_MS, () => {
      if (!this.exited) this.terminate();
    });
  }

  readonly onAbort = (): void => this.end('aborted');

  /** Ends the run for `reason`: interrupt first, terminate if it has not ended after the grace. */
  end(reason: KillReason): void {
    if (this.resultSeen || this.killReason !== undefined) return;
    this.killReason = reason;
    this.recordTree();
    signalGroup(this.pgid, this.input.subprocess, 'SIGINT');
    this.timers.later(INTERRUPT_GRACE_MS, () => {
      if (!this.exited || groupHasLiveMember(this.pgid)) this.terminate();
    });
  }

  /**
   * Remembers the agent's tree while the agent is alive (its children lose their parent link when it exits),
   * and ties each descendant to this process's life on its own, so that they are ended even if this process
   * dies between the agent's exit and the end of the cleanup.
   */
  recordTree(): void {
    if (this.exited) return;
    const seen = describeTree(this.input.agent);
    if (seen.length === 0) return;
    this.tree = seen;
    for (const p of seen) {
      if (p.pid !== this.input.agent.pid && p.startTime !== undefined) {
        agentLifeline.register(p);
        this.tied.add(p.pid);
      }
    }
  }

  /** SIGTERM to the group, then SIGKILL to the group and the recorded tree after the grace. */
  terminate(): void {
    if (this.terminating) return;
    this.terminating = true;
    this.recordTree();
    signalGroup(this.pgid, this.input.subprocess, 'SIGTERM');
    let pollTimer: NodeJS.Timeout | undefined;
    const poll = (): void => {
      if (!groupHasLiveMember(this.pgid)) {
        this.killSettled.resolve();
        return;
      }
      pollTimer = this.timers.later(50, poll);
    };
    pollTimer = this.timers.later(50, poll);
    this.timers.later(KILL_GRACE_MS, () => {
      this.timers.cancel(pollTimer);
      if (groupHasLiveMember(this.pgid) || !this.exited) signalGroup(this.pgid, this.input.subprocess, 'SIGKILL');
      this.killLeftovers();
      this.killSettled.resolve();
      // The process cannot survive SIGKILL; if node still reports no exit, stop waiting for it.
      this.timers.later(KILL_GRACE_MS, () => this.onExit(null, 'SIGKILL'));
    });
  }

  /** SIGKILLs what is left of the recorded tree (only processes that are still the recorded ones). */
  killLeftovers(): void {
    const others = this.tree.filter((p) => p.pid !== this.input.agent.pid);
    if (others.length > 0) killProcesses(others);
  }

  startTimeout(): void {
    const { timeoutMs } = this.input;
    if (timeoutMs === undefined) return;
    this.timeoutTimer = this.timers.later(timeoutMs, () => this.end('timeout'));
  }

  attach(): void {
    const { subprocess, signal } = this.input;
    subprocess.on('exit', this.onExit);
    // Fallback source of the exit status (and the rejection handler, so nothing is left unhandled).
    subprocess.then(
      (r) => this.onExit(r.exitCode ?? null, (r.signal ?? null) as NodeJS.Signals | null),
      () => this.onExit(null, null),
    );
    subprocess.on('close', this.onClose);
    const ignoreError = (): void => {};
    subprocess.stdout?.on('data', this.onStdout);
    subprocess.stdout?.on('error', ignoreError);
    subprocess.stderr?.on('data', this.onStderr);
    subprocess.stderr?.on('error', ignoreError);
    this.startTimeout();
    signal.addEventListener('abort', this.onAbort, { once: true });
    if (signal.aborted) this.onAbort();
  }

  detach(): void {
    const { subprocess, signal } = this.input;
    this.timers.clear();
    for (const pid of this.tied) agentLifeline.release(pid);
    this.tied.clear();
    signal.removeEventListener('abort', this.onAbort);
    subprocess.off('exit', this.onExit);
    subprocess.off('close', this.onClose);
    subprocess.stdout?.off('data', this.onStdout);
    subprocess.stderr?.off('data', this.onStderr);
    // Keep the error handlers: a destroyed stream may still emit one, and it must not crash the process.
  }

  /** After the exit: end what the run left behind, and wait for the pipes (or give up on them). */
  async settle(): Promise<void> {
    // An ended run may leave children behind, in its group or in groups of their own: end them too.
    if (this.killReason !== undefined && !this.terminating && groupHasLiveMember(this.pgid)) this.terminate();
    if (this.terminating) await this.killSettled.promise;
    if (this.killReason !== undefined) this.killLeftovers();
    if (!(await this.timers.within(this.close.promise, DRAIN_GRACE_MS))) {
      // Something still holds our pipes after the exit: a leftover of this run, so end its group (only while the
      // group still exists, so a reused pid is never signalled).
      if (groupHasLiveMember(this.pgid)) signalGroup(this.pgid, this.input.subprocess, 'SIGKILL');
      this.input.subprocess.stdout?.destroy();
      this.input.subprocess.stderr?.destroy();
      await this.timers.within(this.close.promise, 200);
    }
  }
}

/** Streams the process's output until it has exited and its pipes are closed (or given up on). */
export async function supervise(input: SuperviseInput): Promise<Supervised> {
  const run = new Supervision(input);
  run.attach();
  try {
    const exit = await run.exit.promise;
    await run.settle();
    for (const event of run.acc.end()) input.emit(event);
    return { state: run.acc.state, exit, stderr: run.stderrTail.text(), killReason: run.killReason };
  } finally {
    run.detach();
  }
}
