/**
 * The agent runner that uses stream-json sessions (`session.ts`): for runs whose tool-permission questions the
 * pool answers (`askPermission` in the request), and for warm slots, where a slot keeps its `claude` process
 * between tasks.
 *
 * Warm slots: after a turn that ended with a result, the process stays open for its slot. The slot's next task
 * runs in it, as a new user message, when its process-level settings are the same (binary, environment,
 * working directory, model, permission mode, tools, MCP config, system prompts, limits: everything on the
 * command line) and it continues the conversation the process holds (the slot resumes its session); otherwise
 * the old process is closed and a fresh one started. A task's cost is the difference of the cumulative totals
 * the process reported. A cancelled turn is interrupted (the process survives and stays warm); a process that
 * does not answer the interrupt is killed. An idle process is closed after `idleMs`, and every one at
 * {@link SessionRunner.closeAll} (the pool's drain).
 *
 * Runs that need neither go to the plain `claude -p` runner (`claude-cli.ts`).
 */
import { performance } from 'node:perf_hooks';
import { buildClaudeArgv } from './argv.js';
import {
  ArgvFiles,
  ClaudeCliRunner,
  describeCommand,
  effectiveTimeoutMs,
  errorMessage,
  outcomeOf,
  safeEmitter,
  spawnFailedOutcome,
  usdToMicrodollars,
  type ClaudeCliRunnerHooks,
} from './claude-cli.js';
import { AgentSession, SessionStartError, type TurnEnd } from './session.js';
import type { AgentEvent, AgentOutcome, AgentRunner, AgentRunRequest, ClaudeOptions } from './types.js';

/** Warm-slot settings of a {@link SessionRunner}. */
export interface WarmSlotOptions {
  /** Keep each slot's process between tasks (default: see `DEFAULT_WARM_SLOTS`). */
  enabled: boolean;
  /** Close a slot's process after it has been idle this long (ms). */
  idleMs: number;
}

/** The default idle time of a warm process before it is closed. */
export const DEFAULT_WARM_IDLE_MS = 60_000;

/** Whether pools keep slots warm unless told otherwise (see `bench/warm.ts`). */
export const DEFAULT_WARM_SLOTS = true;

/** A slot's process kept between tasks. */
interface Warm {
  session: AgentSession;
  /** The settings it was started with (see `settingsKey`). */
  key: string;
  command: string;
  files: ArgvFiles;
  idleTimer?: NodeJS.Timeout;
}

/** Runs prompts in stream-json sessions, keeping slots warm when asked to. */
export class SessionRunner implements AgentRunner {
  private readonly plain: ClaudeCliRunner;
  /** Idle warm processes, by slot. */
  private readonly idle = new Map<string, Warm>();
  /** Warm processes running a turn, by slot. */
  private readonly running = new Map<string, Warm>();
  private closed = false;
  /** How many processes this runner has started (plain runs excluded). */
  sessionsStarted = 0;

  constructor(
    private readonly options: ClaudeOptions = {},
    private readonly hooks: ClaudeCliRunnerHooks = {},
    private readonly warm: WarmSlotOptions = { enabled: false, idleMs: DEFAULT_WARM_IDLE_MS },
  ) {
    this.plain = new ClaudeCliRunner(options, hooks);
  }

  /** Processes kept warm now (idle or running a turn). */
  get warmProcesses(): number {
    return this.idle.size + this.running.size;
  }

  /** Runs one prompt. Never rejects. */
  async run(
    request: AgentRunRequest,
    signal: AbortSignal,
    onEvent: (event: AgentEvent) => void,
  ): Promise<AgentOutcome> {
    const keepWarm = this.warm.enabled && request.slotId !== undefined && !this.closed;
    if (!keepWarm && request.askPermission === undefined) return this.plain.run(request, signal, onEvent);
    const startedAt = performance.now();
    const elapsed = (): number => Math.max(0, Math.round(performance.now() - startedAt));
    // The text streamed in this turn: a turn that fails on an API error keeps it as its partial output.
    const streamed: string[] = [];
    const emit = safeEmitter((event: AgentEvent) => {
      if (event.type === 'text') streamed.push(event.text);
      onEvent(event);
    });
    const binary = this.options.binary ?? 'claude';
    const cwd = request.workingDir || this.options.workingDir || process.cwd();
    const key = settingsKey(binary, cwd, this.options.env, request);
    const slotId = request.slotId;

    let warm = slotId !== undefined ? this.takeIdle(slotId, key, request) : undefined;
    if (warm) {
      emit({ type: 'reused', pid: warm.session.pid });
    } else {
      if (signal.aborted) {
        return outcomeOf(
          {
            state: { liveDenials: [], partialTextMessageIds: [], anonymousPartialText: false },
            exit: { code: null, signal: null },
            stderr: '',
            killReason: 'aborted',
          },
          { command: binary, elapsedMs: elapsed(), config: request.config, request, timeoutMs: undefined },
        );
      }
      const started = await this.startSession(binary, cwd, key, request);
      if ('outcome' in started)
        return { ...started.outcome, result: { ...started.outcome.result, elapsedMs: elapsed() } };
      warm = started;
      emit({ type: 'spawned', pid: warm.session.pid, command: warm.command });
    }
    if (slotId !== undefined) this.running.set(slotId, warm);
    warm.session.ref();
    const timeoutMs = effectiveTimeoutMs(request, this.options);
    let end: TurnEnd;
    try {
      end = await warm.session.runTurn({
        prompt: request.prompt,
        signal,
        timeoutMs,
        emit,
        askPermission: request.askPermission,
      });
    } finally {
      if (slotId !== undefined && this.running.get(slotId) === warm) this.running.delete(slotId);
    }
    const outcome = this.outcomeOfTurn(end, warm, request, elapsed(), timeoutMs, streamed);
    if (
      keepWarm &&
      slotId !== undefined &&
      warm.session.alive &&
      end.started &&
      end.exit === undefined &&
      end.state.result !== undefined
    ) {
      this.park(slotId, warm);
    } else {
      void this.retire(warm);
    }
    return outcome;
  }

  /** Closes the idle process a slot kept (the slot was removed) and waits for it. */
  async closeSlot(slotId: string): Promise<void> {
    const warm = this.idle.get(slotId);
    if (!warm) return;
    this.idle.delete(slotId);
    await this.retire(warm);
  }

  /** Closes every warm process (idle ones at once; running ones once their turn ends) and waits for them. */
  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.idle.values(), ...this.running.values()];
    this.idle.clear();
    this.running.clear();
    await Promise.all(all.map((warm) => this.retire(warm)));
  }

  /**
   * The slot's idle process, if it can run this request (same settings, and the conversation the slot continues:
   * the session it resumes, or — a slot with no session recorded yet, say after a cancelled first task — the
   * process's own); else closes it.
   */
  private takeIdle(slotId: string, key: string, request: AgentRunRequest): Warm | undefined {
    const warm = this.idle.get(slotId);
    if (!warm) return undefined;
    this.idle.delete(slotId);
    if (warm.idleTimer) clearTimeout(warm.idleTimer);
    const { resumeSessionId } = request;
    const sameConversation =
      resumeSessionId === undefined ? request.newConversation !== true : resumeSessionId === warm.session.sessionId;
    if (warm.key === key && sameConversation && warm.session.alive) return warm;
    void this.retire(warm);
    return undefined;
  }

  private async startSession(
    binary: string,
    cwd: string,
    key: string,
    request: AgentRunRequest,
  ): Promise<Warm | { outcome: AgentOutcome }> {
    const files = new ArgvFiles();
    let argv: string[];
    try {
      argv = sessionArgv(request, files);
    } catch (err) {
      files.remove();
      return {
        outcome: spawnFailedOutcome(`invalid run configuration: ${errorMessage(err)}`, binary, 0, request.config),
      };
    }
    const command = describeCommand(binary, argv);
    try {
      const session = await AgentSession.start({
        binary,
        argv,
        cwd,
        env: this.options.env,
        processes: this.hooks.processes,
        onExit: () => files.remove(),
      });
      this.sessionsStarted += 1;
      return { session, key, command, files };
    } catch (err) {
      files.remove();
      const message = err instanceof SessionStartError ? err.message : errorMessage(err);
      const failed = spawnFailedOutcome(message, command, 0, request.config);
      // The system refused this run's own command line (a value too long even for a file): the task fails, the
      // slot is fine.
      if (/\bE2BIG\b/.test(message)) {
        failed.result.output = `could not start claude: ${message}: the command line is too long for this system`;
        return { outcome: { ...failed, kind: 'ok' } };
      }
      return { outcome: failed };
    }
  }

  private outcomeOfTurn(
    end: TurnEnd,
    warm: Warm,
    request: AgentRunRequest,
    elapsedMs: number,
    timeoutMs: number | undefined,
    streamed: readonly string[],
  ): AgentOutcome {
    const exit = end.exit ?? { code: null, signal: null };
    const outcome = outcomeOf(
      { state: end.state, exit, stderr: end.exit ? end.stderr : '', killReason: end.killReason },
      { command: warm.command, elapsedMs, config: request.config, request, timeoutMs, streamed },
    );
    // In a warm process the totals are cumulative: this task's cost is the difference.
    const total = end.state.result?.totalCostUsd;
    if (total !== undefined && end.previousTotalCostUsd !== undefined) {
      outcome.result.costMicrodollars = usdToMicrodollars(Math.max(0, total - end.previousTotalCostUsd));
    }
    return outcome;
  }

  /** Keeps the slot's process for its next task, closing it after the idle time. */
  private park(slotId: string, warm: Warm): void {
    const previous = this.idle.get(slotId);
    if (previous && previous !== warm) void this.retire(previous);
    warm.session.unref();
    warm.idleTimer = setTimeout(() => {
      if (this.idle.get(slotId) === warm) this.idle.delete(slotId);
      void this.retire(warm);
    }, this.warm.idleMs);
    warm.idleTimer.unref();
    this.idle.set(slotId, warm);
  }

  private async retire(warm: Warm): Promise<void> {
    if (warm.idleTimer) clearTimeout(warm.idleTimer);
    await warm.session.close();
    warm.files.remove();
  }
}

/** The argv of a session: `-p` stream-json in and out, the run's settings, no prompt. */
export function sessionArgv(request: AgentRunRequest, files?: ArgvFiles): string[] {
  const argv = buildClaudeArgv(request.config, {
    prompt: '',
    promptOnStdin: true,
    resumeSessionId: request.resumeSessionId,
    ...(files ? files.write(request.config) : {}),
  });
  argv.push('--input-format', 'stream-json');
  if (request.askPermission !== undefined) argv.push('--permission-prompt-tool', 'stdio');
  return argv;
}

/**
 * Everything that fixes a process's behaviour for all its turns: binary, environment, working directory and
 * the command line (resume excluded: a warm process continues its own conversation).
 */
export function settingsKey(
  binary: string,
  cwd: string,
  env: Record<string, string> | undefined,
  request: AgentRunRequest,
): string {
  const argv = sessionArgv({ ...request, resumeSessionId: undefined });
  return JSON.stringify([binary, cwd, env ?? {}, argv]);
}
