/**
 * The `claude` CLI adapter: runs one prompt as `claude -p --output-format stream-json --verbose …` in its own
 * process group, streams what it prints as {@link AgentEvent}s, and turns the final `result` line into an
 * {@link AgentOutcome}.
 *
 * Success is decided only from the `result` line (`is_error === false`), never from the exit code. A run that
 * ends without a `result` line is `crashed`. Aborts and timeouts interrupt the run first (SIGINT, so the CLI
 * reports its cost), then kill the agent's whole process tree (see `supervise.ts`). Every agent is tied to the
 * life of this process (see `lifeline.ts`) and, when the runner is given a process ledger, recorded in the
 * store while it runs, so a later owner of the store can end it if this process dies without doing so.
 *
 * A prompt too long for the command line (over {@link PROMPT_ARGV_MAX_BYTES}) is written to the CLI's stdin,
 * which `claude -p` reads when no prompt argument is given; a system prompt or MCP config that long goes in a
 * temporary file (`--system-prompt-file`, `--append-system-prompt-file`, `--mcp-config <file>`). A command
 * line the system still refuses fails the task, never the slot.
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { usdToMicrodollars } from '../../machines/budget.js';
import type { PermissionDenial, TaskResult } from '../../machines/types.js';
import type { ProcessLedger } from '../store/process-ledger.js';
import { thisHost } from '../store/process-ledger.js';
import { buildClaudeArgv, commandString, mcpConfigJson } from './argv.js';
import { agentLifeline } from './lifeline.js';
import { processStartTime, type ProcessIdentity } from './process-tree.js';
import type { StreamResult, StreamState } from './stream-json.js';
import { supervise, type ExitInfo, type Supervised } from './supervise.js';
import type { AgentEvent, AgentOutcome, AgentRunner, AgentRunRequest, ClaudeOptions, ResolvedConfig } from './types.js';

export {
  DRAIN_GRACE_MS,
  INTERRUPT_GRACE_MS,
  KILL_GRACE_MS,
  POST_RESULT_GRACE_MS,
  STDERR_TAIL_BYTES,
} from './supervise.js';

/** Environment variables removed from the child's environment (they make the CLI think it is nested). */
export const STRIPPED_ENV_VARS: readonly string[] = ['CLAUDECODE', 'CLAUDE_CODE_ENTRYPOINT'];

/**
 * Prompts longer than this (UTF-8 bytes) go to the CLI's stdin instead of its argv. Linux refuses a single
 * argument over 128 KiB (`spawn E2BIG`), and argv and environment together share a limit of their own.
 */
export const PROMPT_ARGV_MAX_BYTES = 64 * 1024;

/** How much of the command a failed result shows (`failedCommand`); the middle of a longer one is cut. */
export const FAILED_COMMAND_MAX_CHARS = 4 * 1024;

/** What a `ClaudeCliRunner` reports beyond the run itself. */
export interface ClaudeCliRunnerHooks {
  /** Where each agent process is recorded while it runs (the store's process ledger). */
  processes?: ProcessLedger;
}

/** Runs prompts with the real `claude` binary (or anything that speaks its stream-json). */
export class ClaudeCliRunner implements AgentRunner {
  /**
   * @param options binary, extra environment, default working directory and default timeout.
   * @param hooks where agent processes are recorded while they run.
   */
  constructor(
    private readonly options: ClaudeOptions = {},
    private readonly hooks: ClaudeCliRunnerHooks = {},
  ) {}

  /**
   * Runs one prompt. Never rejects: spawn errors, crashes, timeouts and aborts all resolve to an outcome.
   * `onEvent` is called synchronously as lines arrive; exceptions it throws are swallowed.
   */
  async run(
    request: AgentRunRequest,
    signal: AbortSignal,
    onEvent: (event: AgentEvent) => void,
  ): Promise<AgentOutcome> {
    const startedAt = performance.now();
    const elapsed = (): number => Math.max(0, Math.round(performance.now() - startedAt));
    const binary = this.options.binary ?? 'claude';
    const promptOnStdin = tooLongForArgv(request.prompt);
    const files = new ArgvFiles();
    let argv: string[];
    try {
      argv = buildClaudeArgv(request.config, { ...request, promptOnStdin, ...files.write(request.config) });
    } catch (err) {
      files.remove();
      // e.g. an MCP config or JSON schema that cannot be serialised, or no room for a system prompt file.
      return spawnFailedOutcome(`invalid run configuration: ${errorMessage(err)}`, binary, elapsed(), request.config);
    }
    try {
      return await this.runCommand(binary, argv, request, signal, onEvent, elapsed);
    } finally {
      files.remove();
    }
  }

  /** Spawns the built command and supervises it to its outcome. */
  private async runCommand(
    binary: string,
    argv: string[],
    request: AgentRunRequest,
    signal: AbortSignal,
    onEvent: (event: AgentEvent) => void,
    elapsed: () => number,
  ): Promise<AgentOutcome> {
    const promptOnStdin = tooLongForArgv(request.prompt);
    const command = describeCommand(binary, argv, promptOnStdin ? request.prompt : undefined);
    // The text streamed so far: a run that fails on an API error keeps it as its partial output.
    const streamed: string[] = [];
    const emitToListener = safeEmitter(onEvent);
    const emit = (event: AgentEvent): void => {
      if (event.type === 'text') streamed.push(event.text);
      emitToListener(event);
    };

    if (signal.aborted) {
      return killedOutcome('aborted', {
        command,
        elapsedMs: elapsed(),
        config: request.config,
        request,
        timeoutMs: undefined,
      });
    }

    const cwd = request.workingDir || this.options.workingDir || process.cwd();
    let subprocess: ReturnType<typeof spawnClaude>;
    try {
      subprocess = spawnClaude(binary, argv, cwd, this.options.env, promptOnStdin ? request.prompt : undefined);
    } catch (err) {
      return spawnFailedOutcome(errorMessage(err), command, elapsed(), request.config);
    }
    const pid = subprocess.pid;
    if (pid === undefined) {
      const settled: unknown = await subprocess.then(
        (r) => r,
        (e: unknown) => e,
      );
      const message = spawnErrorMessage(settled);
      // The system refused this run's own command line: the task fails, the slot is fine.
      if (/\bE2BIG\b/.test(message)) return commandTooLongOutcome(message, command, elapsed(), request.config);
      return spawnFailedOutcome(message, command, elapsed(), request.config);
    }
    emit({ type: 'spawned', pid, command });

    const timeoutMs = effectiveTimeoutMs(request, this.options);
    const agent = this.adopt(pid);
    let supervised: Supervised;
    try {
      supervised = await supervise({ subprocess, agent, signal, timeoutMs, emit });
    } finally {
      this.release(agent);
    }
    return outcomeOf(supervised, {
      command,
      elapsedMs: elapsed(),
      config: request.config,
      request,
      timeoutMs,
      streamed,
    });
  }

  /** Ties a new agent process to this process's life and records it in the ledger. */
  private adopt(pid: number): ProcessIdentity {
    const agent: ProcessIdentity = { pid, pgid: pid, startTime: processStartTime(pid) };
    agentLifeline.register(agent);
    try {
      this.hooks.processes?.recordSpawn({
        ...agent,
        host: thisHost(),
        ownerPid: process.pid,
        ownerStartTime: ownStartTime,
        startedAtMs: Date.now(),
      });
    } catch {
      // A closed or failing store must not stop the run; the lifeline still covers it.
    }
    return agent;
  }

  private release(agent: ProcessIdentity): void {
    agentLifeline.release(agent.pid);
    try {
      this.hooks.processes?.recordExit(agent.pid);
    } catch {
      // see adopt
    }
  }
}

/** True when `text` is too long to be one argument of the command line (see {@link PROMPT_ARGV_MAX_BYTES}). */
export function tooLongForArgv(text: string | undefined): boolean {
  return text !== undefined && Buffer.byteLength(text, 'utf8') > PROMPT_ARGV_MAX_BYTES;
}

/** The file flags' values for `buildClaudeArgv`. */
export interface ArgvFileFlags {
  systemPromptFile?: string;
  appendSystemPromptFile?: string;
  mcpConfigFile?: string;
}

/**
 * Values too long for the command line — system prompts, the MCP config — written to private temporary files
 * for the CLI's `--system-prompt-file`, `--append-system-prompt-file` and `--mcp-config <file>`, and removed
 * when the run is over.
 */
export class ArgvFiles {
  private dir?: string;

  /** Writes the long ones; returns the file flags' values for `buildClaudeArgv`. */
  write(config: ResolvedConfig): ArgvFileFlags {
    const files: ArgvFileFlags = {};
    if (tooLongForArgv(config.systemPrompt))
      files.systemPromptFile = this.file('system-prompt.md', config.systemPrompt ?? '');
    if (tooLongForArgv(config.appendSystemPrompt)) {
      files.appendSystemPromptFile = this.file('append-system-prompt.md', config.appendSystemPrompt ?? '');
    }
    if (Object.keys(config.mcpServers ?? {}).length > 0) {
      const json = mcpConfigJson(config.mcpServers);
      if (tooLongForArgv(json)) files.mcpConfigFile = this.file('mcp-config.json', json);
    }
    return files;
  }

  private file(name: string, text: string): string {
    this.dir ??= mkdtempSync(join(tmpdir(), 'claude-pool-run-'));
    const path = join(this.dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  }

  remove(): void {
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}

/** This process's start time, recorded as the owner's identity. */
export const ownStartTime = processStartTime(process.pid);

/** How many agent processes this process is running now. */
export function liveAgentProcesses(): number {
  return agentLifeline.size;
}

/** Wraps a listener so that its failures cannot break the run. */
export function safeEmitter(onEvent: (event: AgentEvent) => void): (event: AgentEvent) => void {
  return (event) => {
    try {
      onEvent(event);
    } catch {
      // A listener's failure must not break the run.
    }
  };
}

/** The outcome of a supervised run: killed, decided by its result line, or crashed. */
export function outcomeOf(supervised: Supervised, base: OutcomeContext): AgentOutcome {
  const ctx = { ...base, state: supervised.state, exit: supervised.exit, stderr: supervised.stderr };
  if (supervised.killReason !== undefined) return killedOutcome(supervised.killReason, ctx);
  if (supervised.state.result !== undefined) return resultOutcome(supervised.state, supervised.state.result, ctx);
  return crashedOutcome(supervised.state, ctx);
}

/**
 * The command as failure details show it: the shell rendering, with the middle cut when it is longer than
 * {@link FAILED_COMMAND_MAX_CHARS}, and a note of a prompt given on stdin.
 */
export function describeCommand(binary: string, argv: readonly string[], stdinPrompt?: string): string {
  const full = commandString(binary, argv);
  const shown = truncateMiddle(full, FAILED_COMMAND_MAX_CHARS);
  return stdinPrompt === undefined
    ? shown
    : `${shown} < prompt (${Buffer.byteLength(stdinPrompt, 'utf8')} bytes on stdin)`;
}

/** `text` if it fits in `max` characters, else its start and end with a marker of what was cut between. */
export function truncateMiddle(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = Math.floor(max * 0.75);
  const tail = max - head;
  return `${text.slice(0, head)}…[${text.length - head - tail} characters cut]…${text.slice(text.length - tail)}`;
}

function spawnClaude(
  binary: string,
  argv: string[],
  cwd: string,
  extraEnv: Record<string, string> | undefined,
  stdinPrompt: string | undefined,
) {
  return execa(binary, argv, {
    cwd,
    // An open, silent stdin makes the CLI wait 3 s: give it nothing, or the prompt and then end-of-file.
    ...(stdinPrompt === undefined ? { stdin: 'ignore' as const } : { input: stdinPrompt }),
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

/** The run's timeout in ms: the request's, else the options' (`undefined`: none). */
export function effectiveTimeoutMs(request: AgentRunRequest, options: ClaudeOptions): number | undefined {
  const ms = request.timeoutMs ?? (options.timeoutSecs !== undefined ? options.timeoutSecs * 1000 : undefined);
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------------------------

/** What the outcome of a run is built from. */
export interface OutcomeContext {
  command: string;
  elapsedMs: number;
  config: ResolvedConfig;
  request: Pick<AgentRunRequest, 'resumeSessionId' | 'previousSessionCostUsd'>;
  timeoutMs: number | undefined;
  /** The text the run streamed. */
  streamed?: readonly string[];
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
export function pickModel(
  result: StreamResult | undefined,
  initModel: string | undefined,
  configModel: string | undefined,
): string | undefined {
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
  const output = success
    ? (r.result ?? (r.structuredOutput !== undefined ? safeJson(r.structuredOutput) : ''))
    : errorText(r);
  const budgetExceeded =
    r.subtype === 'error_max_budget_usd' ||
    (ctx.config.maxBudgetUsd !== undefined && costUsd > ctx.config.maxBudgetUsd);
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
    if (r.apiErrorStatus !== undefined) {
      result.apiErrorStatus = r.apiErrorStatus;
      const partial = partialOutput(ctx.streamed ?? [], output);
      if (partial !== '') result.partialOutput = partial;
    }
    result.failedCommand = ctx.command;
    if (ctx.exit?.code !== null && ctx.exit?.code !== undefined) result.exitCode = ctx.exit.code;
    if (ctx.exit?.signal) result.signal = ctx.exit.signal;
    if (ctx.stderr) result.stderr = ctx.stderr;
  }
  const outcome: AgentOutcome = { result, kind: 'ok' };
  if (r.totalCostUsd !== undefined) outcome.sessionCostUsd = r.totalCostUsd;
  return outcome;
}

/**
 * What the model had streamed before a run failed on an API error: the streamed text without the CLI's own
 * synthetic error message at its end (that message repeats the result's error text).
 */
export function partialOutput(streamed: readonly string[], errorText: string): string {
  const text = streamed.join('');
  return errorText !== '' && text.endsWith(errorText) ? text.slice(0, text.length - errorText.length) : text;
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
    kind === 'timeout' ? `claude timed out after ${ctx.timeoutMs ?? 0} ms and was stopped` : 'claude run was cancelled';
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

/** The outcome of a run whose agent could not be started. */
export function spawnFailedOutcome(
  message: string,
  command: string,
  elapsedMs: number,
  config: ResolvedConfig,
): AgentOutcome {
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

/**
 * A run whose command line the system refused (`E2BIG`: one of its values is too long for argv even after the
 * prompt, system prompts and MCP config went to stdin and files, e.g. a huge JSON schema). Unlike a binary that
 * cannot start, this is the task's fault, not the slot's: the outcome is an `ok` one with a failed result
 * (`errorCode: 'spawn_failed'`), so the slot stays idle and takes the next task.
 */
function commandTooLongOutcome(
  message: string,
  command: string,
  elapsedMs: number,
  config: ResolvedConfig,
): AgentOutcome {
  const failed = spawnFailedOutcome(
    `${message}: the command line is too long for this system`,
    command,
    elapsedMs,
    config,
  );
  return { ...failed, kind: 'ok' };
}

/** The reason an execa spawn failed, from what it settled with. */
export function spawnErrorMessage(settled: unknown): string {
  if (typeof settled === 'object' && settled !== null) {
    const s = settled as { cause?: unknown; originalMessage?: unknown; shortMessage?: unknown; message?: unknown };
    if (s.cause instanceof Error) return s.cause.message;
    if (typeof s.originalMessage === 'string' && s.originalMessage) return s.originalMessage;
    if (typeof s.shortMessage === 'string' && s.shortMessage) return s.shortMessage;
    if (typeof s.message === 'string' && s.message) return s.message;
  }
  return 'spawn failed';
}

/** An error's message (or the value as text). */
export function errorMessage(err: unknown): string {
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
