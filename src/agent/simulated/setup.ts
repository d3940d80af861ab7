/**
 * What the simulated agent does before it plays its script: checks argv like `claude -p` 2.1.331 does (in the
 * same order), reads the prompt's directives and the system prompts, opens or resumes the session, and
 * performs the side effects asked for at start. Any failure here ends the run with an exit code and stderr
 * text, as the real CLI's would.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DirectiveError, parseDirectives, type Script } from './directives.js';
import { helpText, parseArgv, type SimFlags } from './flags.js';
import { CLAUDE_CODE_VERSION, type ModelTotals, zeroedFailureLine } from './messages.js';
import type { StdoutWriter } from './output.js';
import { latestSessionIn, loadSession, saveSession, sessionsDir, type SessionState } from './sessions.js';

const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BYPASS_ROOT_MESSAGE =
  '--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons';

/** Writes a line to stderr. */
export function stderr(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** The run ends before playing anything, with this exit code. */
export interface EarlyExit {
  earlyExit: number;
}

/** The session the run belongs to, and how its totals are saved. */
export interface RunSession {
  sessionId: string;
  /** The stored session this run continues (resume/continue), if any. */
  prior?: SessionState;
  /** Saves the session's cumulative totals (and counts the run when `countRun`). */
  persist(costUsd: number, usage: Record<string, ModelTotals>, countRun: boolean): void;
}

/** Everything the playback needs, once argv, directives and session are in order. */
export interface RunSetup {
  argv: readonly string[];
  flags: SimFlags;
  script: Script;
  cwd: string;
  env: NodeJS.ProcessEnv;
  startedAt: number;
  permissionMode: string;
  systemPrompt?: string;
  appendSystemPrompt?: string;
  servers: { name: string; status: string; source: string }[];
  session: RunSession;
}

/** Prepares a run from `argv`, or says how it ends early. */
export async function prepareRun(argv: readonly string[], out: StdoutWriter): Promise<RunSetup | EarlyExit> {
  const startedAt = Date.now();
  const cwd = process.cwd();
  const env = process.env;
  const flags = await readFlags(argv, out);
  if ('earlyExit' in flags) return flags;
  const checked = await checkFlags(flags, env, out);
  if (typeof checked !== 'string') return checked;
  const script = readScript(flags.prompt ?? '');
  if ('earlyExit' in script) return script;
  const prompts = readSystemPrompts(flags, cwd);
  if ('earlyExit' in prompts) return prompts;
  const servers = mcpServers(flags, cwd);
  if (typeof servers === 'string') {
    stderr(servers);
    return { earlyExit: 1 };
  }
  const stateDir = sessionsDir(env);
  applyRunCounters(script, stateDir);

  const session = await openSession(flags, stateDir, cwd, out);
  if ('earlyExit' in session) return session;
  startSideEffects(script, cwd);
  // A new (or forked) session exists from the start, so even a crashed run can be resumed.
  const { prior, sessionId } = session;
  if (!prior || prior.sessionId !== sessionId)
    session.persist(prior?.totalCostUsd ?? 0, prior?.modelUsage ?? {}, false);
  return { argv, flags, script, cwd, env, startedAt, permissionMode: checked, ...prompts, servers, session };
}

/** Parses argv; `--version` and `--help` are answered here. */
async function readFlags(argv: readonly string[], out: StdoutWriter): Promise<SimFlags | EarlyExit> {
  const parsed = parseArgv(argv);
  if (parsed.kind === 'version') {
    await out.write(`${CLAUDE_CODE_VERSION} (Claude Code)\n`);
    await out.flush();
    return { earlyExit: 0 };
  }
  if (parsed.kind === 'help') {
    await out.write(helpText());
    await out.flush();
    return { earlyExit: 0 };
  }
  if (parsed.kind === 'error') {
    stderr(parsed.message);
    return { earlyExit: 1 };
  }
  return parsed.flags;
}

/**
 * The flag checks, in the real CLI's order (a missing prompt argument is read from stdin in its turn). Returns
 * the effective permission mode, or how the run ends.
 */
async function checkFlags(flags: SimFlags, env: NodeJS.ProcessEnv, out: StdoutWriter): Promise<string | EarlyExit> {
  const stream = flags.outputFormat === 'stream-json';
  const fail = (message: string): EarlyExit => {
    stderr(message);
    return { earlyExit: 1 };
  };
  if (!flags.print) return fail('Error: the simulated agent only supports print mode: pass -p/--print');
  if (stream && !flags.verbose)
    return fail('Error: When using --print, --output-format=stream-json requires --verbose');
  if (flags.includePartialMessages && !stream) {
    return fail('Error: --include-partial-messages requires --print and --output-format=stream-json.');
  }
  if (flags.inputFormat === 'stream-json') {
    if (!stream) return fail('Error: --input-format=stream-json requires output-format=stream-json.');
    // The prompts come as user messages on stdin, one turn each (`stream-input.ts`).
    if (flags.prompt !== undefined) {
      return fail('Error: a prompt argument cannot be used with --input-format=stream-json');
    }
  } else if (flags.prompt === undefined && !process.stdin.isTTY) {
    // No prompt argument: the prompt is what stdin holds (`claude -p` reads it the same way).
    flags.prompt = await readStdin();
  }
  if (flags.inputFormat !== 'stream-json' && (flags.prompt === undefined || flags.prompt.trim() === '')) {
    return fail('Error: Input must be provided either through stdin or as a prompt argument when using --print');
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
    return { earlyExit: 1 };
  }
  return permissionMode;
}

/** The prompt's directives, or the error a bad one gives. */
function readScript(prompt: string): Script | EarlyExit {
  try {
    return parseDirectives(prompt);
  } catch (err) {
    if (err instanceof DirectiveError) {
      stderr(`Error: simulated agent: ${err.message}`);
      return { earlyExit: 1 };
    }
    throw err;
  }
}

/** System prompts, as the agent received them (files are read like the real flags do). */
function readSystemPrompts(
  flags: SimFlags,
  cwd: string,
): { systemPrompt?: string; appendSystemPrompt?: string } | EarlyExit {
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
    if (systemPrompt === undefined) return { earlyExit: 1 };
  }
  if (flags.appendSystemPromptFile !== undefined) {
    appendSystemPrompt = readPromptFile(flags.appendSystemPromptFile);
    if (appendSystemPrompt === undefined) return { earlyExit: 1 };
  }
  return { systemPrompt, appendSystemPrompt };
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

/** The session flags: a new session, `--resume <id>`, `--continue`, `--session-id`, `--fork-session`. */
async function openSession(
  flags: SimFlags,
  stateDir: string,
  cwd: string,
  out: StdoutWriter,
): Promise<RunSession | EarlyExit> {
  const stream = flags.outputFormat === 'stream-json';
  const unknownSession = async (message: string): Promise<EarlyExit> => {
    stderr(message);
    if (stream) {
      await out.write(`${JSON.stringify(zeroedFailureLine(randomUUID(), [message]))}\n`);
      await out.flush();
    }
    return { earlyExit: 1 };
  };
  if (flags.resume === true) {
    stderr('Error: --resume needs a session ID in print mode (the simulated agent has no interactive picker)');
    return { earlyExit: 1 };
  }
  if (flags.sessionId !== undefined && !UUID_RE.test(flags.sessionId)) {
    stderr('Error: Invalid session ID. Must be a valid UUID.');
    return { earlyExit: 1 };
  }
  let prior: SessionState | undefined;
  let sessionId: string;
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
    return { earlyExit: 1 };
  }
  const persist = (costUsd: number, usage: Record<string, ModelTotals>, countsRun: boolean): void => {
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
        runs: (prior?.runs ?? 0) + (countsRun ? 1 : 0),
      });
    } catch (err) {
      stderr(`Warning: simulated agent could not save session ${sessionId}: ${(err as Error).message}`);
    }
  };
  return { sessionId, prior, persist };
}

/** `fail-times` and `first-text`: counts this run under their keys and applies what the count decides. */
export function applyRunCounters(script: Script, stateDir: string): void {
  if (script.failTimes && countRun(stateDir, script.failTimes.key) <= script.failTimes.count) {
    script.error = { kind: 'api-error', arg: String(script.failTimes.status ?? 529) };
  }
  // A keyed rate limit rejects only the first run that carries the key.
  if (script.rateLimit?.key !== undefined && countRun(stateDir, `rate-limit-${script.rateLimit.key}`) > 1) {
    script.rateLimit = undefined;
    script.rateLimitAllowed = true;
  }
  if (script.firstText && countRun(stateDir, `first-text-${script.firstText.key}`) === 1) {
    script.text = script.firstText.text;
    script.json = undefined;
  }
}

/** Side effects requested at start: the pid file, a child of its own, stderr lines. */
export function startSideEffects(script: Script, cwd: string): void {
  if (script.pidFile !== undefined) {
    const file = resolve(cwd, script.pidFile);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${process.pid}\n`);
  }
  if (script.childPidFile !== undefined) startChild(resolve(cwd, script.childPidFile));
  for (const line of script.stderr) stderr(line);
}

/** Reads all of stdin (empty when it is closed or `/dev/null`). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
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

/**
 * Counts the runs that carried a `fail-times` key (in the state folder) and returns this run's number. The count
 * is read and written under a lock (a directory made with `mkdir`, which is atomic), so runs of many processes
 * at once each get their own number: a burst of N failures spans processes.
 */
function countRun(stateDir: string, key: string): number {
  const dir = join(stateDir, 'fail-counters');
  mkdirSync(dir, { recursive: true });
  const locks = join(stateDir, 'fail-counter-locks');
  mkdirSync(locks, { recursive: true });
  const lock = join(locks, key);
  acquireLock(lock);
  try {
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
  } finally {
    rmdirSync(lock);
  }
}

/** How old a counter lock may get before it counts as left behind by a process that died holding it. */
const STALE_LOCK_MS = 5_000;

/** Takes a lock directory, waiting (a few ms at a time) while another process holds it. */
function acquireLock(lock: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmdirSync(lock);
    } catch {
      // released meanwhile
    }
    Atomics.wait(pause, 0, 0, 2);
  }
}
