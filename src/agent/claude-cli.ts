/**
 * The `claude` CLI adapter: runs one prompt as `claude -p --output-format stream-json --verbose …` in its own
 * process group, streams what it prints as {@link AgentEvent}s, and turns the final `result` line into an
 * {@link AgentOutcome}.
 *
 * Success is decided only from the `result` line (`is_error === false`), never from the exit code. A run that
 * ends without a `result` line is `crashed`. An abort interrupts the run first (SIGINT, so the CLI reports its
 * cost); timeouts, and aborts that do not end in time, kill the whole process group: SIGTERM, then
 * SIGKILL after {@link KILL_GRACE_MS} if anything in the group is still alive.
 */
import { execa } from 'execa';
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { usdToMicrodollars } from '../../machines/budget.js';
import type { PermissionDenial, TaskResult } from '../../machines/types.js';
import { buildClaudeArgv, commandString } from './argv.js';
import { StreamJsonAccumulator, type StreamResult, type StreamState } from './stream-json.js';
import type { AgentEvent, AgentOutcome, AgentRunner, AgentRunRequest, ClaudeOptions, ResolvedConfig } from './types.js';

/** How long a killed process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2_000;

/**
 * How long a cancelled run gets after SIGINT before it is terminated. On SIGINT the real CLI prints an
 * error result with what the run spent and exits, so a cancelled task's cost is still booked.
 */
export const INTERRUPT_GRACE_MS = 1_000;
/** How much of stderr is kept (the tail). */
export const STDERR_TAIL_BYTES = 64 * 1024;
/** How long stdout/stderr may stay open after the process exited (a leftover grandchild holding the pipe). */
export const DRAIN_GRACE_MS = 1_000;
/** How long the process may live on after printing its `result` line before the group is terminated. */
export const POST_RESULT_GRACE_MS = 5_000;
/** Environment variables removed from the child's environment (they make the CLI think it is nested). */
export const STRIPPED_ENV_VARS: readonly string[] = ['CLAUDECODE', 'CLAUDE_CODE_ENTRYPOINT'];

/** How a process ended, as node reported it. */
interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** Runs prompts with the real `claude` binary (or anything that speaks its stream-json). */
export class ClaudeCliRunner implements AgentRunner {
  /** @param options binary, extra environment, default working directory and default timeout. */
  constructor(private readonly options: ClaudeOptions = {}) {}

  /**
   * Runs one prompt. Never rejects: spawn errors, crashes, timeouts and aborts all resolve to an outcome.
   * `onEvent` is called synchronously as lines arrive; exceptions it throws are swallowed.
   */
  async run(request: AgentRunRequest, signal: AbortSignal, onEvent: (event: AgentEvent) => void): Promise<AgentOutcome> {
    const startedAt = performance.now();
    const elapsed = (): number => Math.max(0, Math.round(performance.now() - startedAt));
    const binary = this.options.binary ?? 'claude';
    let argv: string[];
    try {
      argv = buildClaudeArgv(request.config, request);
    } catch (err) {
      // e.g. an MCP config or JSON schema that cannot be serialised.
      return spawnFailedOutcome(`invalid run configuration: ${errorMessage(err)}`, binary, elapsed(), request.config);
    }
    const command = commandString(binary, argv);
    const emit = (event: AgentEvent): void => {
      try {
        onEvent(event);
      } catch {
        // A listener's failure must not break the run.
      }
    };

    if (signal.aborted) {
      return killedOutcome('aborted', { command, elapsedMs: elapsed(), config: request.config, request, timeoutMs: undefined });
    }

    let subprocess: ReturnType<typeof spawnClaude>;
    try {
      subprocess = spawnClaude(binary, argv, request.workingDir || this.options.workingDir || process.cwd(), this.options.env);
    } catch (err) {
      return spawnFailedOutcome(errorMessage(err), command, elapsed(), request.config);
    }
    const pid = subprocess.pid;
    if (pid === undefined) {
      const settled: unknown = await subprocess.then(
        (r) => r,
        (e: unknown) => e,
      );
      return spawnFailedOutcome(spawnErrorMessage(settled), command, elapsed(), request.config);
    }
    emit({ type: 'spawned', pid, command });

    const timeoutMs = effectiveTimeoutMs(request, this.options);
    trackGroup(pid);
    let supervised: Awaited<ReturnType<typeof supervise>>;
    try {
      supervised = await supervise({ subprocess, pid, signal, timeoutMs, emit });
    } finally {
      liveGroups.delete(pid);
    }

    const base = { command, elapsedMs: elapsed(), config: request.config, request, timeoutMs };
    const stderr = supervised.stderr;
    if (supervised.killReason !== undefined) {
      return killedOutcome(supervised.killReason, { ...base, state: supervised.state, exit: supervised.exit, stderr });
    }
    if (supervised.state.result !== undefined) {
      return resultOutcome(supervised.state, supervised.state.result, { ...base, exit: supervised.exit, stderr });
    }
    return crashedOutcome(supervised.state, { ...base, exit: supervised.exit, stderr });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Spawning and supervising
// ---------------------------------------------------------------------------------------------------------------

/**
 * Process groups of runs in progress. Runs are detached (their own group, so a kill reaches the CLI's own
 * children), which also means they would outlive this process; when it exits without draining — a second
 * Ctrl-C, an uncaught error, `process.exit` — the groups still running are killed.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const group of liveGroups) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** How many agent processes this process is running now. */
export function liveAgentProcesses(): number {
  return liveGroups.size;
}

function spawnClaude(binary: string, argv: string[], cwd: string, extraEnv: Record<string, string> | undefined) {
  return execa(binary, argv, {
    cwd,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    detached: true,
    env: buildChildEnv(process.env, extraEnv),
    extendEnv: false,
    buffer: false,
    reject: false,
    stripFinalNewline: false,
    windowsHide: true,
  });
}

/**
 * The child's environment: `base` without {@link STRIPPED_ENV_VARS} (and without unset values), then `extra`.
 */
export function buildChildEnv(
  base: Readonly<Record<string, string | undefined>>,
  extra?: Readonly<Record<string, string>>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined && !STRIPPED_ENV_VARS.includes(key)) env[key] = value;
  }
  return { ...env, ...(extra ?? {}) };
}

function effectiveTimeoutMs(request: AgentRunRequest, options: ClaudeOptions): number | undefined {
  const ms = request.timeoutMs ?? (options.timeoutSecs !== undefined ? options.timeoutSecs * 1000 : undefined);
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

interface SuperviseInput {
  subprocess: ReturnType<typeof spawnClaude>;
  pid: number;
  signal: AbortSignal;
  timeoutMs: number | undefined;
  emit: (event: AgentEvent) => void;
}

interface Supervised {
  state: StreamState;
  exit: ExitInfo;
  stderr: string;
  killReason?: 'aborted' | 'timeout';
}

/** Streams the process's output until it has exited and its pipes are closed (or given up on). */
async function supervise(input: SuperviseInput): Promise<Supervised> {
  const { subprocess, pid, signal, timeoutMs, emit } = input;
  const stdout = subprocess.stdout as Readable | null;
  const stderr = subprocess.stderr as Readable | null;
  const acc = new StreamJsonAccumulator();
  const stderrTail = new TailBuffer(STDERR_TAIL_BYTES);
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const cancel = (t: NodeJS.Timeout | undefined): void => {
    if (t === undefined) return;
    clearTimeout(t);
    timers.delete(t);
  };

  let killReason: 'aborted' | 'timeout' | undefined;
  let resultSeen = false;
  let exited = false;

  // --- exit / close ------------------------------------------------------------------------------------------
  let resolveExit!: (info: ExitInfo) => void;
  const exitPromise = new Promise<ExitInfo>((resolve) => {
    resolveExit = resolve;
  });
  let exitInfo: ExitInfo = { code: null, signal: null };
  const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
    if (exited) return;
    exited = true;
    exitInfo = { code, signal: sig };
    resolveExit(exitInfo);
  };
  subprocess.on('exit', onExit);
  // Fallback source of the exit status (and the rejection handler, so nothing is left unhandled).
  subprocess.then(
    (r) => onExit(r.exitCode ?? null, r.signal ?? null),
    () => onExit(null, null),
  );

  let resolveClose!: () => void;
  const closePromise = new Promise<void>((resolve) => {
    resolveClose = resolve;
  });
  const onClose = (): void => resolveClose();
  subprocess.on('close', onClose);

  // --- killing -----------------------------------------------------------------------------------------------
  let terminating = false;
  let resolveKillSettled!: () => void;
  const killSettled = new Promise<void>((resolve) => {
    resolveKillSettled = resolve;
  });
  let pollTimer: NodeJS.Timeout | undefined;
  const terminate = (): void => {
    if (terminating) return;
    terminating = true;
    signalGroup(pid, subprocess, 'SIGTERM');
    const poll = (): void => {
      if (!groupAlive(pid)) {
        resolveKillSettled();
        return;
      }
      pollTimer = later(50, poll);
    };
    pollTimer = later(50, poll);
    later(KILL_GRACE_MS, () => {
      cancel(pollTimer);
      if (groupAlive(pid) || !exited) signalGroup(pid, subprocess, 'SIGKILL');
      resolveKillSettled();
      // The process cannot survive SIGKILL; if node still reports no exit, stop waiting for it.
      later(KILL_GRACE_MS, () => onExit(null, 'SIGKILL'));
    });
  };

  // --- stdout / stderr ---------------------------------------------------------------------------------------
  let timeoutTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    if (resultSeen || killReason !== undefined) return;
    killReason = 'aborted';
    // Interrupt first, so the CLI reports what it spent; terminate the group if it does not exit in time.
    signalGroup(pid, subprocess, 'SIGINT');
    later(INTERRUPT_GRACE_MS, () => {
      if (!exited || groupAlive(pid)) terminate();
    });
  };
  const onStdout = (chunk: Buffer | string): void => {
    for (const event of acc.push(chunk)) emit(event);
    if (!resultSeen && acc.state.result !== undefined) {
      // The run is decided: no timeout or abort can change it now. Give the process time to exit by itself.
      resultSeen = true;
      cancel(timeoutTimer);
      signal.removeEventListener('abort', onAbort);
      later(POST_RESULT_GRACE_MS, () => {
        if (!exited) terminate();
      });
    }
  };
  const onStderr = (chunk: Buffer | string): void => stderrTail.push(chunk);
  const ignoreError = (): void => {};
  stdout?.on('data', onStdout);
  stdout?.on('error', ignoreError);
  stderr?.on('data', onStderr);
  stderr?.on('error', ignoreError);

  if (timeoutMs !== undefined) {
    timeoutTimer = later(timeoutMs, () => {
      if (resultSeen || killReason !== undefined) return;
      killReason = 'timeout';
      terminate();
    });
  }
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();

  // --- wait ----------------------------------------------------------------------------------------------------
  try {
    const exit = await exitPromise;
    // An interrupted run may leave children behind in its group: end them too.
    if (killReason === 'aborted' && !terminating && groupAlive(pid)) terminate();
    if (terminating) await killSettled;
    if (!(await within(closePromise, DRAIN_GRACE_MS, later))) {
      // Something still holds our pipes after the exit: a leftover of this run, so end its group (only while the
      // group still exists, so a reused pid is never signalled).
      if (groupAlive(pid)) signalGroup(pid, subprocess, 'SIGKILL');
      stdout?.destroy();
      stderr?.destroy();
      await within(closePromise, 200, later);
    }
    for (const event of acc.end()) emit(event);
    return { state: acc.state, exit, stderr: stderrTail.text(), killReason };
  } finally {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    signal.removeEventListener('abort', onAbort);
    subprocess.off('exit', onExit);
    subprocess.off('close', onClose);
    stdout?.off('data', onStdout);
    stderr?.off('data', onStderr);
    // Keep the error handlers: a destroyed stream may still emit one, and it must not crash the process.
  }
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
function within(promise: Promise<unknown>, ms: number, later: (ms: number, fn: () => void) => NodeJS.Timeout): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const t = later(ms, () => resolve(false));
    void promise.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function signalGroup(pid: number, subprocess: { kill(signal?: NodeJS.Signals): boolean }, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
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

/**
 * Whether any process of the group is still running. `kill(-pgid, 0)` also succeeds while only zombies are
 * left (orphans whose new parent does not reap them, as in some containers), so on Linux `/proc` is checked too.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return linuxGroupHasLiveMember(pgid) ?? true;
}

/** `undefined` when `/proc` cannot be read (not Linux). */
function linuxGroupHasLiveMember(pgid: number): boolean | undefined {
  if (process.platform !== 'linux') return undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "<pid> (<comm>) <state> <ppid> <pgrp> …"; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
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

// ---------------------------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------------------------

interface OutcomeContext {
  command: string;
  elapsedMs: number;
  config: ResolvedConfig;
  request: Pick<AgentRunRequest, 'resumeSessionId' | 'previousSessionCostUsd'>;
  timeoutMs: number | undefined;
  state?: StreamState;
  exit?: ExitInfo;
  stderr?: string;
}

/** Converts USD to integer microdollars (truncated; tiny float noise such as 0.01068 → 10679.9999… is absorbed). */
export { usdToMicrodollars };

/**
 * What this process spent, in USD:
 * the sum of `model_usage_since_last_result[*].costUSD` when present; else, after a resume of the same session
 * with a known previous cost, `total_cost_usd − previousSessionCostUsd` (at least 0); else `total_cost_usd`.
 */
export function computeRunCostUsd(
  result: StreamResult,
  request: Pick<AgentRunRequest, 'resumeSessionId' | 'previousSessionCostUsd'>,
  sessionId: string | undefined = result.sessionId,
): number {
  if (result.modelUsageSinceLastResult !== undefined) {
    let sum = 0;
    for (const usage of Object.values(result.modelUsageSinceLastResult)) {
      if (typeof usage.costUSD === 'number' && Number.isFinite(usage.costUSD)) sum += usage.costUSD;
    }
    return sum;
  }
  const total = result.totalCostUsd ?? 0;
  if (
    request.resumeSessionId !== undefined &&
    request.previousSessionCostUsd !== undefined &&
    sessionId === request.resumeSessionId
  ) {
    return Math.max(0, total - request.previousSessionCostUsd);
  }
  return total;
}

/** The model to report: the `modelUsage` key with the highest cost, else the init model, else the configured one. */
export function pickModel(result: StreamResult | undefined, initModel: string | undefined, configModel: string | undefined): string | undefined {
  let best: string | undefined;
  let bestCost = -Infinity;
  for (const [model, usage] of Object.entries(result?.modelUsage ?? {})) {
    const cost = typeof usage.costUSD === 'number' ? usage.costUSD : 0;
    if (cost > bestCost) {
      best = model;
      bestCost = cost;
    }
  }
  return best ?? initModel ?? configModel;
}

function resultOutcome(state: StreamState, r: StreamResult, ctx: OutcomeContext): AgentOutcome {
  const sessionId = r.sessionId ?? state.sessionId;
  const costUsd = computeRunCostUsd(r, ctx.request, sessionId);
  const success = r.isError === false;
  const output = success ? (r.result ?? (r.structuredOutput !== undefined ? safeJson(r.structuredOutput) : '')) : errorText(r);
  const budgetExceeded =
    r.subtype === 'error_max_budget_usd' || (ctx.config.maxBudgetUsd !== undefined && costUsd > ctx.config.maxBudgetUsd);
  const result: TaskResult = {
    output,
    success,
    costMicrodollars: usdToMicrodollars(costUsd),
    turnsUsed: r.numTurns ?? 0,
    elapsedMs: ctx.elapsedMs,
    budgetExceeded,
    permissionDenials: denials(state, r),
  };
  setIfDefined(result, 'model', pickModel(r, state.model, ctx.config.model));
  setIfDefined(result, 'sessionId', sessionId);
  setIfDefined(result, 'subtype', r.subtype);
  setIfDefined(result, 'structuredOutput', r.structuredOutput);
  if (!success) {
    result.failedCommand = ctx.command;
    if (ctx.exit?.code !== null && ctx.exit?.code !== undefined) result.exitCode = ctx.exit.code;
    if (ctx.exit?.signal) result.signal = ctx.exit.signal;
    if (ctx.stderr) result.stderr = ctx.stderr;
  }
  const outcome: AgentOutcome = { result, kind: 'ok' };
  if (r.totalCostUsd !== undefined) outcome.sessionCostUsd = r.totalCostUsd;
  return outcome;
}

function errorText(r: StreamResult): string {
  if (r.result !== undefined && r.result.trim().length > 0) return r.result;
  if (r.errors !== undefined && r.errors.length > 0) return r.errors.join('; ');
  return `claude reported an error (subtype ${r.subtype ?? 'unknown'}${r.terminalReason ? `, ${r.terminalReason}` : ''})`;
}

function denials(state: StreamState, r: StreamResult | undefined): PermissionDenial[] {
  if (r?.permissionDenials !== undefined) return r.permissionDenials;
  return [...state.liveDenials];
}

function crashedOutcome(state: StreamState, ctx: OutcomeContext): AgentOutcome {
  const exit = ctx.exit ?? { code: null, signal: null };
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? 'unknown'}`;
  const tail = stderrTail(ctx.stderr);
  const result: TaskResult = {
    output: `claude ${how} without a result${tail ? `: ${tail}` : ''}`,
    success: false,
    costMicrodollars: 0,
    turnsUsed: 0,
    elapsedMs: ctx.elapsedMs,
    failedCommand: ctx.command,
    errorCode: 'crashed',
  };
  setIfDefined(result, 'model', state.model ?? ctx.config.model);
  setIfDefined(result, 'sessionId', state.sessionId);
  if (exit.code !== null) result.exitCode = exit.code;
  if (exit.signal) result.signal = exit.signal;
  result.stderr = ctx.stderr ?? '';
  if (state.liveDenials.length > 0) result.permissionDenials = [...state.liveDenials];
  return { result, kind: 'crashed' };
}

function killedOutcome(kind: 'aborted' | 'timeout', ctx: OutcomeContext): AgentOutcome {
  const state = ctx.state;
  const r = state?.result;
  const output =
    kind === 'timeout'
      ? `claude timed out after ${ctx.timeoutMs ?? 0} ms and was killed`
      : 'claude run was cancelled';
  const sessionId = r?.sessionId ?? state?.sessionId;
  const result: TaskResult = {
    output,
    success: false,
    costMicrodollars: r !== undefined ? usdToMicrodollars(computeRunCostUsd(r, ctx.request, sessionId)) : 0,
    turnsUsed: r?.numTurns ?? 0,
    elapsedMs: ctx.elapsedMs,
    failedCommand: ctx.command,
    errorCode: kind === 'timeout' ? 'timeout' : 'cancelled',
  };
  setIfDefined(result, 'model', pickModel(r, state?.model, ctx.config.model));
  setIfDefined(result, 'sessionId', sessionId);
  if (ctx.exit?.code !== null && ctx.exit?.code !== undefined) result.exitCode = ctx.exit.code;
  if (ctx.exit?.signal) result.signal = ctx.exit.signal;
  if (ctx.stderr) result.stderr = ctx.stderr;
  if (state !== undefined) {
    const d = denials(state, r);
    if (d.length > 0) result.permissionDenials = d;
  }
  const outcome: AgentOutcome = { result, kind };
  if (r?.totalCostUsd !== undefined) outcome.sessionCostUsd = r.totalCostUsd;
  return outcome;
}

function spawnFailedOutcome(message: string, command: string, elapsedMs: number, config: ResolvedConfig): AgentOutcome {
  const result: TaskResult = {
    output: `could not start claude: ${message}`,
    success: false,
    costMicrodollars: 0,
    turnsUsed: 0,
    elapsedMs,
    failedCommand: command,
    errorCode: 'spawn_failed',
  };
  setIfDefined(result, 'model', config.model);
  return { result, kind: 'spawn_failed' };
}

function spawnErrorMessage(settled: unknown): string {
  if (typeof settled === 'object' && settled !== null) {
    const s = settled as { cause?: unknown; originalMessage?: unknown; shortMessage?: unknown; message?: unknown };
    if (s.cause instanceof Error) return s.cause.message;
    if (typeof s.originalMessage === 'string' && s.originalMessage) return s.originalMessage;
    if (typeof s.shortMessage === 'string' && s.shortMessage) return s.shortMessage;
    if (typeof s.message === 'string' && s.message) return s.message;
  }
  return 'spawn failed';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function stderrTail(stderr: string | undefined, max = 2_000): string {
  const t = (stderr ?? '').trim();
  return t.length > max ? `…${t.slice(t.length - max)}` : t;
}

function setIfDefined<K extends keyof TaskResult>(target: TaskResult, key: K, value: TaskResult[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}
