/**
 * The simulated agent's behaviour: validates argv like `claude -p` 2.1.331, then plays the script the
 * prompt's `[[sim:…]]` directives describe, printing the real CLI's stream-json (or json, or text).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DirectiveError, parseDirectives, type Script, type ToolAction } from './directives.js';
import { helpText, parseArgv, type SimFlags } from './flags.js';
import {
  apiId,
  apiRetryLine,
  assistantLine,
  CLAUDE_CODE_VERSION,
  type ContentBlock,
  DEFAULT_TOOLS,
  initLine,
  interruptedLine,
  type Json,
  type LineContext,
  type ModelTotals,
  modelUsageRecord,
  type PermissionDenial,
  permissionDeniedLine,
  resolveModel,
  resultLine,
  type ResultInfo,
  resultUsage,
  statusLine,
  streamEventLine,
  syntheticErrorLine,
  toolResultLine,
  zeroedFailureLine,
  zeroUsage,
} from './messages.js';
import { StdoutWriter } from './output.js';
import { latestSessionIn, loadSession, mergeUsage, roundUsd, saveSession, sessionsDir, type SessionState } from './sessions.js';

/** Exit code the real CLI uses after catching SIGTERM. */
export const SIGTERM_EXIT_CODE = 143;

/** Cost of a run when the prompt has no `[[sim:cost …]]`. */
export const DEFAULT_COST_USD = 0.001;

const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BYPASS_ROOT_MESSAGE =
  '--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons';
const INTERRUPTED_TEXT = '[Request interrupted by user]';

/** Thrown inside the script when SIGINT arrives. */
class Interrupted extends Error {}

function stderr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
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

/** Reads the `--mcp-config` values into `init.mcp_servers` entries, or returns the error text. */
function mcpServers(flags: SimFlags, cwd: string): { name: string; status: string; source: string }[] | string {
  const out: { name: string; status: string; source: string }[] = [];
  for (const config of flags.mcpConfig) {
    let text = config;
    if (!config.trim().startsWith('{')) {
      const file = resolve(cwd, config);
      if (!existsSync(file)) return `Error: Invalid MCP configuration:\nMCP config file not found: ${file}`;
      text = readFileSync(file, 'utf8');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return `Error: Invalid MCP configuration:\n${(err as Error).message}`;
    }
    const servers = (parsed as { mcpServers?: unknown } | null)?.mcpServers;
    if (servers && typeof servers === 'object') {
      for (const name of Object.keys(servers)) out.push({ name, status: 'connected', source: 'dynamic' });
    }
  }
  return out;
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

type Round = { kind: 'tool'; action: ToolAction | { kind: 'bash'; step: number } } | { kind: 'final' };

/**
 * Runs the simulated agent with `argv` (no `node`/script entries) and returns its exit code once all
 * output is flushed. Installs SIGINT/SIGTERM handlers for the duration of the run.
 */
export async function runSimulatedAgent(argv: readonly string[]): Promise<number> {
  const startedAt = Date.now();
  const out = new StdoutWriter(process.stdout);
  const cwd = process.cwd();
  const env = process.env;

  const parsed = parseArgv(argv);
  if (parsed.kind === 'version') {
    await out.write(`${CLAUDE_CODE_VERSION} (Claude Code)\n`);
    await out.flush();
    return 0;
  }
  if (parsed.kind === 'help') {
    await out.write(helpText());
    await out.flush();
    return 0;
  }
  if (parsed.kind === 'error') {
    stderr(parsed.message);
    return 1;
  }
  const flags = parsed.flags;
  const stream = flags.outputFormat === 'stream-json';

  if (!flags.print) {
    stderr('Error: the simulated agent only supports print mode: pass -p/--print');
    return 1;
  }
  if (stream && !flags.verbose) {
    stderr('Error: When using --print, --output-format=stream-json requires --verbose');
    return 1;
  }
  if (flags.includePartialMessages && !stream) {
    stderr('Error: --include-partial-messages requires --print and --output-format=stream-json.');
    return 1;
  }
  // No prompt argument: the prompt is what stdin holds (`claude -p` reads it the same way).
  if (flags.prompt === undefined && !process.stdin.isTTY) flags.prompt = await readStdin();
  if (flags.prompt === undefined || flags.prompt.trim() === '') {
    stderr('Error: Input must be provided either through stdin or as a prompt argument when using --print');
    return 1;
  }
  if (flags.effort !== undefined && !EFFORTS.includes(flags.effort)) {
    stderr(
      `Warning: Unknown --effort value '${flags.effort}' — ignoring it and using the default effort. Valid values: low, medium, high, xhigh, max.`,
    );
  }
  const permissionMode = flags.dangerouslySkipPermissions
    ? 'bypassPermissions'
    : !flags.permissionMode || flags.permissionMode === 'manual'
      ? 'default'
      : flags.permissionMode;
  if (permissionMode === 'bypassPermissions' && process.getuid?.() === 0 && env.IS_SANDBOX !== '1') {
    stderr(BYPASS_ROOT_MESSAGE);
    if (stream && env.CLAUDE_CODE_STARTUP_FAILURE_RESULTS === '1') {
      await out.write(`${JSON.stringify(zeroedFailureLine(randomUUID(), [BYPASS_ROOT_MESSAGE], 'bypass_root'))}\n`);
      await out.flush();
    }
    return 1;
  }

  let script: Script;
  try {
    script = parseDirectives(flags.prompt);
  } catch (err) {
    if (err instanceof DirectiveError) {
      stderr(`Error: simulated agent: ${err.message}`);
      return 1;
    }
    throw err;
  }

  // System prompts, as the agent received them (files are read like the real flags do).
  const readPromptFile = (file: string): string | undefined => {
    try {
      return readFileSync(resolve(cwd, file), 'utf8');
    } catch {
      stderr(`Error: Failed to read system prompt file: ${resolve(cwd, file)}`);
      return undefined;
    }
  };
  let systemPrompt = flags.systemPrompt;
  let appendSystemPrompt = flags.appendSystemPrompt;
  if (flags.systemPromptFile !== undefined) {
    systemPrompt = readPromptFile(flags.systemPromptFile);
    if (systemPrompt === undefined) return 1;
  }
  if (flags.appendSystemPromptFile !== undefined) {
    appendSystemPrompt = readPromptFile(flags.appendSystemPromptFile);
    if (appendSystemPrompt === undefined) return 1;
  }

  const servers = mcpServers(flags, cwd);
  if (typeof servers === 'string') {
    stderr(servers);
    return 1;
  }

  // Sessions.
  const stateDir = sessionsDir(env);
  if (script.failTimes && countRun(stateDir, script.failTimes.key) <= script.failTimes.count) {
    script.error = { kind: 'api-error' };
  }
  let prior: SessionState | undefined;
  let sessionId: string;
  const unknownSession = async (message: string): Promise<number> => {
    stderr(message);
    if (stream) {
      await out.write(`${JSON.stringify(zeroedFailureLine(randomUUID(), [message]))}\n`);
      await out.flush();
    }
    return 1;
  };
  if (flags.resume === true) {
    stderr('Error: --resume needs a session ID in print mode (the simulated agent has no interactive picker)');
    return 1;
  }
  if (flags.sessionId !== undefined && !UUID_RE.test(flags.sessionId)) {
    stderr('Error: Invalid session ID. Must be a valid UUID.');
    return 1;
  }
  if (typeof flags.resume === 'string') {
    prior = loadSession(stateDir, flags.resume);
    if (!prior) return unknownSession(`No conversation found with session ID: ${flags.resume}`);
    sessionId = flags.forkSession ? (flags.sessionId ?? randomUUID()) : prior.sessionId;
  } else if (flags.continue) {
    prior = latestSessionIn(stateDir, cwd);
    if (!prior) return unknownSession('No conversation found to continue');
    sessionId = flags.forkSession ? (flags.sessionId ?? randomUUID()) : prior.sessionId;
  } else {
    sessionId = flags.sessionId ?? randomUUID();
  }
  const newSession = prior === undefined || flags.forkSession;
  if (newSession && flags.sessionId !== undefined && loadSession(stateDir, flags.sessionId)) {
    stderr(`Error: Session ID ${flags.sessionId} is already in use.`);
    return 1;
  }
  const persist = (costUsd: number, usage: Record<string, ModelTotals>, countRun: boolean): void => {
    if (!flags.sessionPersistence) return;
    const now = new Date().toISOString();
    try {
      saveSession(stateDir, {
        version: 1,
        sessionId,
        cwd: prior?.cwd ?? cwd,
        createdAt: prior && prior.sessionId === sessionId ? prior.createdAt : now,
        updatedAt: now,
        totalCostUsd: costUsd,
        modelUsage: usage,
        runs: (prior?.runs ?? 0) + (countRun ? 1 : 0),
      });
    } catch (err) {
      stderr(`Warning: simulated agent could not save session ${sessionId}: ${(err as Error).message}`);
    }
  };
  const priorCost = prior?.totalCostUsd ?? 0;
  const priorUsage = prior?.modelUsage ?? {};

  // Side effects requested at start.
  if (script.pidFile !== undefined) {
    const file = resolve(cwd, script.pidFile);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${process.pid}\n`);
  }
  if (script.childPidFile !== undefined) startChild(resolve(cwd, script.childPidFile));
  for (const line of script.stderr) stderr(line);

  // A new (or forked) session exists from the start, so even a crashed run can be resumed.
  if (!prior || prior.sessionId !== sessionId) persist(priorCost, priorUsage, false);

  const model = resolveModel(flags.model);
  const ctx: LineContext = { sessionId, model };
  const configDir = env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), '.claude');
  const workingDirs = [cwd, ...flags.addDir.map((d) => resolve(cwd, d))];
  const tools = toolList(flags);

  // Output plumbing.
  const jsonVerbose = flags.outputFormat === 'json' && flags.verbose;
  const collected: Json[] = [];
  const controller = new AbortController();
  let finishing = false;
  const onSigint = (): void => {
    if (!finishing) controller.abort();
  };
  const onSigterm = (): void => {
    out.silence();
    const timer = setTimeout(() => process.exit(SIGTERM_EXIT_CODE), 1000);
    void out.flush().then(() => {
      clearTimeout(timer);
      process.exit(SIGTERM_EXIT_CODE);
    });
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  const put = async (line: Json): Promise<void> => {
    if (stream) await out.write(`${JSON.stringify(line)}\n`);
    else if (jsonVerbose) collected.push(line);
  };
  const emit = async (line: Json): Promise<void> => {
    await put(line);
    if (controller.signal.aborted) throw new Interrupted();
  };
  const sleep = (ms: number): Promise<void> => abortableSleep(ms, controller.signal);
  const garbage = async (where: string): Promise<void> => {
    if (!script.garbage || !stream) return;
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
    await out.write(`${lines.join('\n')}\n`);
  };

  // Accounting.
  const promptTokens = Math.ceil(flags.prompt.length / 4);
  let callsStarted = 0;
  let callsDone = 0;
  let runCost = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let thinkingTokens = 0;
  let firstContentAt: number | undefined;
  let apiStartedAt: number | undefined;
  const denials: PermissionDenial[] = [];
  const totalCost = script.costUsd ?? DEFAULT_COST_USD;
  let plannedCalls = 1;

  const runUsage = (): Record<string, ModelTotals> =>
    callsDone > 0 ? { [model]: { inputTokens, outputTokens, thinkingTokens, costUSD: runCost } } : {};

  /** Prints the result (in the chosen format), saves the session totals, returns the exit code. */
  const finish = async (
    info: Omit<
      ResultInfo,
      'durationMs' | 'durationApiMs' | 'totalCostUsd' | 'usage' | 'modelUsage' | 'modelUsageSinceLastResult' | 'permissionDenials'
    > & { zeroApi?: boolean },
    exitCode: number,
    text: string,
  ): Promise<number> => {
    finishing = true;
    const now = Date.now();
    const thisRun = runUsage();
    const cumulativeUsage = mergeUsage(priorUsage, thisRun);
    const cumulativeCost = roundUsd(priorCost + runCost);
    persist(cumulativeCost, cumulativeUsage, true);
    const line = resultLine(ctx, {
      ...info,
      durationMs: now - startedAt,
      durationApiMs: info.zeroApi || apiStartedAt === undefined ? 0 : now - apiStartedAt,
      totalCostUsd: cumulativeCost,
      usage: callsDone > 0 ? resultUsage(inputTokens, outputTokens, thinkingTokens) : zeroUsage(),
      modelUsage: modelUsageRecord(cumulativeUsage),
      modelUsageSinceLastResult: flags.outputFormat === 'json' ? undefined : modelUsageRecord(thisRun),
      permissionDenials: denials,
    });
    if (stream) await out.write(`${JSON.stringify(line)}\n`);
    else if (flags.outputFormat === 'json') {
      await out.write(`${JSON.stringify(jsonVerbose ? [...collected, line] : line)}\n`);
    } else await out.write(text);
    await out.flush();
    return exitCode;
  };

  const finishError = (
    subtype: 'error_max_turns' | 'error_max_budget_usd' | 'error_during_execution',
    numTurns: number,
    stopReason: string | null,
    terminalReason: string,
    error: string,
    text: string,
    exitCode: number,
  ): Promise<number> =>
    finish({ subtype, isError: true, numTurns, stopReason, terminalReason, errors: [error] }, exitCode, text);

  const finishApiError = async (
    message: string,
    errorKind: string,
    api: { status: number; type: string } | undefined,
    terminalReason: string,
  ): Promise<number> => {
    await emit(syntheticErrorLine(ctx, message, errorKind, api));
    return finish(
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
      script.exitCode ?? 1,
      `${message}\n`,
    );
  };

  // The answer.
  const extras: string[] = [];
  if (script.echoSystem) {
    extras.push(`sim-echo-system: ${inertJson({ systemPrompt: systemPrompt ?? null, appendSystemPrompt: appendSystemPrompt ?? null })}`);
  }
  if (script.echoArgs) extras.push(`sim-echo-args: ${inertJson(argv)}`);
  if (script.pid) extras.push(`sim-pid: ${process.pid}`);
  let answer: string;
  if (script.largeBytes !== undefined) answer = largeText(script.largeBytes);
  else {
    const base =
      script.text ??
      (script.json ? JSON.stringify(script.json.value) : undefined) ??
      (script.cleanPrompt ? `Simulated answer to: ${script.cleanPrompt.slice(0, 80)}` : 'Simulated answer.');
    answer = [base, ...extras].join('\n');
  }
  let structured: { value: unknown } | undefined;
  if (flags.jsonSchema !== undefined) {
    if (script.json) structured = script.json;
    else {
      try {
        structured = { value: JSON.parse(answer) };
      } catch {
        structured = undefined;
      }
    }
  }

  /** Prints one model call: its content blocks (one assistant line each) and, with partial messages, the SSE events. */
  const emitCall = async (blocks: ContentBlock[], stopReason: string, outTokens: number, index: number): Promise<void> => {
    const call = { messageId: apiId('msg'), requestId: apiId('req'), inputTokens: 2540 + promptTokens + 60 * index };
    const partial = flags.includePartialMessages;
    if (partial) {
      await emit(
        streamEventLine(ctx, {
          type: 'message_start',
          message: {
            id: call.messageId,
            type: 'message',
            role: 'assistant',
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: {
              input_tokens: call.inputTokens,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
              output_tokens: 1,
              service_tier: 'standard',
            },
          },
        }),
      );
    }
    let sawText = false;
    for (const [k, block] of blocks.entries()) {
      if (block.type === 'text') {
        if (sawText && script.chunkDelayMs > 0) await sleep(script.chunkDelayMs);
        sawText = true;
      }
      if (partial) {
        const empty =
          block.type === 'text'
            ? { type: 'text', text: '' }
            : block.type === 'thinking'
              ? { type: 'thinking', thinking: '', signature: '' }
              : { type: 'tool_use', id: block.id, name: block.name, input: {} };
        await emit(streamEventLine(ctx, { type: 'content_block_start', index: k, content_block: empty }));
        const deltas: Json[] =
          block.type === 'text'
            ? splitChunks(block.text, Math.min(4, Math.ceil(block.text.length / 16))).map((t) => ({ type: 'text_delta', text: t }))
            : block.type === 'thinking'
              ? [
                  { type: 'thinking_delta', thinking: block.thinking },
                  { type: 'signature_delta', signature: block.signature },
                ]
              : [{ type: 'input_json_delta', partial_json: JSON.stringify(block.input) }];
        for (const delta of deltas) await emit(streamEventLine(ctx, { type: 'content_block_delta', index: k, delta }));
      }
      firstContentAt ??= Date.now();
      await emit(assistantLine(ctx, call, block));
      if (partial) await emit(streamEventLine(ctx, { type: 'content_block_stop', index: k }));
    }
    if (partial) {
      await emit(
        streamEventLine(ctx, {
          type: 'message_delta',
          delta: { stop_reason: stopReason, stop_sequence: null },
          usage: { output_tokens: outTokens },
          context_management: null,
        }),
      );
      await emit(streamEventLine(ctx, { type: 'message_stop' }));
    }
    callsDone++;
    inputTokens += call.inputTokens;
    outputTokens += outTokens;
    // Exactly the scripted cost once every planned call is done.
    runCost = roundUsd(totalCost * (callsDone / plannedCalls));
  };

  /** Performs one scripted tool call after its tool_use line was printed. */
  const runTool = async (action: Round & { kind: 'tool' }, block: ContentBlock & { type: 'tool_use' }): Promise<void> => {
    const a = action.action;
    const id = block.id;
    if (a.kind === 'bash') {
      const stdout = `step-${a.step}`;
      await emit(
        toolResultLine(ctx, id, stdout, false, { stdout, stderr: '', interrupted: false, isImage: false, noOutputExpected: false }, {
          permission_decision: { decision: 'accept', source: 'config', reason_type: 'subcommandResults' },
        }),
      );
      return;
    }
    const deny = async (message: string): Promise<void> => {
      denials.push({ tool_name: block.name, tool_use_id: id, tool_input: block.input });
      await emit(permissionDeniedLine(ctx, block.name, id, message));
      await emit(
        toolResultLine(ctx, id, message, true, `Error: ${message}`, {
          non_execution_kind: 'user-rejected',
          permission_decision: { decision: 'reject', source: 'config' },
        }),
      );
    };
    if (a.kind === 'deny') {
      const input = block.input as { file_path?: string };
      if (a.tool === 'Bash') await deny('This command requires approval');
      else if (input.file_path !== undefined) {
        await deny(`Claude requested permissions to write to ${input.file_path}, but you haven't granted it yet.`);
      } else await deny(`Claude requested permissions to use ${a.tool}, but you haven't granted it yet.`);
      return;
    }
    // write
    const file = resolve(cwd, a.path);
    if (!tools.includes('Write')) {
      const message = 'Error: No such tool available: Write. Write is disabled for this session, in subagents as well as here.';
      await emit(toolResultLine(ctx, id, `<tool_use_error>${message}</tool_use_error>`, true, message, undefined));
      return;
    }
    const inside = workingDirs.some((dir) => {
      const rel = relative(dir, file);
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
    });
    if (!inside) {
      await deny(`Claude requested permissions to write to ${file}, but you haven't granted it yet.`);
      return;
    }
    let original: string | null = null;
    try {
      if (existsSync(file) && statSync(file).isFile()) original = readFileSync(file, 'utf8');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, a.content);
    } catch (err) {
      const message = (err as Error).message;
      await emit(toolResultLine(ctx, id, `<tool_use_error>${message}</tool_use_error>`, true, `Error: ${message}`, undefined));
      return;
    }
    const created = original === null;
    await emit(
      toolResultLine(
        ctx,
        id,
        created ? `File created successfully at: ${file}` : `The file ${file} has been updated successfully.`,
        false,
        { type: created ? 'create' : 'update', filePath: file, content: a.content, structuredPatch: [], originalFile: original },
        { permission_decision: { decision: 'accept', source: 'config', reason_type: 'mode' } },
      ),
    );
  };

  const toolUseFor = (round: Round & { kind: 'tool' }): ContentBlock & { type: 'tool_use' } => {
    const a = round.action;
    const id = apiId('toolu');
    if (a.kind === 'bash') {
      return { type: 'tool_use', id, name: 'Bash', input: { command: `echo step-${a.step}`, description: `Step ${a.step}` } };
    }
    if (a.kind === 'write') {
      return { type: 'tool_use', id, name: 'Write', input: { file_path: resolve(cwd, a.path), content: a.content } };
    }
    if (a.tool === 'Bash') {
      return { type: 'tool_use', id, name: 'Bash', input: { command: a.target ?? 'npm test', description: 'Run a command' } };
    }
    if (['Write', 'Edit', 'NotebookEdit', 'MultiEdit'].includes(a.tool)) {
      const file_path = resolve(cwd, a.target ?? 'denied.txt');
      const input = a.tool === 'Write' ? { file_path, content: 'simulated content\n' } : { file_path, old_string: 'a', new_string: 'b' };
      return { type: 'tool_use', id, name: a.tool, input };
    }
    return { type: 'tool_use', id, name: a.tool, input: a.target !== undefined ? { target: a.target } : {} };
  };

  /** The scripted flow after `init`. */
  const play = async (): Promise<number> => {
    await garbage('after init');
    if (script.hang) await sleep(Number.POSITIVE_INFINITY);

    if (script.error?.kind === 'not-logged-in') {
      await sleep(script.delayMs);
      return finishApiError('Not logged in · Please run /login', 'authentication_failed', undefined, 'api_error');
    }
    if (script.error?.kind === 'api-error') {
      const status = Number(script.error.arg ?? 529);
      const retries = Math.max(0, Math.min(10, Number.parseInt(env.CLAUDE_CODE_MAX_RETRIES ?? '2', 10) || 0));
      const kind =
        status === 401
          ? { retry: 'authentication_failed', error: 'authentication_failed', type: 'authentication_error', terminal: 'api_error', text: 'Invalid API key · Fix external API key' }
          : status === 400
            ? { retry: '', error: 'invalid_request', type: 'invalid_request_error', terminal: 'prompt_too_long', text: 'Prompt is too long · the request is ~250000 tokens (limit 200000)' }
            : status === 529
              ? { retry: 'overloaded', error: 'server_error', type: 'overloaded_error', terminal: 'api_error', text: 'API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment.' }
              : status === 429
                ? { retry: 'rate_limit', error: 'rate_limit', type: 'rate_limit_error', terminal: 'api_error', text: 'API Error: 429 Rate limited. Try again in a moment.' }
                : { retry: 'server_error', error: 'server_error', type: 'api_error', terminal: 'api_error', text: `API Error: ${status} Internal server error` };
      if (kind.retry) {
        for (let attempt = 1; attempt <= retries; attempt++) {
          await emit(apiRetryLine(ctx, attempt, retries, 500 * 2 ** (attempt - 1) + 37 * attempt, status, kind.retry));
        }
      }
      await sleep(script.delayMs);
      return finishApiError(kind.text, kind.error, { status, type: kind.type }, kind.terminal);
    }

    // The rounds (model calls) to play.
    const forcedTurns = script.error?.kind === 'max-turns';
    const forcedBudget = script.error?.kind === 'budget';
    const turnLimit = forcedTurns ? Number(script.error?.arg ?? flags.maxTurns ?? 1) : flags.maxTurns;
    const budgetCap = forcedBudget ? Number(script.error?.arg ?? flags.maxBudgetUsd ?? totalCost) : flags.maxBudgetUsd;
    const scripted: Round[] = script.tools.map((action) => ({ kind: 'tool', action }));
    const fillers = Math.max(0, (script.turns ?? 1) - 1 - scripted.length);
    for (let s = 0; s < fillers; s++) scripted.push({ kind: 'tool', action: { kind: 'bash', step: s } });
    const endless = forcedTurns || forcedBudget;
    if (!endless) scripted.push({ kind: 'final' });
    plannedCalls = forcedTurns ? Math.max(1, turnLimit ?? 1) : forcedBudget ? 1 : scripted.length;
    let bashStep = fillers;
    const roundAt = (i: number): Round =>
      scripted[i] ?? { kind: 'tool', action: { kind: 'bash', step: bashStep++ } };

    apiStartedAt = Date.now();
    for (let i = 0; ; i++) {
      const callNo = i + 1;
      if (turnLimit !== undefined && callNo > turnLimit) {
        return finishError(
          'error_max_turns',
          turnLimit + 1,
          'tool_use',
          'max_turns',
          `Reached maximum number of turns (${turnLimit})`,
          `Error: Reached max turns (${turnLimit})`,
          script.exitCode ?? 1,
        );
      }
      callsStarted = callNo;
      await sleep(i === 0 ? script.delayMs : script.turnDelayMs);
      await garbage(`before call ${callNo}`);
      const round = roundAt(i);

      if (i === 0 && script.crash) {
        const partialText = answer.slice(0, Math.max(1, Math.floor(answer.length / 2)));
        await emitCall([{ type: 'text', text: partialText }], 'end_turn', 1, i);
        await out.flush();
        stderr(script.crash.message ?? 'Error: simulated crash ([[sim:crash]]): the agent died mid-stream');
        finishing = true;
        return 1;
      }

      let stopReason: string;
      if (round.kind === 'final') {
        const blocks: ContentBlock[] = [];
        if (script.thinking !== undefined) {
          blocks.push({ type: 'thinking', thinking: script.thinking, signature: randomBytes(48).toString('base64') });
          thinkingTokens += Math.ceil(script.thinking.length / 4);
        }
        if (structured) {
          blocks.push({ type: 'tool_use', id: apiId('toolu'), name: 'StructuredOutput', input: structured.value });
          stopReason = 'tool_use';
        } else {
          const pieces = script.largeBytes !== undefined ? [answer] : splitChunks(answer, script.chunks ?? 1);
          for (const text of pieces) blocks.push({ type: 'text', text });
          stopReason = 'end_turn';
        }
        await emitCall(blocks, stopReason, Math.max(1, Math.ceil(answer.length / 4)), i);
      } else {
        const block = toolUseFor(round);
        await emitCall([block], 'tool_use', 19, i);
        stopReason = 'tool_use';
        if (!(budgetCap !== undefined && (forcedBudget || runCost > budgetCap + 1e-12))) await runTool(round, block);
      }

      if (budgetCap !== undefined && (forcedBudget || runCost > budgetCap + 1e-12)) {
        return finishError(
          'error_max_budget_usd',
          callNo,
          stopReason,
          'budget_exhausted',
          `Reached maximum budget ($${budgetCap})`,
          `Error: Reached max budget ($${budgetCap})`,
          script.exitCode ?? 1,
        );
      }
      if (round.kind === 'final') {
        await garbage('before result');
        return finish(
          {
            subtype: 'success',
            isError: false,
            numTurns: callNo,
            stopReason,
            terminalReason: 'completed',
            result: structured ? JSON.stringify(structured.value) : answer,
            structuredOutput: structured?.value,
            apiErrorStatus: null,
            ttftMs: firstContentAt !== undefined && apiStartedAt !== undefined ? firstContentAt - apiStartedAt : undefined,
          },
          script.exitCode ?? 0,
          `${structured ? JSON.stringify(structured.value) : answer}\n`,
        );
      }
    }
  };

  {
    await put(
      initLine(ctx, {
        cwd,
        tools,
        mcpServers: servers,
        permissionMode,
        apiKeySource:
          script.error?.kind === 'not-logged-in' ? 'none' : env.ANTHROPIC_API_KEY ? 'ANTHROPIC_API_KEY' : '/login managed key',
        servedByAnthropic: !env.ANTHROPIC_BASE_URL,
        memoryDir: `${join(configDir, 'projects', cwd.replace(/[^A-Za-z0-9]/g, '-'), 'memory')}/`,
        additionalDirectories: workingDirs.slice(1),
      }),
    );
    if (flags.includePartialMessages) await put(statusLine(ctx, 'requesting'));
    try {
      return await play();
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      await put(interruptedLine(ctx));
      return await finishError(
        'error_during_execution',
        Math.max(1, callsStarted),
        null,
        'aborted_streaming',
        INTERRUPTED_TEXT,
        `Error: ${INTERRUPTED_TEXT}`,
        0,
      );
    }
  }
  // The signal handlers stay installed until the process exits: SIGINT is a no-op once the result is
  // being written, and SIGTERM always ends the process with 143 like the real CLI.
}

/** Reads all of stdin (empty when it is closed or `/dev/null`). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts a child that runs until it is killed, in a process group of its own (as the real CLI starts its Bash
 * tool processes), writes its pid to `file`, and leaves it running whatever becomes of this process.
 */
function startChild(file: string): void {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { detached: true, stdio: 'ignore' });
  child.unref();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${child.pid ?? ''}\n`);
}

/** Counts the runs that carried a `fail-times` key (in the state folder) and returns this run's number. */
function countRun(stateDir: string, key: string): number {
  const dir = join(stateDir, 'fail-counters');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, key);
  let count = 0;
  try {
    count = Number(readFileSync(file, 'utf8')) || 0;
  } catch {
    // first run with this key
  }
  count += 1;
  writeFileSync(file, String(count));
  return count;
}
