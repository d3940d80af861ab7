/**
 * The simulated agent's playback: after `init`, the model calls the script asks for (tool rounds, then the
 * answer, or a scripted failure), printed as the real CLI's stream-json (or json, or text), with SIGINT and
 * SIGTERM handled as the real CLI handles them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Script, ToolAction } from './directives.js';
import type { SimFlags } from './flags.js';
import {
  apiId,
  apiRetryLine,
  rateLimitEventLine,
  assistantLine,
  type ContentBlock,
  DEFAULT_TOOLS,
  initLine,
  interruptedLine,
  type Json,
  type LineContext,
  type ModelTotals,
  modelUsageRecord,
  type PermissionDenial,
  messageUsage,
  permissionDeniedLine,
  resolveModel,
  resultLine,
  type ResultInfo,
  resultUsage,
  statusLine,
  streamEventLine,
  syntheticErrorLine,
  toolResultLine,
  zeroUsage,
} from './messages.js';
import type { StdoutWriter } from './output.js';
import { mergeUsage, roundUsd } from './sessions.js';
import { stderr, type RunSetup } from './setup.js';

/** Exit code the real CLI uses after catching SIGTERM. */
export const SIGTERM_EXIT_CODE = 143;

/** Cost of a run when the prompt has no `[[sim:cost …]]`. */
export const DEFAULT_COST_USD = 0.001;

const INTERRUPTED_TEXT = '[Request interrupted by user]';

/** Thrown inside the script when SIGINT arrives. */
class Interrupted extends Error {}

/** Thrown when an interrupt arrives while a tool call waits for permission (the real CLI rejects the call). */
class InterruptedAtTool extends Interrupted {}

/** The tool result of a call rejected by an interrupt while it waited for permission (as the real CLI says it). */
const REJECTED_BY_INTERRUPT =
  "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.";

/** One model call of the script: a tool round or the final answer. */
type Round = { kind: 'tool'; action: ToolAction | { kind: 'bash'; step: number } } | { kind: 'final' };

/** A tool round's `tool_use` block. */
type ToolUse = ContentBlock & { type: 'tool_use' };

/** The result fields a finishing step gives; the rest (durations, costs, usage, denials) is filled in. */
type FinishInfo = Omit<
  ResultInfo,
  | 'durationMs'
  | 'durationApiMs'
  | 'totalCostUsd'
  | 'usage'
  | 'modelUsage'
  | 'modelUsageSinceLastResult'
  | 'permissionDenials'
> & { zeroApi?: boolean };

/** How a scripted API error looks, by HTTP status. */
interface ApiErrorKind {
  retry: string;
  error: string;
  type: string;
  terminal: string;
  text: string;
}

/** JSON text with `[[sim:` escaped (still valid JSON) so echoed prompts never re-trigger directives. */
function inertJson(value: unknown): string {
  return JSON.stringify(value).replace(/\[\[sim:/g, '\\u005b\\u005bsim:');
}

/** Splits `text` into `n` nearly equal pieces without cutting a surrogate pair. */
function splitChunks(text: string, n: number): string[] {
  if (n <= 1 || text.length <= 1) return [text];
  const parts: string[] = [];
  let start = 0;
  for (let i = 1; i <= n && start < text.length; i++) {
    let end = i === n ? text.length : Math.round((text.length * i) / n);
    if (end > start && end < text.length) {
      const code = text.charCodeAt(end);
      if (code >= 0xdc00 && code <= 0xdfff) end++;
    }
    if (end > start) parts.push(text.slice(start, end));
    start = Math.max(start, end);
  }
  return parts;
}

/** An ASCII text of exactly `bytes` bytes. */
function largeText(bytes: number): string {
  const unit = 'simulated large output 0123456789 abcdefghijklmnopqrstuvwxyz. ';
  return unit.repeat(Math.ceil(bytes / unit.length) + 1).slice(0, bytes);
}

/** The tool list of `init.tools`. */
function toolList(flags: SimFlags): string[] {
  let tools: string[];
  if (flags.tools === undefined) tools = [...DEFAULT_TOOLS];
  else {
    tools = [];
    for (const t of flags.tools) {
      if (t === 'default') tools.push(...DEFAULT_TOOLS);
      else tools.push(t);
    }
  }
  tools = [...new Set(tools)].filter((t) => !flags.disallowedTools.includes(t));
  if (flags.jsonSchema !== undefined) tools.push('StructuredOutput');
  return tools;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new Interrupted());
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolveSleep, reject) => {
    const forever = !Number.isFinite(ms) || ms > 2_000_000_000;
    const timer = forever ? setInterval(() => {}, 1_000_000_000) : setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      clearInterval(timer);
      signal.removeEventListener('abort', onAbort);
      resolveSleep();
    }
    function onAbort(): void {
      clearTimeout(timer);
      clearInterval(timer);
      reject(new Interrupted());
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The answer text: `large`, else `text`/`json`/the default, followed by the `echo-*` and `pid` lines. */
function buildAnswer(setup: RunSetup): string {
  const { script, argv } = setup;
  if (script.largeBytes !== undefined) return largeText(script.largeBytes);
  const extras: string[] = [];
  if (script.echoSystem) {
    const shown = { systemPrompt: setup.systemPrompt ?? null, appendSystemPrompt: setup.appendSystemPrompt ?? null };
    extras.push(`sim-echo-system: ${inertJson(shown)}`);
  }
  if (script.echoArgs) extras.push(`sim-echo-args: ${inertJson(argv)}`);
  if (script.pid) extras.push(`sim-pid: ${process.pid}`);
  const base =
    script.text ??
    (script.json ? JSON.stringify(script.json.value) : undefined) ??
    (script.cleanPrompt ? `Simulated answer to: ${script.cleanPrompt.slice(0, 80)}` : 'Simulated answer.');
  return [base, ...extras].join('\n');
}

/** With `--json-schema`: the structured answer (the `json` directive, or an answer that parses), if any. */
function structuredAnswer(flags: SimFlags, script: Script, answer: string): { value: unknown } | undefined {
  if (flags.jsonSchema === undefined) return undefined;
  if (script.json) return script.json;
  try {
    return { value: JSON.parse(answer) };
  } catch {
    return undefined;
  }
}

/** The scripted API error for an HTTP status. */
function apiErrorKind(status: number): ApiErrorKind {
  if (status === 401) {
    return {
      retry: 'authentication_failed',
      error: 'authentication_failed',
      type: 'authentication_error',
      terminal: 'api_error',
      text: 'Invalid API key · Fix external API key',
    };
  }
  if (status === 400) {
    return {
      retry: '',
      error: 'invalid_request',
      type: 'invalid_request_error',
      terminal: 'prompt_too_long',
      text: 'Prompt is too long · the request is ~250000 tokens (limit 200000)',
    };
  }
  if (status === 529) {
    return {
      retry: 'overloaded',
      error: 'server_error',
      type: 'overloaded_error',
      terminal: 'api_error',
      text: 'API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment.',
    };
  }
  if (status === 429) {
    return {
      retry: 'rate_limit',
      error: 'rate_limit',
      type: 'rate_limit_error',
      terminal: 'api_error',
      text: 'API Error: 429 Rate limited. Try again in a moment.',
    };
  }
  return {
    retry: 'server_error',
    error: 'server_error',
    type: 'api_error',
    terminal: 'api_error',
    text: `API Error: ${status} Internal server error`,
  };
}

/** The `tool_use` block of a tool round. */
function toolUseFor(round: Round & { kind: 'tool' }, cwd: string): ToolUse {
  const a = round.action;
  const id = apiId('toolu');
  if (a.kind === 'bash') {
    return {
      type: 'tool_use',
      id,
      name: 'Bash',
      input: { command: `echo step-${a.step}`, description: `Step ${a.step}` },
    };
  }
  if (a.kind === 'write') {
    return { type: 'tool_use', id, name: 'Write', input: { file_path: resolve(cwd, a.path), content: a.content } };
  }
  if (a.kind === 'ask' && a.tool === 'Write') {
    const file_path = resolve(cwd, a.target ?? 'asked.txt');
    return { type: 'tool_use', id, name: 'Write', input: { file_path, content: a.content ?? 'simulated content\n' } };
  }
  if (a.tool === 'Bash') {
    return {
      type: 'tool_use',
      id,
      name: 'Bash',
      input: { command: a.target ?? 'npm test', description: 'Run a command' },
    };
  }
  if (['Write', 'Edit', 'NotebookEdit', 'MultiEdit'].includes(a.tool)) {
    const file_path = resolve(cwd, a.target ?? 'denied.txt');
    const input =
      a.tool === 'Write'
        ? { file_path, content: 'simulated content\n' }
        : { file_path, old_string: 'a', new_string: 'b' };
    return { type: 'tool_use', id, name: a.tool, input };
  }
  return { type: 'tool_use', id, name: a.tool, input: a.target !== undefined ? { target: a.target } : {} };
}

/** The `stream_event` deltas of one content block (with `--include-partial-messages`). */
function blockDeltas(block: ContentBlock): Json[] {
  if (block.type === 'text') {
    return splitChunks(block.text, Math.min(4, Math.ceil(block.text.length / 16))).map((t) => ({
      type: 'text_delta',
      text: t,
    }));
  }
  if (block.type === 'thinking') {
    return [
      { type: 'thinking_delta', thinking: block.thinking },
      { type: 'signature_delta', signature: block.signature },
    ];
  }
  return [{ type: 'input_json_delta', partial_json: JSON.stringify(block.input) }];
}

/** An empty block of the same kind, for `content_block_start`. */
function emptyBlock(block: ContentBlock): Json {
  if (block.type === 'text') return { type: 'text', text: '' };
  if (block.type === 'thinking') return { type: 'thinking', thinking: '', signature: '' };
  return { type: 'tool_use', id: block.id, name: block.name, input: {} };
}

/** A host's answer to a `can_use_tool` question. */
export type HostDecision =
  { behavior: 'allow'; updatedInput?: Record<string, unknown> } | { behavior: 'deny'; message: string };

/** How a playback runs as one turn of a stream-json session (`stream-input.ts`). */
export interface TurnHooks {
  /** Asks the host about a tool call (a `can_use_tool` control request); rejects when the host went away. */
  askPermission(block: { id: string; name: string; input: unknown }, signal: AbortSignal): Promise<HostDecision>;
}

/** The message of a question left unanswered because stdin closed. */
export const PERMISSION_STREAM_CLOSED =
  'Tool permission request failed: AbortError: Tool permission stream closed before response received';

/** Tools that edit files (allowed without asking in `acceptEdits` mode). */
const EDIT_TOOLS = ['Write', 'Edit', 'NotebookEdit', 'MultiEdit'];

/** One run's playback. */
export class Playback {
  private readonly stream: boolean;
  private readonly jsonVerbose: boolean;
  private readonly collected: Json[] = [];
  private readonly controller = new AbortController();
  private finishing = false;
  private readonly ctx: LineContext;
  private readonly model: string;
  private readonly tools: string[];
  private readonly workingDirs: string[];
  private readonly answer: string;
  private readonly structured: { value: unknown } | undefined;
  private readonly totalCost: number;
  private readonly promptTokens: number;
  // Accounting.
  private callsStarted = 0;
  private callsDone = 0;
  private runCost = 0;
  private inputTokens = 0;
  private outputTokens = 0;
  private thinkingTokens = 0;
  private firstContentAt: number | undefined;
  private apiStartedAt: number | undefined;
  private readonly denials: PermissionDenial[] = [];
  private plannedCalls = 1;

  constructor(
    private readonly setup: RunSetup,
    private readonly out: StdoutWriter,
    private readonly turn?: TurnHooks,
  ) {
    const { flags, script, cwd, session } = setup;
    this.stream = flags.outputFormat === 'stream-json';
    this.jsonVerbose = flags.outputFormat === 'json' && flags.verbose;
    this.model = resolveModel(flags.model);
    this.ctx = { sessionId: session.sessionId, model: this.model };
    this.tools = toolList(flags);
    this.workingDirs = [cwd, ...flags.addDir.map((d) => resolve(cwd, d))];
    this.answer = buildAnswer(setup);
    this.structured = structuredAnswer(flags, script, this.answer);
    this.totalCost = script.costUsd ?? DEFAULT_COST_USD;
    this.promptTokens = Math.ceil((flags.prompt ?? '').length / 4);
  }

  private get script(): Script {
    return this.setup.script;
  }

  /** Prints `init`, plays the script, and returns the exit code once the output is flushed. */
  async run(): Promise<number> {
    if (!this.turn) this.installSignalHandlers();
    await this.put(this.initLine());
    if (this.setup.flags.includePartialMessages) await this.put(statusLine(this.ctx, 'requesting'));
    try {
      return await this.play();
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      return this.finishInterrupted(err instanceof InterruptedAtTool);
    }
    // The signal handlers stay installed until the process exits: SIGINT is a no-op once the result is
    // being written, and SIGTERM always ends the process with 143 like the real CLI.
  }

  /** Interrupts the script, as SIGINT does (an interrupt control request in a session). */
  interrupt(): void {
    if (!this.finishing) this.controller.abort();
  }

  /** SIGINT interrupts the script (unless the result is being written); SIGTERM ends at once with 143. */
  private installSignalHandlers(): void {
    process.on('SIGINT', () => {
      if (!this.finishing) this.controller.abort();
    });
    process.on('SIGTERM', () => {
      this.out.silence();
      const timer = setTimeout(() => process.exit(SIGTERM_EXIT_CODE), 1000);
      void this.out.flush().then(() => {
        clearTimeout(timer);
        process.exit(SIGTERM_EXIT_CODE);
      });
    });
  }

  private initLine(): Json {
    const { script, env, cwd, servers, permissionMode } = this.setup;
    const configDir = env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), '.claude');
    return initLine(this.ctx, {
      cwd,
      tools: this.tools,
      mcpServers: servers,
      permissionMode,
      apiKeySource:
        script.error?.kind === 'not-logged-in'
          ? 'none'
          : env.ANTHROPIC_API_KEY
            ? 'ANTHROPIC_API_KEY'
            : '/login managed key',
      servedByAnthropic: !env.ANTHROPIC_BASE_URL,
      memoryDir: `${join(configDir, 'projects', cwd.replace(/[^A-Za-z0-9]/g, '-'), 'memory')}/`,
      additionalDirectories: this.workingDirs.slice(1),
    });
  }

  // --- output ---------------------------------------------------------------------------------------------

  private async put(line: Json): Promise<void> {
    if (this.stream) await this.out.write(`${JSON.stringify(line)}\n`);
    else if (this.jsonVerbose) this.collected.push(line);
  }

  /** Prints a line, then stops the script if SIGINT arrived meanwhile. */
  private async emit(line: Json): Promise<void> {
    await this.put(line);
    if (this.controller.signal.aborted) throw new Interrupted();
  }

  private sleep(ms: number): Promise<void> {
    return abortableSleep(ms, this.controller.signal);
  }

  /** With `garbage`: a batch of lines a parser must skip. */
  private async garbage(where: string): Promise<void> {
    if (!this.script.garbage || !this.stream) return;
    const sessionId = this.ctx.sessionId;
    const lines = [
      `this line is not JSON (simulated garbage ${where})`,
      '',
      '{"type":"keep_alive"}',
      JSON.stringify({ type: 'sim_unknown_type', note: where, session_id: sessionId, uuid: randomUUID() }),
      '{"type":"assistant","message":{"id":"msg_truncated',
      JSON.stringify({ type: 'system', subtype: 'sim_unknown_subtype', session_id: sessionId, uuid: randomUUID() }),
      '[1,2,3]',
      '"a JSON string, not an object"',
      'null',
    ];
    await this.out.write(`${lines.join('\n')}\n`);
  }

  // --- finishing ------------------------------------------------------------------------------------------

  private runUsage(): Record<string, ModelTotals> {
    return this.callsDone > 0
      ? {
          [this.model]: {
            inputTokens: this.inputTokens,
            outputTokens: this.outputTokens,
            thinkingTokens: this.thinkingTokens,
            costUSD: this.runCost,
          },
        }
      : {};
  }

  /** Prints the result (in the chosen format), saves the session totals, returns the exit code. */
  private async finish(info: FinishInfo, exitCode: number, text: string): Promise<number> {
    this.finishing = true;
    const { flags, session, startedAt } = this.setup;
    const now = Date.now();
    const thisRun = this.runUsage();
    const cumulativeUsage = mergeUsage(session.prior?.modelUsage ?? {}, thisRun);
    const cumulativeCost = roundUsd((session.prior?.totalCostUsd ?? 0) + this.runCost);
    session.persist(cumulativeCost, cumulativeUsage, true);
    const line = resultLine(this.ctx, {
      ...info,
      durationMs: now - startedAt,
      durationApiMs: info.zeroApi || this.apiStartedAt === undefined ? 0 : now - this.apiStartedAt,
      totalCostUsd: cumulativeCost,
      usage: this.callsDone > 0 ? resultUsage(this.inputTokens, this.outputTokens, this.thinkingTokens) : zeroUsage(),
      modelUsage: modelUsageRecord(cumulativeUsage),
      modelUsageSinceLastResult: flags.outputFormat === 'json' ? undefined : modelUsageRecord(thisRun),
      permissionDenials: this.denials,
    });
    if (this.stream) await this.out.write(`${JSON.stringify(line)}\n`);
    else if (flags.outputFormat === 'json') {
      await this.out.write(`${JSON.stringify(this.jsonVerbose ? [...this.collected, line] : line)}\n`);
    } else await this.out.write(text);
    await this.out.flush();
    return exitCode;
  }

  private finishError(
    subtype: 'error_max_turns' | 'error_max_budget_usd' | 'error_during_execution',
    numTurns: number,
    stopReason: string | null,
    terminalReason: string,
    error: string,
    text: string,
    exitCode: number,
  ): Promise<number> {
    return this.finish(
      { subtype, isError: true, numTurns, stopReason, terminalReason, errors: [error] },
      exitCode,
      text,
    );
  }

  private async finishApiError(
    message: string,
    errorKind: string,
    api: { status: number; type: string } | undefined,
    terminalReason: string,
  ): Promise<number> {
    await this.emit(syntheticErrorLine(this.ctx, message, errorKind, api));
    return this.finish(
      {
        subtype: 'success',
        isError: true,
        numTurns: 1,
        stopReason: 'stop_sequence',
        terminalReason,
        result: message,
        apiErrorStatus: api ? api.status : null,
        apiErrorType: api?.type,
        zeroApi: true,
      },
      this.script.exitCode ?? 1,
      `${message}\n`,
    );
  }

  /** SIGINT (or an interrupt): the interrupted `user` line and an `error_during_execution` result, exit 0. At a
   * permission question the call is rejected first and the turn ends as `aborted_tools`, as the real CLI ends it. */
  private async finishInterrupted(atTool = false): Promise<number> {
    await this.put(interruptedLine(this.ctx, atTool ? `${INTERRUPTED_TEXT.slice(0, -1)} for tool use]` : undefined));
    return this.finishError(
      'error_during_execution',
      Math.max(1, this.callsStarted),
      null,
      atTool ? 'aborted_tools' : 'aborted_streaming',
      INTERRUPTED_TEXT,
      `Error: ${INTERRUPTED_TEXT}`,
      0,
    );
  }

  private finishMaxTurns(turnLimit: number): Promise<number> {
    return this.finishError(
      'error_max_turns',
      turnLimit + 1,
      'tool_use',
      'max_turns',
      `Reached maximum number of turns (${turnLimit})`,
      `Error: Reached max turns (${turnLimit})`,
      this.script.exitCode ?? 1,
    );
  }

  private finishBudget(budgetCap: number, callNo: number, stopReason: string): Promise<number> {
    return this.finishError(
      'error_max_budget_usd',
      callNo,
      stopReason,
      'budget_exhausted',
      `Reached maximum budget ($${budgetCap})`,
      `Error: Reached max budget ($${budgetCap})`,
      this.script.exitCode ?? 1,
    );
  }

  private finishSuccess(callNo: number, stopReason: string): Promise<number> {
    const structured = this.structured;
    const { firstContentAt, apiStartedAt } = this;
    return this.finish(
      {
        subtype: 'success',
        isError: false,
        numTurns: callNo,
        stopReason,
        terminalReason: 'completed',
        result: structured ? JSON.stringify(structured.value) : this.answer,
        structuredOutput: structured?.value,
        apiErrorStatus: null,
        ttftMs: firstContentAt !== undefined && apiStartedAt !== undefined ? firstContentAt - apiStartedAt : undefined,
      },
      this.script.exitCode ?? 0,
      `${structured ? JSON.stringify(structured.value) : this.answer}\n`,
    );
  }

  // --- model calls ----------------------------------------------------------------------------------------

  /** Prints one model call: its content blocks (one assistant line each) and, with partial messages, the SSE events. */
  private async emitCall(blocks: ContentBlock[], stopReason: string, outTokens: number, index: number): Promise<void> {
    const call = {
      messageId: apiId('msg'),
      requestId: apiId('req'),
      inputTokens: 2540 + this.promptTokens + 60 * index,
    };
    const partial = this.setup.flags.includePartialMessages;
    if (partial)
      await this.emit(streamEventLine(this.ctx, { type: 'message_start', message: this.startedMessage(call) }));
    let sawText = false;
    for (const [k, block] of blocks.entries()) {
      if (block.type === 'text') {
        if (sawText && this.script.chunkDelayMs > 0) await this.sleep(this.script.chunkDelayMs);
        sawText = true;
      }
      if (partial) {
        await this.emit(
          streamEventLine(this.ctx, { type: 'content_block_start', index: k, content_block: emptyBlock(block) }),
        );
        for (const delta of blockDeltas(block)) {
          await this.emit(streamEventLine(this.ctx, { type: 'content_block_delta', index: k, delta }));
        }
      }
      this.firstContentAt ??= Date.now();
      await this.emit(assistantLine(this.ctx, call, block));
      if (partial) await this.emit(streamEventLine(this.ctx, { type: 'content_block_stop', index: k }));
    }
    if (partial) {
      await this.emit(
        streamEventLine(this.ctx, {
          type: 'message_delta',
          delta: { stop_reason: stopReason, stop_sequence: null },
          usage: { output_tokens: outTokens },
          context_management: null,
        }),
      );
      await this.emit(streamEventLine(this.ctx, { type: 'message_stop' }));
    }
    this.bookCall(call.inputTokens, outTokens);
  }

  /** The `message` of a `message_start` event. */
  private startedMessage(call: { messageId: string; inputTokens: number }): Json {
    return {
      id: call.messageId,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: messageUsage(call.inputTokens),
    };
  }

  /** Counts a finished call; the cost is exactly the scripted total once every planned call is done. */
  private bookCall(inputTokens: number, outTokens: number): void {
    this.callsDone++;
    this.inputTokens += inputTokens;
    this.outputTokens += outTokens;
    this.runCost = roundUsd(this.totalCost * (this.callsDone / this.plannedCalls));
  }

  // --- tools ------------------------------------------------------------------------------------------------

  /** Performs one scripted tool call after its tool_use line was printed. */
  private async runTool(round: Round & { kind: 'tool' }, block: ToolUse): Promise<void> {
    const a = round.action;
    if (a.kind === 'bash') {
      const stdout = `step-${a.step}`;
      await this.emit(
        toolResultLine(
          this.ctx,
          block.id,
          stdout,
          false,
          { stdout, stderr: '', interrupted: false, isImage: false, noOutputExpected: false },
          {
            permission_decision: { decision: 'accept', source: 'config', reason_type: 'subcommandResults' },
          },
        ),
      );
      return;
    }
    if (a.kind === 'deny') {
      const input = block.input as { file_path?: string };
      if (a.tool === 'Bash') await this.deny(block, 'This command requires approval');
      else if (input.file_path !== undefined) {
        await this.deny(
          block,
          `Claude requested permissions to write to ${input.file_path}, but you haven't granted it yet.`,
        );
      } else await this.deny(block, `Claude requested permissions to use ${a.tool}, but you haven't granted it yet.`);
      return;
    }
    if (a.kind === 'ask') {
      await this.ask(block, a.tool);
      return;
    }
    await this.write(block, a.path, a.content);
  }

  /**
   * A call that needs permission: allowed by the mode or `--allowedTools`, denied by the mode, or asked of the
   * host (`--permission-prompt-tool stdio` in a session), which allows (the call runs, with its updated input)
   * or denies (with the host's message).
   */
  private async ask(block: ToolUse, tool: string): Promise<void> {
    const { permissionMode, flags } = this.setup;
    const input = block.input as { file_path?: string };
    const target = input.file_path;
    const allowedByMode =
      permissionMode === 'bypassPermissions' || (permissionMode === 'acceptEdits' && EDIT_TOOLS.includes(tool));
    if (allowedByMode || flags.allowedTools.includes(tool)) return this.perform(block, block.input);
    if (permissionMode === 'plan') {
      return this.deny(
        block,
        target ? `Cannot write to ${target} while in plan mode.` : `Cannot use ${tool} in plan mode.`,
      );
    }
    if (permissionMode === 'dontAsk') {
      return this.deny(
        block,
        `Permission to use ${tool} has been denied because Claude Code is running in don't ask mode.`,
      );
    }
    const unasked = target
      ? `Claude requested permissions to write to ${target}, but you haven't granted it yet.`
      : `Claude requested permissions to use ${tool}, but you haven't granted it yet.`;
    if (!this.turn || flags.permissionPromptTool !== 'stdio') return this.deny(block, unasked);
    let decision: HostDecision;
    try {
      decision = await this.turn.askPermission(block, this.controller.signal);
    } catch (err) {
      if (this.controller.signal.aborted) {
        this.denials.push({ tool_name: block.name, tool_use_id: block.id, tool_input: block.input });
        await this.put(
          toolResultLine(this.ctx, block.id, REJECTED_BY_INTERRUPT, true, `Error: ${REJECTED_BY_INTERRUPT}`, {
            non_execution_kind: 'user-rejected',
            permission_decision: { decision: 'reject', source: 'host' },
          }),
        );
        throw new InterruptedAtTool();
      }
      return this.deny(block, err instanceof Error && err.message ? err.message : PERMISSION_STREAM_CLOSED);
    }
    if (this.controller.signal.aborted) throw new Interrupted();
    if (decision.behavior === 'deny') return this.deny(block, decision.message);
    return this.perform(block, decision.updatedInput ?? block.input);
  }

  /** Runs an allowed call: Write writes the file; other tools answer with a short success text. */
  private async perform(block: ToolUse, input: unknown): Promise<void> {
    const i = (input ?? {}) as { file_path?: unknown; content?: unknown };
    if (block.name === 'Write' && typeof i.file_path === 'string') {
      const content = typeof i.content === 'string' ? i.content : '';
      return this.write({ ...block, input: { file_path: i.file_path, content } }, i.file_path, content);
    }
    await this.emit(
      toolResultLine(this.ctx, block.id, `${block.name} done`, false, `${block.name} done`, {
        permission_decision: { decision: 'accept', source: 'host' },
      }),
    );
  }

  /** A denied tool call: `permission_denied`, then an error tool_result; listed in `permission_denials`. */
  private async deny(block: ToolUse, message: string): Promise<void> {
    this.denials.push({ tool_name: block.name, tool_use_id: block.id, tool_input: block.input });
    await this.emit(permissionDeniedLine(this.ctx, block.name, block.id, message));
    await this.emit(
      toolResultLine(this.ctx, block.id, message, true, `Error: ${message}`, {
        non_execution_kind: 'user-rejected',
        permission_decision: { decision: 'reject', source: 'config' },
      }),
    );
  }

  /** The Write tool: really writes the file, inside the working directories only. */
  private async write(block: ToolUse, path: string, content: string): Promise<void> {
    const id = block.id;
    const file = resolve(this.setup.cwd, path);
    if (!this.tools.includes('Write')) {
      const message =
        'Error: No such tool available: Write. Write is disabled for this session, in subagents as well as here.';
      await this.emit(
        toolResultLine(this.ctx, id, `<tool_use_error>${message}</tool_use_error>`, true, message, undefined),
      );
      return;
    }
    const inside = this.workingDirs.some((dir) => {
      const rel = relative(dir, file);
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
    });
    if (!inside) {
      await this.deny(block, `Claude requested permissions to write to ${file}, but you haven't granted it yet.`);
      return;
    }
    let original: string | null = null;
    try {
      if (existsSync(file) && statSync(file).isFile()) original = readFileSync(file, 'utf8');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    } catch (err) {
      const message = (err as Error).message;
      await this.emit(
        toolResultLine(
          this.ctx,
          id,
          `<tool_use_error>${message}</tool_use_error>`,
          true,
          `Error: ${message}`,
          undefined,
        ),
      );
      return;
    }
    const created = original === null;
    await this.emit(
      toolResultLine(
        this.ctx,
        id,
        created ? `File created successfully at: ${file}` : `The file ${file} has been updated successfully.`,
        false,
        { type: created ? 'create' : 'update', filePath: file, content, structuredPatch: [], originalFile: original },
        { permission_decision: { decision: 'accept', source: 'config', reason_type: 'mode' } },
      ),
    );
  }

  // --- the script -------------------------------------------------------------------------------------------

  /** The scripted flow after `init`. */
  private async play(): Promise<number> {
    await this.garbage('after init');
    const { rateLimit, rateLimitAllowed, apiRetries } = this.script;
    if (apiRetries) {
      const kind = apiErrorKind(apiRetries.status);
      for (let attempt = 1; attempt <= apiRetries.count; attempt++) {
        const delayMs = 500 * 2 ** (attempt - 1) + 37 * attempt;
        await this.emit(apiRetryLine(this.ctx, attempt, 10, delayMs, apiRetries.status, kind.retry || kind.error));
      }
    }
    if (this.script.hang) await this.sleep(Number.POSITIVE_INFINITY);
    if (this.script.error?.kind === 'not-logged-in') {
      await this.sleep(this.script.delayMs);
      return this.finishApiError('Not logged in · Please run /login', 'authentication_failed', undefined, 'api_error');
    }
    if (this.script.error?.kind === 'api-error') return this.playApiError(Number(this.script.error.arg ?? 529));
    if (rateLimit || rateLimitAllowed) {
      const resetInMs = rateLimit ? rateLimit.resetInMs : 5 * 3_600_000;
      const resetsAt = Math.ceil((Date.now() + resetInMs) / 1000);
      await this.emit(rateLimitEventLine(this.ctx, rateLimit ? 'rejected' : 'allowed', resetsAt));
      if (rateLimit) return this.playApiError(429);
    }
    return this.playRounds();
  }

  /** `error api-error`: the retries, then the synthetic error message and its result. */
  private async playApiError(status: number): Promise<number> {
    const env = this.setup.env;
    const retries = Math.max(0, Math.min(10, Number.parseInt(env.CLAUDE_CODE_MAX_RETRIES ?? '2', 10) || 0));
    const kind = apiErrorKind(status);
    // With `text`, the model had begun to answer when the call failed: that text is streamed first.
    if (this.script.text !== undefined) {
      const call = { messageId: apiId('msg'), requestId: apiId('req'), inputTokens: 2540 + this.promptTokens };
      await this.emit(assistantLine(this.ctx, call, { type: 'text', text: this.script.text }));
    }
    if (kind.retry) {
      for (let attempt = 1; attempt <= retries; attempt++) {
        await this.emit(
          apiRetryLine(this.ctx, attempt, retries, 500 * 2 ** (attempt - 1) + 37 * attempt, status, kind.retry),
        );
      }
    }
    await this.sleep(this.script.delayMs);
    return this.finishApiError(kind.text, kind.error, { status, type: kind.type }, kind.terminal);
  }

  /** The model calls: tool rounds, then the answer, within the turn and budget limits. */
  private async playRounds(): Promise<number> {
    const { script } = this;
    const flags = this.setup.flags;
    const forcedTurns = script.error?.kind === 'max-turns';
    const forcedBudget = script.error?.kind === 'budget';
    const turnLimit = forcedTurns ? Number(script.error?.arg ?? flags.maxTurns ?? 1) : flags.maxTurns;
    const budgetCap = forcedBudget
      ? Number(script.error?.arg ?? flags.maxBudgetUsd ?? this.totalCost)
      : flags.maxBudgetUsd;
    const roundAt = this.planRounds(forcedTurns, forcedBudget, turnLimit);
    const overBudget = (): boolean => budgetCap !== undefined && (forcedBudget || this.runCost > budgetCap + 1e-12);

    this.apiStartedAt = Date.now();
    for (let i = 0; ; i++) {
      const callNo = i + 1;
      if (turnLimit !== undefined && callNo > turnLimit) return this.finishMaxTurns(turnLimit);
      this.callsStarted = callNo;
      await this.sleep(i === 0 ? script.delayMs : script.turnDelayMs);
      await this.garbage(`before call ${callNo}`);
      const round = roundAt(i);
      if (i === 0 && script.crash) return this.crash(i);
      let stopReason: string;
      if (round.kind === 'final') {
        stopReason = await this.playAnswer(i);
      } else {
        const block = toolUseFor(round, this.setup.cwd);
        await this.emitCall([block], 'tool_use', 19, i);
        stopReason = 'tool_use';
        if (!overBudget()) await this.runTool(round, block);
        if (script.hangAfterTools && i === script.tools.length - 1) await this.sleep(Number.POSITIVE_INFINITY);
      }
      if (budgetCap !== undefined && overBudget()) return this.finishBudget(budgetCap, callNo, stopReason);
      if (round.kind === 'final') {
        await this.garbage('before result');
        return this.finishSuccess(callNo, stopReason);
      }
    }
  }

  /**
   * The rounds to play: the scripted tools, bash rounds to make up `turns`, then the answer (none when a
   * max-turns or budget failure is forced: the rounds go on until the limit). Sets the planned call count.
   */
  private planRounds(forcedTurns: boolean, forcedBudget: boolean, turnLimit: number | undefined): (i: number) => Round {
    const scripted: Round[] = this.script.tools.map((action) => ({ kind: 'tool', action }));
    const fillers = Math.max(0, (this.script.turns ?? 1) - 1 - scripted.length);
    for (let s = 0; s < fillers; s++) scripted.push({ kind: 'tool', action: { kind: 'bash', step: s } });
    if (!(forcedTurns || forcedBudget)) scripted.push({ kind: 'final' });
    this.plannedCalls = forcedTurns ? Math.max(1, turnLimit ?? 1) : forcedBudget ? 1 : scripted.length;
    let bashStep = fillers;
    return (i) => scripted[i] ?? { kind: 'tool', action: { kind: 'bash', step: bashStep++ } };
  }

  /** The final call: thinking, then the answer text (or the StructuredOutput call). Returns its stop reason. */
  private async playAnswer(index: number): Promise<string> {
    const blocks: ContentBlock[] = [];
    const { script, answer, structured } = this;
    if (script.thinking !== undefined) {
      blocks.push({ type: 'thinking', thinking: script.thinking, signature: randomBytes(48).toString('base64') });
      this.thinkingTokens += Math.ceil(script.thinking.length / 4);
    }
    let stopReason: string;
    if (structured) {
      blocks.push({ type: 'tool_use', id: apiId('toolu'), name: 'StructuredOutput', input: structured.value });
      stopReason = 'tool_use';
    } else {
      const pieces = script.largeBytes !== undefined ? [answer] : splitChunks(answer, script.chunks ?? 1);
      for (const text of pieces) blocks.push({ type: 'text', text });
      stopReason = 'end_turn';
    }
    await this.emitCall(blocks, stopReason, Math.max(1, Math.ceil(answer.length / 4)), index);
    return stopReason;
  }

  /** `crash`: half of the answer, the message on stderr, exit 1 with no result. */
  private async crash(index: number): Promise<number> {
    const partialText = this.answer.slice(0, Math.max(1, Math.floor(this.answer.length / 2)));
    await this.emitCall([{ type: 'text', text: partialText }], 'end_turn', 1, index);
    await this.out.flush();
    stderr(this.script.crash?.message ?? 'Error: simulated crash ([[sim:crash]]): the agent died mid-stream');
    this.finishing = true;
    return 1;
  }
}
