import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PermissionDenial } from '../../machines/types.js';
import { buildClaudeArgv, commandString, shellQuote } from '../../src/agent/argv.js';
import {
  ClaudeCliRunner,
  buildChildEnv,
  computeRunCostUsd,
  partialOutput,
  pickModel,
  usdToMicrodollars,
} from '../../src/agent/claude-cli.js';
import type {
  AgentEvent,
  AgentOutcome,
  AgentRunRequest,
  ClaudeOptions,
  ResolvedConfig,
} from '../../src/agent/types.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cliDir = path.resolve(repoRoot, 'test', 'fixtures', 'claude-cli');

// ---------------------------------------------------------------------------------------------------------------
// Fake `claude` binaries: tiny node scripts with an absolute-path shebang, so they run as real child processes.
// ---------------------------------------------------------------------------------------------------------------

let tmp: string;
let replayBin: string;
let probeBin: string;
let hangBin: string;

const REPLAY = `
import { readFileSync } from 'node:fs';
const data = readFileSync(process.env.REPLAY_FILE);
const code = Number(process.env.REPLAY_EXIT ?? '0');
const chunk = Number(process.env.REPLAY_CHUNK ?? '61');
if (process.env.REPLAY_STDERR) process.stderr.write(process.env.REPLAY_STDERR);
let i = 0;
const next = () => {
  if (i >= data.length) { process.exitCode = code; return; }
  const piece = data.subarray(i, i + chunk);
  i += chunk;
  process.stdout.write(piece, next);
};
next();
`;

const PROBE = `
import { fstatSync, statSync } from 'node:fs';
let stdinIsDevNull;
try {
  const st = fstatSync(0);
  stdinIsDevNull = st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev;
} catch (e) { stdinIsDevNull = 'error:' + e.code; }
const report = { argv: process.argv.slice(2), env: process.env, cwd: process.cwd(), stdinIsDevNull };
process.stdout.write(JSON.stringify({ type: 'system', subtype: 'init', session_id: 'probe-session', model: 'probe-model' }) + '\\n');
process.stdout.write(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: JSON.stringify(report), total_cost_usd: 0, num_turns: 1, session_id: 'probe-session' }) + '\\n');
`;

// Writes "<pid> <grandchild pid>" to PID_FILE, prints an init line (the "ready" signal) and hangs.
// IGNORE_TERM=1: it and its grandchild ignore SIGINT and SIGTERM, so only SIGKILL ends them.
// HANG_PARTIAL=1: also prints half a line with no newline.
// HANG_RESULT=exit: prints a result line and exits, leaving the grandchild holding stdout.
// HANG_RESULT=stay: prints a result line and keeps running.
const HANG = `
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const ignore = process.env.IGNORE_TERM === '1';
if (ignore) process.on('SIGTERM', () => {}).on('SIGINT', () => {});
const grandchildCode = ignore
  ? "process.on('SIGTERM', () => {}).on('SIGINT', () => {}); setInterval(() => {}, 1000);"
  : 'setInterval(() => {}, 1000);';
const grandchild = spawn(process.execPath, ['-e', grandchildCode], { stdio: 'inherit' });
writeFileSync(process.env.PID_FILE, process.pid + ' ' + grandchild.pid);
process.stdout.write(JSON.stringify({ type: 'system', subtype: 'init', session_id: 'hang-session', model: 'hang-model' }) + '\\n');
if (process.env.HANG_PARTIAL === '1') process.stdout.write('{"type":"result","is_err');
if (process.env.HANG_RESULT) {
  const result = { type: 'result', subtype: 'success', is_error: false, result: 'done', total_cost_usd: 0.001, num_turns: 1, session_id: 'hang-session' };
  process.stdout.write(JSON.stringify(result) + '\\n', () => {
    if (process.env.HANG_RESULT === 'exit') process.exit(0);
  });
}
setInterval(() => {}, 1000);
`;

function writeBin(name: string, body: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, `#!${process.execPath}\n${body}`);
  chmodSync(file, 0o755);
  return file;
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'claude-cli-test-'));
  replayBin = writeBin('replay.mjs', REPLAY);
  probeBin = writeBin('probe.mjs', PROBE);
  hangBin = writeBin('hang.mjs', HANG);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function config(overrides: Partial<ResolvedConfig> = {}): ResolvedConfig {
  return {
    permissionMode: 'plan',
    allowedTools: [],
    disallowedTools: [],
    mcpServers: {},
    strictMcpConfig: true,
    ...overrides,
  };
}

async function runWith(
  options: ClaudeOptions,
  request: Partial<AgentRunRequest> = {},
  signal: AbortSignal = new AbortController().signal,
  onEvent?: (event: AgentEvent) => void,
): Promise<{ outcome: AgentOutcome; events: AgentEvent[] }> {
  const events: AgentEvent[] = [];
  const runner = new ClaudeCliRunner(options);
  const outcome = await runner.run({ prompt: 'hello', config: config(), workingDir: tmp, ...request }, signal, (e) => {
    events.push(e);
    onEvent?.(e);
  });
  return { outcome, events };
}

function replay(file: string, exitCode: number, extraEnv: Record<string, string> = {}): ClaudeOptions {
  return {
    binary: replayBin,
    env: { REPLAY_FILE: file, REPLAY_EXIT: String(exitCode), ...extraEnv },
  };
}

/** True while `pid` exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

function readPids(pidFile: string): number[] {
  return readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
}

// ---------------------------------------------------------------------------------------------------------------
// Every fixture, replayed through a real child process.
// Expected values were read from the fixture files and fixtures.md by hand.
// ---------------------------------------------------------------------------------------------------------------

interface Expected {
  exit: number;
  kind: AgentOutcome['kind'];
  success: boolean;
  costMicrodollars: number;
  sessionCostUsd?: number;
  turns: number;
  sessionId: string;
  model: string;
  /** Exact output; for crashed runs, a substring. */
  output: string;
  subtype?: string;
  budgetExceeded?: boolean;
  denials: PermissionDenial[];
  texts: string[];
  tools: string[];
  denied: string[];
  stderr?: string;
}

const PROMPT_TOO_LONG =
  'Prompt is too long · the request is ~250000 tokens (limit 200000) but this conversation is only ~2507 tokens — the rest is system prompt, tool definitions, and attachment content. A single-exchange conversation cannot be compacted; reduce attached files/tools or start with less context.';
const MULTI_TURN_FINAL =
  'The tree has one modified file (src/index.ts) and one untracked file (notes.md). Tests run with `npm test` (vitest). I could not create TESTING.md: write permission was not granted.';
const BYPASS_ROOT = '--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons';
const OVERLOADED = 'API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment.';

const EXPECTED: Record<string, Expected> = {
  'captured/api-400-prompt-too-long.stream-json.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 0,
    sessionCostUsd: 0,
    turns: 1,
    sessionId: 'ed82a3cc-0c18-4458-9e82-7b6bb6e24be1',
    model: 'claude-opus-5-5',
    output: PROMPT_TOO_LONG,
    subtype: 'success',
    denials: [],
    texts: [PROMPT_TOO_LONG],
    tools: [],
    denied: [],
  },
  'captured/api-401.stream-json.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 0,
    sessionCostUsd: 0,
    turns: 1,
    sessionId: '40601c0c-6db7-47f0-bb62-fc4da2b558cf',
    model: 'claude-opus-5-5',
    output: 'Invalid API key · Fix external API key',
    subtype: 'success',
    denials: [],
    texts: ['Invalid API key · Fix external API key'],
    tools: [],
    denied: [],
  },
  'captured/bypass-as-root.stream-json.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 0,
    sessionCostUsd: 0,
    turns: 0,
    sessionId: '8c30fabe-eab6-4a16-a2bf-cd604979aab0',
    model: 'sonnet' /* no init, empty modelUsage → config */,
    output: BYPASS_ROOT,
    subtype: 'error_during_execution',
    denials: [],
    texts: [],
    tools: [],
    denied: [],
    stderr: BYPASS_ROOT,
  },
  'captured/killed-by-SIGTERM.stream-json.jsonl': {
    exit: 143,
    kind: 'crashed',
    success: false,
    costMicrodollars: 0,
    turns: 0,
    sessionId: '5f241be2-169b-4e17-81e5-3574b425591e',
    model: 'claude-opus-5-5',
    output: 'claude exited with code 143 without a result',
    denials: [],
    texts: [],
    tools: [],
    denied: [],
  },
  'captured/max-budget.stream-json.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 21560,
    sessionCostUsd: 0.021560000000000003,
    turns: 2,
    sessionId: 'd9538b34-1793-4730-8dca-6452f9646684',
    model: 'claude-opus-5-5',
    output: 'Reached maximum budget ($0.015)',
    subtype: 'error_max_budget_usd',
    budgetExceeded: true,
    denials: [],
    texts: [],
    tools: ['Bash', 'Bash'],
    denied: [],
  },
  'captured/max-turns.stream-json.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 21380,
    sessionCostUsd: 0.02138,
    turns: 3,
    sessionId: '7f0f9052-a266-4b17-b390-b3e09cca12c2',
    model: 'claude-opus-5-5',
    output: 'Reached maximum number of turns (2)',
    subtype: 'error_max_turns',
    denials: [],
    texts: [],
    tools: ['Bash', 'Bash'],
    denied: [],
  },
  'captured/no-credentials.stream-json.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 0,
    sessionCostUsd: 0,
    turns: 1,
    sessionId: '62415e46-6fa5-498f-b718-2435b65e4d34',
    model: 'claude-opus-5-5',
    output: 'Not logged in · Please run /login',
    subtype: 'success',
    denials: [],
    texts: ['Not logged in · Please run /login'],
    tools: [],
    denied: [],
  },
  'captured/simple.stream-json.jsonl': {
    exit: 0,
    kind: 'ok',
    success: true,
    costMicrodollars: 10560,
    sessionCostUsd: 0.01056,
    turns: 1,
    sessionId: 'b4a2ae78-5827-49b7-b1cb-49ea4c2d1fb0',
    model: 'claude-opus-5-5',
    output: 'Hello! 2 + 2 = 4.',
    subtype: 'success',
    budgetExceeded: false,
    denials: [],
    texts: ['Hello! 2 + 2 = 4.'],
    tools: [],
    denied: [],
  },
  'captured/tools-bash-read.stream-json.jsonl': {
    exit: 0,
    kind: 'ok',
    success: true,
    costMicrodollars: 32824,
    sessionCostUsd: 0.032824,
    turns: 3,
    sessionId: 'fdd142b9-1c9d-424f-8cb2-8e91d8b1a916',
    model: 'claude-opus-5-5',
    output: 'Done: the command printed hello-from-tool and notes.txt says hi.',
    subtype: 'success',
    denials: [],
    texts: ['I will run a command.', 'Done: the command printed hello-from-tool and notes.txt says hi.'],
    tools: ['Bash', 'Read'],
    denied: [],
  },
  'captured/write-denied.stream-json.jsonl': {
    exit: 0,
    kind: 'ok',
    success: true,
    costMicrodollars: 21520,
    sessionCostUsd: 0.02152,
    turns: 2,
    sessionId: '7b477891-d5a0-43f1-8594-4205d6a353ea',
    model: 'claude-opus-5-5',
    output: 'I could not write the file: permission was denied.',
    subtype: 'success',
    denials: [
      {
        toolName: 'Write',
        toolUseId: 'toolu_01MockWrite00000000001',
        toolInput: { file_path: '/home/user/project/out.txt', content: 'written by mock\n' },
      },
    ],
    texts: ['I could not write the file: permission was denied.'],
    tools: ['Write'],
    denied: ['Write'],
  },
  'hand-written/error-api-overloaded.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 0,
    sessionCostUsd: 0,
    turns: 1,
    sessionId: '8ff50d3b-63c0-4b7a-991d-718254b44d69',
    model: 'claude-opus-5-5',
    output: OVERLOADED,
    subtype: 'success',
    denials: [],
    texts: [OVERLOADED],
    tools: [],
    denied: [],
  },
  'hand-written/error-max-turns.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 121519,
    sessionCostUsd: 0.121519,
    turns: 3,
    sessionId: 'd4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70',
    model: 'claude-opus-5-5',
    output: 'Reached maximum number of turns (2)',
    subtype: 'error_max_turns',
    denials: [],
    texts: [],
    tools: ['Bash', 'Bash'],
    denied: [],
  },
  'hand-written/error-not-logged-in.jsonl': {
    exit: 1,
    kind: 'ok',
    success: false,
    costMicrodollars: 0,
    sessionCostUsd: 0,
    turns: 1,
    sessionId: '62415e46-6fa5-498f-b718-2435b65e4d34',
    model: 'claude-opus-5-5',
    output: 'Not logged in · Please run /login',
    subtype: 'success',
    denials: [],
    texts: ['Not logged in · Please run /login'],
    tools: [],
    denied: [],
  },
  'hand-written/success-partial-messages.jsonl': {
    exit: 0,
    kind: 'ok',
    success: true,
    costMicrodollars: 110002,
    sessionCostUsd: 0.110002,
    turns: 1,
    sessionId: 'f1e2d3c4-b5a6-4978-8d6c-5b4a39281706',
    model: 'claude-opus-5-5',
    output: '2 + 2 = 4.',
    subtype: 'success',
    denials: [],
    texts: ['2 + 2', ' = 4.'],
    tools: [],
    denied: [],
  },
  'hand-written/success-single-turn.jsonl': {
    exit: 0,
    kind: 'ok',
    success: true,
    costMicrodollars: 109662,
    sessionCostUsd: 0.109662,
    turns: 1,
    sessionId: '5c0d5f8e-8a3b-4d2e-9f61-2b7c4e1a9d03',
    model: 'claude-opus-5-5',
    output: '2 + 2 = 4.',
    subtype: 'success',
    denials: [],
    texts: ['2 + 2 = 4.'],
    tools: [],
    denied: [],
  },
  'hand-written/tool-use-multi-turn.jsonl': {
    exit: 0,
    kind: 'ok',
    success: true,
    costMicrodollars: 146288,
    sessionCostUsd: 0.146288,
    turns: 4,
    sessionId: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    model: 'claude-opus-5-5',
    output: MULTI_TURN_FINAL,
    subtype: 'success',
    denials: [
      {
        toolName: 'Write',
        toolUseId: 'toolu_01Wr2Et4Ry6Tu8Yi0Uo2Ip4A',
        toolInput: { file_path: '/home/dev/project/TESTING.md', content: '# Testing\n\nRun `npm test` (vitest).\n' },
      },
    ],
    texts: ["I'll check the working tree first.", MULTI_TURN_FINAL],
    tools: ['Bash', 'Read', 'Write'],
    denied: ['Write'],
  },
};

const fixtureFiles = ['captured', 'hand-written'].flatMap((dir) =>
  readdirSync(path.join(cliDir, dir))
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => `${dir}/${f}`),
);

describe('fixture replay through a real child process', () => {
  it('finds the fixtures and has an expectation for every one', () => {
    expect(fixtureFiles.length).toBeGreaterThanOrEqual(16);
    expect([...fixtureFiles].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(fixtureFiles)('%s', async (rel) => {
    const exp = EXPECTED[rel];
    expect(exp, `no expectation for ${rel}`).toBeDefined();
    const { outcome, events } = await runWith(
      replay(path.join(cliDir, rel), exp.exit, exp.stderr ? { REPLAY_STDERR: exp.stderr } : {}),
      { config: config({ model: 'sonnet' }) },
    );
    const r = outcome.result;
    expect(outcome.kind).toBe(exp.kind);
    expect(r.success).toBe(exp.success);
    expect(r.costMicrodollars).toBe(exp.costMicrodollars);
    expect(outcome.sessionCostUsd).toBe(exp.sessionCostUsd);
    expect(r.turnsUsed).toBe(exp.turns);
    expect(r.sessionId).toBe(exp.sessionId);
    expect(r.model).toBe(exp.model);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(0);
    if (exp.kind === 'crashed') {
      expect(r.output).toContain(exp.output);
      expect(r.errorCode).toBe('crashed');
      expect(r.exitCode).toBe(exp.exit);
      expect(r.failedCommand).toContain(replayBin);
      expect(r.permissionDenials ?? []).toEqual([]);
    } else {
      expect(r.output).toBe(exp.output);
      expect(r.subtype).toBe(exp.subtype);
      expect(r.permissionDenials).toEqual(exp.denials);
      expect(r.errorCode).toBeUndefined();
      expect(r.budgetExceeded).toBe(exp.budgetExceeded ?? false);
      expect(r.exitCode).toBe(exp.success ? undefined : exp.exit);
    }
    if (exp.stderr) expect(r.stderr).toContain(exp.stderr);

    expect(events[0]).toMatchObject({ type: 'spawned', command: expect.stringContaining(replayBin) });
    expect(events.filter((e) => e.type === 'spawned')).toHaveLength(1);
    const init = events.find((e) => e.type === 'init');
    if (rel.includes('bypass-as-root')) expect(init).toBeUndefined();
    else expect(init).toEqual({ type: 'init', sessionId: exp.sessionId, model: 'claude-opus-5-5' });
    expect(events.flatMap((e) => (e.type === 'text' ? [e.text] : []))).toEqual(exp.texts);
    expect(events.flatMap((e) => (e.type === 'tool_use' ? [e.name] : []))).toEqual(exp.tools);
    expect(events.flatMap((e) => (e.type === 'permission_denied' ? [e.toolName] : []))).toEqual(exp.denied);
  });

  it('decides from the result line even when the exit code disagrees', async () => {
    const { outcome } = await runWith(replay(path.join(cliDir, 'captured/simple.stream-json.jsonl'), 1));
    expect(outcome.kind).toBe('ok');
    expect(outcome.result.success).toBe(true);
    expect(outcome.result.costMicrodollars).toBe(10560);
  });

  it('a result line arriving in one write per byte still parses (multi-byte characters split)', async () => {
    const { outcome } = await runWith(
      replay(path.join(cliDir, 'captured/no-credentials.stream-json.jsonl'), 1, { REPLAY_CHUNK: '1' }),
    );
    expect(outcome.result.output).toBe('Not logged in · Please run /login');
  });

  it('flags budgetExceeded when the run cost more than the cap', async () => {
    const { outcome } = await runWith(replay(path.join(cliDir, 'captured/simple.stream-json.jsonl'), 0), {
      config: config({ maxBudgetUsd: 0.01 }),
    });
    expect(outcome.result.success).toBe(true);
    expect(outcome.result.budgetExceeded).toBe(true);
  });

  it('a crash without a result reports exit code and the stderr tail', async () => {
    const file = path.join(tmp, 'crash.jsonl');
    writeFileSync(file, `${JSON.stringify({ type: 'system', subtype: 'init', session_id: 'crash-s', model: 'm' })}\n`);
    const { outcome } = await runWith(replay(file, 1, { REPLAY_STDERR: 'fatal: something broke\n' }));
    expect(outcome.kind).toBe('crashed');
    expect(outcome.result).toMatchObject({
      success: false,
      errorCode: 'crashed',
      exitCode: 1,
      sessionId: 'crash-s',
      model: 'm',
      output: 'claude exited with code 1 without a result: fatal: something broke',
      stderr: 'fatal: something broke\n',
    });
    expect(outcome.result.failedCommand).toMatch(/ -p --output-format stream-json --verbose /);
  });

  it('keeps only the last 64 kB of stderr', async () => {
    const file = path.join(tmp, 'empty.jsonl');
    writeFileSync(file, '');
    const big = `${'a'.repeat(70 * 1024)}THE-END`;
    const { outcome } = await runWith(replay(file, 2, { REPLAY_STDERR: big }));
    expect(outcome.kind).toBe('crashed');
    expect(outcome.result.stderr?.length).toBe(64 * 1024);
    expect(outcome.result.stderr?.endsWith('THE-END')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Cost accounting
// ---------------------------------------------------------------------------------------------------------------

describe('cost', () => {
  it('converts USD to truncated microdollars', () => {
    expect(usdToMicrodollars(0.01056)).toBe(10560);
    expect(usdToMicrodollars(0.021560000000000003)).toBe(21560);
    expect(usdToMicrodollars(0.0000019)).toBe(1);
    expect(usdToMicrodollars(0.021232 - 0.010552)).toBe(10680); // float noise: 0.010679999…
    expect(usdToMicrodollars(0)).toBe(0);
    expect(usdToMicrodollars(-1)).toBe(0);
    expect(usdToMicrodollars(Number.NaN)).toBe(0);
  });

  it('prefers model_usage_since_last_result, then the resume difference, then the total', () => {
    const resumed = { resumeSessionId: 's', previousSessionCostUsd: 0.010552 };
    expect(
      computeRunCostUsd(
        {
          totalCostUsd: 0.05,
          sessionId: 's',
          modelUsageSinceLastResult: { a: { costUSD: 0.004 }, b: { costUSD: 0.001 } },
        },
        resumed,
      ),
    ).toBeCloseTo(0.005, 12);
    expect(computeRunCostUsd({ totalCostUsd: 0.021232, sessionId: 's' }, resumed)).toBeCloseTo(0.01068, 12);
    expect(computeRunCostUsd({ totalCostUsd: 0.021232, sessionId: 'forked' }, resumed)).toBe(0.021232);
    expect(computeRunCostUsd({ totalCostUsd: 0.001, sessionId: 's' }, resumed)).toBe(0);
    expect(computeRunCostUsd({ totalCostUsd: 0.021232, sessionId: 's' }, {})).toBe(0.021232);
    expect(computeRunCostUsd({}, {})).toBe(0);
  });

  it('picks the costliest modelUsage key, else init model, else the configured one', () => {
    expect(pickModel({ modelUsage: { cheap: { costUSD: 0.001 }, dear: { costUSD: 0.5 } } }, 'init', 'cfg')).toBe(
      'dear',
    );
    expect(pickModel({ modelUsage: {} }, 'init', 'cfg')).toBe('init');
    expect(pickModel(undefined, undefined, 'cfg')).toBe('cfg');
  });

  function resumeFixture(name: string, result: Record<string, unknown>): string {
    const file = path.join(tmp, name);
    const lines = [
      { type: 'system', subtype: 'init', session_id: 'sess-r', model: 'claude-opus-5-5' },
      { type: 'assistant', message: { id: 'm', content: [{ type: 'text', text: 'again' }] }, session_id: 'sess-r' },
      { type: 'result', subtype: 'success', is_error: false, result: 'again', num_turns: 1, ...result },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    return file;
  }

  it('after --resume of the same session, subtracts the previous cumulative cost', async () => {
    const file = resumeFixture('resume.jsonl', {
      session_id: 'sess-r',
      total_cost_usd: 0.021232,
      modelUsage: { 'claude-opus-5-5': { costUSD: 0.021232 } },
    });
    const { outcome } = await runWith(replay(file, 0), { resumeSessionId: 'sess-r', previousSessionCostUsd: 0.010552 });
    expect(outcome.result.costMicrodollars).toBe(10680);
    expect(outcome.sessionCostUsd).toBe(0.021232);
    expect(outcome.result.sessionId).toBe('sess-r');
  });

  it('after a resume that forked to a new session id, takes the whole total', async () => {
    const file = resumeFixture('fork.jsonl', { session_id: 'sess-new', total_cost_usd: 0.032036 });
    const { outcome } = await runWith(replay(file, 0), { resumeSessionId: 'sess-r', previousSessionCostUsd: 0.021232 });
    expect(outcome.result.costMicrodollars).toBe(32036);
  });

  it('uses model_usage_since_last_result when present, and reports the costliest model', async () => {
    const file = resumeFixture('since.jsonl', {
      session_id: 'sess-r',
      total_cost_usd: 0.021232,
      modelUsage: { 'claude-haiku-5-5': { costUSD: 0.0002 }, 'claude-opus-5-5': { costUSD: 0.021032 } },
      model_usage_since_last_result: {
        'claude-haiku-5-5': { costUSD: 0.0001 },
        'claude-opus-5-5': { costUSD: 0.01058 },
      },
    });
    const { outcome } = await runWith(replay(file, 0), { resumeSessionId: 'sess-r', previousSessionCostUsd: 0.5 });
    expect(outcome.result.costMicrodollars).toBe(10680);
    expect(outcome.result.model).toBe('claude-opus-5-5');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// argv, env, stdin
// ---------------------------------------------------------------------------------------------------------------

describe('argv', () => {
  const full = config({
    model: 'sonnet',
    fallbackModel: 'haiku',
    maxTurns: 5,
    maxBudgetUsd: 0.25,
    effort: 'high',
    permissionMode: 'acceptEdits',
    allowedTools: ['Read', 'Bash(git *)', 'Read'],
    disallowedTools: ['Write', 'WebFetch'],
    tools: ['Read', 'Bash'],
    systemPrompt: 'You are a worker.',
    appendSystemPrompt: '-- identity: slot-0',
    mcpServers: { fs: { command: 'npx', args: ['-y', 'fs-server'] } },
    strictMcpConfig: true,
    jsonSchema: { type: 'object', properties: { ok: { type: 'boolean' } } },
  });

  it('builds the full command line with the prompt last, after --', () => {
    expect(buildClaudeArgv(full, { prompt: 'do it', resumeSessionId: 'abc-123' })).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--model=sonnet',
      '--fallback-model=haiku',
      '--max-turns=5',
      '--max-budget-usd=0.25',
      '--effort=high',
      '--permission-mode=acceptEdits',
      '--allowedTools=Read,Bash(git *)',
      '--disallowedTools=Write,WebFetch',
      '--tools=Read,Bash',
      '--system-prompt=You are a worker.',
      '--append-system-prompt=-- identity: slot-0',
      '--mcp-config',
      '{"mcpServers":{"fs":{"command":"npx","args":["-y","fs-server"]}}}',
      '--strict-mcp-config',
      '--json-schema={"type":"object","properties":{"ok":{"type":"boolean"}}}',
      '--resume=abc-123',
      '--',
      'do it',
    ]);
  });

  it('builds the minimal command line', () => {
    expect(buildClaudeArgv(config(), { prompt: 'hi' })).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode=plan',
      '--',
      'hi',
    ]);
  });

  it('omits a fallback equal to the model, gives --tools= for no tools, and no strict flag when not strict', () => {
    const argv = buildClaudeArgv(
      config({ model: 'opus', fallbackModel: 'opus', tools: [], mcpServers: { a: {} }, strictMcpConfig: false }),
      { prompt: 'x' },
    );
    expect(argv.some((a) => a.startsWith('--fallback-model'))).toBe(false);
    expect(argv).toContain('--tools=');
    expect(argv).toContain('--mcp-config');
    expect(argv).not.toContain('--strict-mcp-config');
  });

  it('keeps a prompt that starts with - as the last element, after --', () => {
    const argv = buildClaudeArgv(config({ allowedTools: ['Read', 'Write'] }), { prompt: '-SCENARIO do things' });
    expect(argv.slice(-2)).toEqual(['--', '-SCENARIO do things']);
    expect(argv.filter((a) => a.startsWith('--allowedTools'))).toEqual(['--allowedTools=Read,Write']);
  });

  it('quotes arguments for the failure command string', () => {
    expect(shellQuote('--model=sonnet')).toBe('--model=sonnet');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('two words')).toBe("'two words'");
    expect(shellQuote("it's $HOME;")).toBe("'it'\\''s $HOME;'");
    expect(commandString('claude', ['-p', '--', 'say hi'])).toBe("claude -p -- 'say hi'");
  });

  it('builds the child env without CLAUDECODE / CLAUDE_CODE_ENTRYPOINT', () => {
    expect(buildChildEnv({ A: '1', CLAUDECODE: '1', CLAUDE_CODE_ENTRYPOINT: 'cli', U: undefined }, { B: '2' })).toEqual(
      { A: '1', B: '2' },
    );
  });
});

describe('the child process', () => {
  async function probe(request: Partial<AgentRunRequest> = {}, env: Record<string, string> = {}) {
    const { outcome, events } = await runWith({ binary: probeBin, env }, request);
    expect(outcome.kind).toBe('ok');
    return {
      report: JSON.parse(outcome.result.output) as {
        argv: string[];
        env: Record<string, string>;
        cwd: string;
        stdinIsDevNull: boolean | string;
      },
      events,
    };
  }

  it('receives the argv (prompt starting with - after --), a cleaned env, stdin /dev/null and the cwd', async () => {
    const saved = { CLAUDECODE: process.env.CLAUDECODE, CLAUDE_CODE_ENTRYPOINT: process.env.CLAUDE_CODE_ENTRYPOINT };
    process.env.CLAUDECODE = '1';
    process.env.CLAUDE_CODE_ENTRYPOINT = 'cli';
    try {
      const workingDir = mkdtempSync(path.join(tmp, 'cwd-'));
      const { report, events } = await probe(
        { prompt: '-SCENARIO: with $pecial "chars"', workingDir, config: config({ allowedTools: ['Read', 'Write'] }) },
        { EXTRA_VAR: 'yes' },
      );
      expect(report.argv.slice(-2)).toEqual(['--', '-SCENARIO: with $pecial "chars"']);
      expect(report.argv).toContain('--allowedTools=Read,Write');
      expect(report.env.CLAUDECODE).toBeUndefined();
      expect(report.env.CLAUDE_CODE_ENTRYPOINT).toBeUndefined();
      expect(report.env.EXTRA_VAR).toBe('yes');
      expect(report.env.PATH).toBe(process.env.PATH);
      expect(report.stdinIsDevNull).toBe(true);
      expect(report.cwd).toBe(workingDir);
      expect(events[0]).toMatchObject({ type: 'spawned', pid: expect.any(Number) });
      expect(events[1]).toEqual({ type: 'init', sessionId: 'probe-session', model: 'probe-model' });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('a missing binary is spawn_failed (ENOENT)', async () => {
    const events: AgentEvent[] = [];
    const runner = new ClaudeCliRunner({ binary: path.join(tmp, 'does-not-exist', 'claude') });
    const outcome = await runner.run(
      { prompt: 'x', config: config({ model: 'opus' }), workingDir: tmp },
      new AbortController().signal,
      (e) => events.push(e),
    );
    expect(outcome.kind).toBe('spawn_failed');
    expect(outcome.result).toMatchObject({
      success: false,
      errorCode: 'spawn_failed',
      costMicrodollars: 0,
      model: 'opus',
    });
    expect(outcome.result.output).toContain('ENOENT');
    expect(outcome.result.failedCommand).toContain('does-not-exist');
    expect(events).toEqual([]);
  });

  it('an already-aborted signal does not spawn', async () => {
    const ac = new AbortController();
    ac.abort();
    const { outcome, events } = await runWith({ binary: hangBin }, {}, ac.signal);
    expect(outcome.kind).toBe('aborted');
    expect(outcome.result.errorCode).toBe('cancelled');
    expect(events).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Killing
// ---------------------------------------------------------------------------------------------------------------

describe('killing the process group', () => {
  it('a timeout kills the child and its grandchild', async () => {
    const pidFile = path.join(tmp, 'timeout.pids');
    const started = Date.now();
    const { outcome, events } = await runWith({ binary: hangBin, env: { PID_FILE: pidFile } }, { timeoutMs: 2_500 });
    expect(outcome.kind).toBe('timeout');
    expect(outcome.result).toMatchObject({
      success: false,
      errorCode: 'timeout',
      sessionId: 'hang-session',
      model: 'hang-model',
    });
    expect(outcome.result.output).toContain('timed out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_400);
    expect(Date.now() - started).toBeLessThan(7_000);
    expect(events.map((e) => e.type)).toEqual(['spawned', 'init']);
    const pids = readPids(pidFile);
    expect(pids).toHaveLength(2);
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 1_000)).toBe(true);
  });

  it('options.timeoutSecs applies when the request has no timeout', async () => {
    const pidFile = path.join(tmp, 'timeout-secs.pids');
    const { outcome } = await runWith({ binary: hangBin, env: { PID_FILE: pidFile }, timeoutSecs: 1 });
    expect(outcome.kind).toBe('timeout');
    expect(outcome.result.output).toContain('1000 ms');
    if (existsSync(pidFile)) {
      const pids = readPids(pidFile);
      expect(await waitUntil(() => pids.every((p) => !alive(p)), 1_000)).toBe(true);
    }
  });

  it('an abort kills the group, also while a line is half written', async () => {
    const pidFile = path.join(tmp, 'abort.pids');
    const ac = new AbortController();
    const { outcome } = await runWith(
      { binary: hangBin, env: { PID_FILE: pidFile, HANG_PARTIAL: '1' } },
      {},
      ac.signal,
      (e) => {
        if (e.type === 'init') setTimeout(() => ac.abort(), 100);
      },
    );
    expect(outcome.kind).toBe('aborted');
    expect(outcome.result).toMatchObject({ success: false, errorCode: 'cancelled', costMicrodollars: 0 });
    expect(outcome.result.output).toContain('cancelled');
    const pids = readPids(pidFile);
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 1_000)).toBe(true);
  });

  it('escalates to SIGKILL after the grace periods when SIGINT and SIGTERM are ignored', async () => {
    const pidFile = path.join(tmp, 'ignore-term.pids');
    const ac = new AbortController();
    const started = Date.now();
    const { outcome } = await runWith(
      { binary: hangBin, env: { PID_FILE: pidFile, IGNORE_TERM: '1' } },
      {},
      ac.signal,
      (e) => {
        if (e.type === 'init') ac.abort();
      },
    );
    const took = Date.now() - started;
    expect(outcome.kind).toBe('aborted');
    expect(outcome.result.signal).toBe('SIGKILL');
    expect(took).toBeGreaterThanOrEqual(2_900); // interrupt grace, then the kill grace
    expect(took).toBeLessThan(8_000);
    const pids = readPids(pidFile);
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 1_000)).toBe(true);
    expect(existsSync(pidFile)).toBe(true);
  });

  it('settles when the process exits after its result but a grandchild keeps stdout open', async () => {
    const pidFile = path.join(tmp, 'orphan.pids');
    const started = Date.now();
    const { outcome } = await runWith({ binary: hangBin, env: { PID_FILE: pidFile, HANG_RESULT: 'exit' } });
    expect(outcome.kind).toBe('ok');
    expect(outcome.result).toMatchObject({ success: true, output: 'done', costMicrodollars: 1000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    const pids = readPids(pidFile);
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 1_000)).toBe(true);
  });

  it('settles when the process lingers after its result line (killed after the post-result grace)', async () => {
    const pidFile = path.join(tmp, 'linger.pids');
    const { outcome } = await runWith(
      { binary: hangBin, env: { PID_FILE: pidFile, HANG_RESULT: 'stay' } },
      { timeoutMs: 1_000 },
    );
    // The result decided the run: the later timeout does not turn it into a failure.
    expect(outcome.kind).toBe('ok');
    expect(outcome.result.success).toBe(true);
    const pids = readPids(pidFile);
    expect(await waitUntil(() => pids.every((p) => !alive(p)), 1_000)).toBe(true);
  }, 20_000);

  it('leaves no process listeners behind', async () => {
    const names = ['exit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection'] as const;
    const before = names.map((n) => process.listenerCount(n));
    const ac = new AbortController();
    for (let i = 0; i < 3; i++) {
      await runWith(replay(path.join(cliDir, 'captured/simple.stream-json.jsonl'), 0), {}, ac.signal);
    }
    expect(names.map((n) => process.listenerCount(n))).toEqual(before);
  });
});

describe('partialOutput', () => {
  it("is what was streamed before an API error, without the CLI's synthetic error message", () => {
    expect(partialOutput(['Half ', 'an answer', 'API Error: 529 Overloaded.'], 'API Error: 529 Overloaded.')).toBe(
      'Half an answer',
    );
    expect(partialOutput(['API Error: 529'], 'API Error: 529')).toBe('');
    expect(partialOutput(['text only'], 'API Error: 529')).toBe('text only');
    expect(partialOutput([], '')).toBe('');
  });
});
