/**
 * A stream-json session: one `claude -p --input-format stream-json` process whose stdin stays open, so it
 * takes one prompt after another as user messages (a turn each: `system/init` … `result`), asks before tools
 * run when started with `--permission-prompt-tool stdio` (a `can_use_tool` control request, answered on stdin),
 * and is interrupted by a control request rather than a signal, so it survives a cancelled turn.
 *
 * A turn ends with its `result` line. A cancelled or timed-out turn is interrupted (an `interrupt` control
 * request, then every question still open is denied); if no result follows within
 * {@link INTERRUPT_GRACE_MS}, the process is terminated (SIGTERM to its group, SIGKILL after
 * {@link KILL_GRACE_MS} to the group and its recorded tree). Closing ends stdin; a process that does not exit
 * within {@link CLOSE_GRACE_MS} is terminated the same way. The process is tied to this process's life
 * (`lifeline.ts`) and recorded in the process ledger from its start until its exit.
 */
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import type { ProcessLedger } from '../store/process-ledger.js';
import { thisHost } from '../store/process-ledger.js';
import { buildChildEnv, ownStartTime } from './claude-cli.js';
import {
  errorResponseLine,
  interruptRequestLine,
  permissionResponseLine,
  readControlLine,
  userMessageLine,
  type PermissionDecision,
  type ToolPermissionQuestion,
} from './control-protocol.js';
import { agentLifeline } from './lifeline.js';
import {
  describeTree,
  groupHasLiveMember,
  killProcesses,
  processStartTime,
  type ProcessIdentity,
} from './process-tree.js';
import {
  initialStreamState,
  LineSplitter,
  parseStreamLine,
  reduceStreamMessage,
  type StreamState,
} from './stream-json.js';
import {
  DRAIN_GRACE_MS,
  INTERRUPT_GRACE_MS,
  KILL_GRACE_MS,
  STDERR_TAIL_BYTES,
  TailBuffer,
  type ExitInfo,
} from './supervise.js';
import type { AgentEvent } from './types.js';

/** How long a session may take to exit after its stdin was closed before it is terminated. */
export const CLOSE_GRACE_MS = 2_000;

/** The denial sent for a question still open when its turn is cancelled. */
export const CANCELLED_DENIAL = 'The task was cancelled before this tool call was answered.';

/** How to start a session's process. */
export interface SessionSpawn {
  binary: string;
  /** The full argv (it must include `--input-format stream-json` and no prompt). */
  argv: string[];
  cwd: string;
  env?: Record<string, string>;
  /** Where the process is recorded while it runs. */
  processes?: ProcessLedger;
  /** Called once the process has exited (to remove its temporary files). */
  onExit?: () => void;
}

/** What one turn is given. */
export interface TurnInput {
  prompt: string;
  signal: AbortSignal;
  timeoutMs?: number;
  emit: (event: AgentEvent) => void;
  /** Answers `can_use_tool` questions (absent: every question is denied). */
  askPermission?: (question: ToolPermissionQuestion, signal: AbortSignal) => Promise<PermissionDecision>;
}

/** How one turn ended. */
export interface TurnEnd {
  /** What the turn's lines told (its `result` when it printed one). */
  state: StreamState;
  /** Set when the pool ended the turn. */
  killReason?: 'aborted' | 'timeout';
  /** Set when the process exited during the turn (it is then no longer usable). */
  exit?: ExitInfo;
  stderr: string;
  /** The cumulative `total_cost_usd` the session reported before this turn (undefined before its first result). */
  previousTotalCostUsd?: number;
  /**
   * The turn began (its `system/init` arrived). A result without one is a start-up failure the CLI printed before
   * reading any input (an unknown `--resume` id): the process is about to exit.
   */
  started: boolean;
}

/** The turn in progress. */
interface ActiveTurn {
  input: TurnInput;
  state: StreamState;
  resolve: (end: TurnEnd) => void;
  /** Questions asked and not yet answered: their abort controllers. */
  open: Map<string, AbortController>;
  killReason?: 'aborted' | 'timeout';
  timers: NodeJS.Timeout[];
  previousTotalCostUsd?: number;
  started: boolean;
}

/** One long-lived agent process that runs prompts as turns. */
export class AgentSession {
  /** The session id of the last `init` (the conversation the next turn continues). */
  sessionId?: string;
  /** The cumulative cost the process reported in its last `result`. */
  lastTotalCostUsd?: number;
  /** Turns completed so far. */
  turns = 0;
  readonly pid: number;
  private readonly subprocess: ReturnType<typeof execa>;
  private readonly identity: ProcessIdentity;
  private readonly splitter = new LineSplitter();
  private readonly stderrTail = new TailBuffer(STDERR_TAIL_BYTES);
  private turn?: ActiveTurn;
  private exitInfo?: ExitInfo;
  private readonly exited: Promise<ExitInfo>;
  private stdinClosed = false;
  private outputEnded = false;
  private terminating = false;
  private tree: ProcessIdentity[] = [];
  /** Descendants tied to the lifeline by `recordTree` (released once they are ended). */
  private readonly tied = new Set<number>();

  private constructor(
    private readonly spawnInput: SessionSpawn,
    subprocess: ReturnType<typeof execa>,
    pid: number,
  ) {
    this.subprocess = subprocess;
    this.pid = pid;
    this.identity = { pid, pgid: pid, startTime: processStartTime(pid) };
    agentLifeline.register(this.identity);
    try {
      spawnInput.processes?.recordSpawn({
        ...this.identity,
        host: thisHost(),
        ownerPid: process.pid,
        ownerStartTime: ownStartTime,
        startedAtMs: Date.now(),
      });
    } catch {
      // A closed or failing store must not stop the run; the lifeline still covers it.
    }
    let resolveExit!: (info: ExitInfo) => void;
    this.exited = new Promise((resolve) => {
      resolveExit = resolve;
    });
    // The turn in progress is decided once the output is read to its end (`close`), or a moment after the exit
    // when something else still holds the pipes.
    const onOutputEnd = (): void => {
      if (this.outputEnded) return;
      this.outputEnded = true;
      for (const line of this.splitter.end()) this.onLine(line);
      this.finishTurn();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (this.exitInfo) return;
      this.exitInfo = { code, signal };
      this.released();
      resolveExit(this.exitInfo);
      setTimeout(onOutputEnd, DRAIN_GRACE_MS).unref();
    };
    subprocess.on('exit', onExit);
    subprocess.on('close', () => {
      if (this.exitInfo) onOutputEnd();
    });
    subprocess.then(
      (r) => onExit(r.exitCode ?? null, (r.signal ?? null) as NodeJS.Signals | null),
      () => onExit(null, null),
    );
    const ignore = (): void => {};
    subprocess.stdin?.on('error', ignore);
    subprocess.stdout?.on('error', ignore);
    subprocess.stderr?.on('error', ignore);
    subprocess.stdout?.on('data', (chunk: Buffer | string) => {
      for (const line of this.splitter.push(chunk)) this.onLine(line);
    });
    subprocess.stderr?.on('data', (chunk: Buffer | string) => this.stderrTail.push(chunk));
  }

  /** Starts a session's process; throws when it cannot be started (the message says why). */
  static async start(input: SessionSpawn): Promise<AgentSession> {
    const subprocess = execa(input.binary, input.argv, {
      cwd: input.cwd,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      detached: true,
      env: buildChildEnv(process.env, input.env),
      extendEnv: false,
      buffer: false,
      reject: false,
      stripFinalNewline: false,
      windowsHide: true,
    });
    if (subprocess.pid === undefined) {
      const settled: unknown = await subprocess.then(
        (r) => r,
        (e: unknown) => e,
      );
      throw new SessionStartError(settled);
    }
    return new AgentSession(input, subprocess, subprocess.pid);
  }

  /** True while the process runs and takes prompts. */
  get alive(): boolean {
    return this.exitInfo === undefined && !this.stdinClosed && !this.terminating;
  }

  /** True while a turn is in progress. */
  get busy(): boolean {
    return this.turn !== undefined;
  }

  /** Runs one prompt as a turn; resolves when its result arrives or the process ends. Never rejects. */
  runTurn(input: TurnInput): Promise<TurnEnd> {
    if (this.turn) throw new Error('a turn is already in progress in this session');
    return new Promise<TurnEnd>((resolve) => {
      const turn: ActiveTurn = {
        input,
        state: initialStreamState(),
        resolve,
        open: new Map(),
        timers: [],
        previousTotalCostUsd: this.lastTotalCostUsd,
        started: false,
      };
      this.turn = turn;
      if (!this.alive) {
        this.finishTurn();
        return;
      }
      const onAbort = (): void => this.endTurn('aborted');
      input.signal.addEventListener('abort', onAbort, { once: true });
      if (input.timeoutMs !== undefined) turn.timers.push(setTimeout(() => this.endTurn('timeout'), input.timeoutMs));
      const cleanup = (): void => input.signal.removeEventListener('abort', onAbort);
      const original = turn.resolve;
      turn.resolve = (end) => {
        cleanup();
        original(end);
      };
      this.write(userMessageLine(input.prompt));
      if (input.signal.aborted) onAbort();
    });
  }

  /** Ends stdin and waits for the process to exit, terminating it after {@link CLOSE_GRACE_MS}. */
  async close(): Promise<void> {
    if (this.exitInfo) return;
    // What the agent started (a tool's process in a group of its own) ends with it.
    this.recordTree();
    this.stdinClosed = true;
    this.subprocess.stdin?.end();
    const timer = setTimeout(() => this.terminate(), CLOSE_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    this.killLeftovers();
  }

  /** Terminates the process now (SIGTERM, then SIGKILL to its group and tree); resolves once it has exited. */
  async kill(): Promise<void> {
    this.terminate();
    await this.exited;
  }

  /** Lets this process's event loop end while the session is idle (the lifeline still ends the process). */
  unref(): void {
    this.subprocess.unref?.();
    for (const stream of [this.subprocess.stdin, this.subprocess.stdout, this.subprocess.stderr]) {
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }

  /** Keeps this process's event loop alive for the session again (a turn is starting). */
  ref(): void {
    this.subprocess.ref?.();
    for (const stream of [this.subprocess.stdin, this.subprocess.stdout, this.subprocess.stderr]) {
      (stream as unknown as { ref?: () => void } | null)?.ref?.();
    }
  }

  private write(line: string): void {
    const stdin = this.subprocess.stdin;
    if (!stdin || stdin.destroyed || this.stdinClosed) return;
    stdin.write(line);
  }

  private onLine(line: string): void {
    const message = parseStreamLine(line);
    if (message === undefined) return;
    const control = readControlLine(message);
    if (control !== undefined) {
      if (control.kind === 'can_use_tool') this.onQuestion(control.question);
      else if (control.kind === 'other_request') {
        this.write(errorResponseLine(control.requestId, `unsupported control request: ${control.subtype}`));
      }
      return;
    }
    if (message.type === 'result' && typeof message.total_cost_usd === 'number') {
      this.lastTotalCostUsd = message.total_cost_usd;
    }
    const turn = this.turn;
    if (!turn) return;
    if (message.type === 'system' && message.subtype === 'init') turn.started = true;
    const step = reduceStreamMessage(turn.state, message);
    turn.state = step.state;
    if (step.state.sessionId !== undefined) this.sessionId = step.state.sessionId;
    for (const event of step.events) safeEmit(turn.input.emit, event);
    if (message.type === 'result') {
      this.turns += 1;
      this.finishTurn();
    }
  }

  /** A `can_use_tool` question: asked through the turn's handler, answered on stdin. */
  private onQuestion(question: ToolPermissionQuestion): void {
    const turn = this.turn;
    const answer = (decision: PermissionDecision): void => {
      if (turn && !turn.open.delete(question.requestId)) return;
      // The CLI runs an allowed tool with `updatedInput` (it does not run one allowed without it).
      const sent: PermissionDecision =
        decision.behavior === 'allow' && decision.updatedInput === undefined
          ? { behavior: 'allow', updatedInput: question.input }
          : decision;
      this.write(permissionResponseLine(question.requestId, sent));
    };
    if (!turn || turn.killReason !== undefined) {
      this.write(permissionResponseLine(question.requestId, { behavior: 'deny', message: CANCELLED_DENIAL }));
      return;
    }
    const ask = turn.input.askPermission;
    if (!ask) {
      this.write(
        permissionResponseLine(question.requestId, {
          behavior: 'deny',
          message: `No one answers permission questions for this run: ${question.toolName} was denied.`,
        }),
      );
      return;
    }
    const controller = new AbortController();
    turn.open.set(question.requestId, controller);
    ask(question, controller.signal).then(answer, (error: unknown) =>
      answer({
        behavior: 'deny',
        message: `The permission question failed: ${error instanceof Error ? error.message : String(error)}`,
      }),
    );
  }

  /** Ends the turn for `reason`: deny open questions, interrupt, and terminate if no result follows. */
  private endTurn(reason: 'aborted' | 'timeout'): void {
    const turn = this.turn;
    if (!turn || turn.killReason !== undefined || turn.state.result !== undefined) return;
    turn.killReason = reason;
    this.recordTree();
    // The interrupt first, so a question still open cannot let the turn run on; then the open questions are denied
    // (in case the CLI still waits for their answers).
    this.write(interruptRequestLine(randomUUID()));
    for (const [requestId, controller] of turn.open) {
      controller.abort();
      this.write(permissionResponseLine(requestId, { behavior: 'deny', message: CANCELLED_DENIAL }));
    }
    turn.open.clear();
    turn.timers.push(
      setTimeout(() => {
        if (this.turn === turn) this.terminate();
      }, INTERRUPT_GRACE_MS),
    );
  }

  /** Resolves the turn in progress (on its result, or when the process has ended). */
  private finishTurn(): void {
    const turn = this.turn;
    if (!turn) return;
    if (turn.state.result === undefined && !(this.exitInfo !== undefined && this.outputEnded)) return;
    this.turn = undefined;
    for (const t of turn.timers) clearTimeout(t);
    for (const controller of turn.open.values()) controller.abort();
    turn.open.clear();
    const end: TurnEnd = { state: turn.state, stderr: this.stderrTail.text(), started: turn.started };
    if (turn.killReason !== undefined) end.killReason = turn.killReason;
    if (turn.state.result === undefined && this.exitInfo !== undefined) end.exit = this.exitInfo;
    if (turn.previousTotalCostUsd !== undefined) end.previousTotalCostUsd = turn.previousTotalCostUsd;
    turn.resolve(end);
  }

  /**
   * Remembers the process's tree while it is alive (its children lose their parent link when it exits), and ties
   * each descendant to this process's life on its own, so that they are ended even if this process dies between
   * the session's exit and the end of the cleanup.
   */
  private recordTree(): void {
    if (this.exitInfo) return;
    const seen = describeTree(this.identity);
    if (seen.length === 0) return;
    this.tree = seen;
    for (const p of seen) {
      if (p.pid === this.pid || p.startTime === undefined || this.tied.has(p.pid)) continue;
      agentLifeline.register(p);
      this.tied.add(p.pid);
    }
  }

  /** SIGTERM to the group, SIGKILL to the group and the recorded tree after {@link KILL_GRACE_MS}. */
  private terminate(): void {
    if (this.terminating || this.exitInfo) return;
    this.terminating = true;
    this.recordTree();
    signalGroup(this.identity.pgid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (groupHasLiveMember(this.identity.pgid) || !this.exitInfo) signalGroup(this.identity.pgid, 'SIGKILL');
      this.killLeftovers();
    }, KILL_GRACE_MS);
    void this.exited.then(() => {
      clearTimeout(timer);
      this.killLeftovers();
    });
  }

  /** SIGKILLs what is left of the recorded tree (only processes that are still the recorded ones). */
  private killLeftovers(): void {
    const others = this.tree.filter((p) => p.pid !== this.pid);
    if (others.length > 0) killProcesses(others);
    // Ended (or gone already): the lifeline lets them go.
    for (const pid of this.tied) agentLifeline.release(pid);
    this.tied.clear();
  }

  /** The process has exited: untie it from the lifeline and the ledger. */
  private released(): void {
    agentLifeline.release(this.pid);
    try {
      this.spawnInput.processes?.recordExit(this.pid);
    } catch {
      // see the constructor
    }
    try {
      this.spawnInput.onExit?.();
    } catch {
      // A cleanup failure must not break the pool.
    }
  }
}

/** A session's process could not be started. */
export class SessionStartError extends Error {
  constructor(readonly settled: unknown) {
    super(describeSpawnFailure(settled));
  }
}

function describeSpawnFailure(settled: unknown): string {
  if (typeof settled === 'object' && settled !== null) {
    const s = settled as { cause?: unknown; shortMessage?: unknown; message?: unknown };
    if (s.cause instanceof Error) return s.cause.message;
    if (typeof s.shortMessage === 'string' && s.shortMessage) return s.shortMessage;
    if (typeof s.message === 'string' && s.message) return s.message;
  }
  return 'spawn failed';
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // Already gone.
  }
}

function safeEmit(emit: (event: AgentEvent) => void, event: AgentEvent): void {
  try {
    emit(event);
  } catch {
    // A listener's failure must not break the run.
  }
}
