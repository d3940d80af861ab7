/**
 * The simulated agent, exercised as a real child process: the built `dist/src/agent/simulated/main.js`
 * (`npm test` builds first through `pretest`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDirectives } from '../../src/agent/simulated/directives.js';
import { parseArgv } from '../../src/agent/simulated/flags.js';
import { simulatedClaude } from '../../src/agent/simulated/path.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STREAM = ['-p', '--output-format', 'stream-json', '--verbose'];

// Stream-json lines are read field by field in the assertions; their shape is what is under test.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Non-empty stdout lines. */
  lines: string[];
  /** Lines that parse as JSON objects. */
  messages: Msg[];
  /** ms after spawn at which each stdout line arrived. */
  arrivals: number[];
  /** ms from spawn to exit. */
  elapsed: number;
  pid: number;
}

let root: string;
let stateDir: string;
let work: string;
let counter = 0;

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'sim-agent-test-')));
  stateDir = join(root, 'state');
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A fresh working directory. */
function freshDir(): string {
  work = join(root, `work-${counter++}`);
  return realpathSync(mkdtempSync(`${work}-`));
}

function run(
  args: string[],
  opts: {
    cwd?: string;
    env?: Record<string, string | undefined>;
    stdin?: 'ignore' | 'pipe';
    onLine?: (line: string, child: ChildProcess, index: number) => void;
  } = {},
): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ...process.env, CLAUDE_POOL_SIM_STATE_DIR: stateDir };
  delete env.ANTHROPIC_API_KEY;
  delete env.IS_SANDBOX;
  delete env.CLAUDE_CODE_STARTUP_FAILURE_RESULTS;
  Object.assign(env, opts.env ?? {});
  const started = Date.now();
  const child = spawn(simulatedClaude, args, {
    cwd: opts.cwd ?? freshDir(),
    env: env as NodeJS.ProcessEnv,
    stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let pending = '';
  const lines: string[] = [];
  const arrivals: number[] = [];
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line === '') continue;
      lines.push(line);
      arrivals.push(Date.now() - started);
      opts.onLine?.(line, child, lines.length - 1);
    }
  });
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (pending !== '') {
        lines.push(pending);
        arrivals.push(Date.now() - started);
      }
      const messages: Msg[] = [];
      for (const line of lines) {
        try {
          const value: unknown = JSON.parse(line);
          if (value && typeof value === 'object' && !Array.isArray(value)) messages.push(value as Msg);
        } catch {
          // non-JSON line
        }
      }
      resolve({
        code,
        signal,
        stdout,
        stderr,
        lines,
        messages,
        arrivals,
        elapsed: Date.now() - started,
        pid: child.pid!,
      });
    });
  });
}

const stream = (prompt: string, extra: string[] = [], opts: Parameters<typeof run>[1] = {}): Promise<RunResult> =>
  run([...STREAM, ...extra, '--', prompt], opts);

const byType = (r: RunResult, type: string, subtype?: string): Msg[] =>
  r.messages.filter((m) => m.type === type && (subtype === undefined || m.subtype === subtype));

const resultOf = (r: RunResult): Msg => {
  const results = byType(r, 'result');
  expect(results).toHaveLength(1);
  expect(r.messages.at(-1)).toBe(results[0]);
  return results[0];
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('simulatedClaude path', () => {
  it('points at the built, executable dist entry', () => {
    expect(simulatedClaude.endsWith(join('dist', 'src', 'agent', 'simulated', 'main.js'))).toBe(true);
    expect(existsSync(simulatedClaude)).toBe(true);
    accessSync(simulatedClaude, constants.X_OK);
    expect(readFileSync(simulatedClaude, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});

describe('a plain stream-json run', () => {
  it('prints init, one assistant line and a success result in the real shapes', async () => {
    const cwd = freshDir();
    const r = await stream('hello there', [], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.lines.map((l) => JSON.parse(l).type)).toEqual(['system', 'assistant', 'result']);

    const init = r.messages[0];
    expect(init).toMatchObject({
      type: 'system',
      subtype: 'init',
      cwd,
      model: 'claude-opus-5-5',
      permissionMode: 'default',
      claude_code_version: '2.1.331',
      output_style: 'default',
      mcp_servers: [],
      original_cwd: cwd,
      additional_directories: [],
    });
    expect(init.session_id).toMatch(UUID);
    expect(init.uuid).toMatch(UUID);
    expect(init.tools).toContain('Write');
    expect(init.tools).toContain('Bash');
    expect(typeof init.apiKeySource).toBe('string');
    expect(init.apiKeySource).not.toBe('none');

    const a = r.messages[1];
    expect(a).toMatchObject({
      type: 'assistant',
      parent_tool_use_id: null,
      session_id: init.session_id,
      message: {
        type: 'message',
        role: 'assistant',
        model: 'claude-opus-5-5',
        content: [{ type: 'text', text: 'Simulated answer to: hello there' }],
        stop_reason: null,
        stop_sequence: null,
      },
    });
    expect(a.message.id).toMatch(/^msg_01/);
    expect(a.message.usage.output_tokens).toBe(1);
    expect(a.message.usage.input_tokens).toBeGreaterThan(0);
    expect(a.uuid).toMatch(UUID);
    expect(a.request_id).toMatch(/^req_/);

    const res = resultOf(r);
    expect(res).toMatchObject({
      type: 'result',
      subtype: 'success',
      is_error: false,
      num_turns: 1,
      result: 'Simulated answer to: hello there',
      stop_reason: 'end_turn',
      session_id: init.session_id,
      total_cost_usd: 0.001,
      permission_denials: [],
      terminal_reason: 'completed',
      api_error_status: null,
    });
    expect(res.errors).toBeUndefined();
    expect(res.uuid).toMatch(UUID);
    expect(typeof res.duration_ms).toBe('number');
    expect(typeof res.duration_api_ms).toBe('number');
    expect(res.usage).toMatchObject({ service_tier: 'standard', output_tokens_details: { thinking_tokens: 0 } });
    expect(res.modelUsage['claude-opus-5-5']).toMatchObject({
      costUSD: 0.001,
      contextWindow: 1000000,
      maxOutputTokens: 128000,
    });
    expect(res.modelUsage['claude-opus-5-5'].inputTokens).toBeGreaterThan(0);
    expect(res.modelUsage['claude-opus-5-5'].outputTokens).toBeGreaterThan(0);
    expect(res.model_usage_since_last_result['claude-opus-5-5'].costUSD).toBe(0.001);
  });

  it('prints the version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('2.1.331 (Claude Code)\n');
  });

  it('resolves model aliases and passes full ids through', async () => {
    for (const [given, id] of [
      ['sonnet', 'claude-sonnet-5-5'],
      ['haiku', 'claude-haiku-5-5'],
      ['opus', 'claude-opus-5-5'],
      ['claude-sonnet-4-5', 'claude-sonnet-4-5'],
    ]) {
      const r = await stream('hi', ['--model', given]);
      expect(r.code).toBe(0);
      expect(r.messages[0].model).toBe(id);
      expect(r.messages[1].message.model).toBe(id);
      expect(Object.keys(resultOf(r).modelUsage)).toEqual([id]);
    }
    const eq = await run(['-p', '--output-format=stream-json', '--verbose', '--model=haiku', 'hi']);
    expect(eq.messages[0].model).toBe('claude-haiku-5-5');
  });

  it('reports the permission mode, add-dirs, tools and MCP servers it was given', async () => {
    const cwd = freshDir();
    const r = await stream(
      'hi',
      [
        '--permission-mode',
        'manual',
        '--add-dir',
        'extra',
        '--disallowedTools',
        'Bash',
        '--mcp-config',
        '{"mcpServers":{"ghost":{"command":"nope"}}}',
      ],
      { cwd },
    );
    expect(r.code).toBe(0);
    const init = r.messages[0];
    expect(init.permissionMode).toBe('default');
    expect(init.additional_directories).toEqual([join(cwd, 'extra')]);
    expect(init.tools).not.toContain('Bash');
    expect(init.mcp_servers.map((s: Msg) => s.name)).toEqual(['ghost']);

    const plan = await stream('hi', ['--permission-mode', 'plan', '--tools', 'Read,Write']);
    expect(plan.messages[0].permissionMode).toBe('plan');
    expect(plan.messages[0].tools).toEqual(['Read', 'Write']);
  });
});

describe('argv validation (commander-like, stderr + exit 1, nothing on stdout)', () => {
  const cases: [string, string[], string][] = [
    ['unknown option', ['-p', '--bogus', 'hi'], "error: unknown option '--bogus'\n"],
    [
      'stream-json without --verbose',
      ['-p', '--output-format', 'stream-json', 'hi'],
      'Error: When using --print, --output-format=stream-json requires --verbose\n',
    ],
    [
      'no prompt',
      [...STREAM],
      'Error: Input must be provided either through stdin or as a prompt argument when using --print\n',
    ],
    [
      'non-numeric --max-turns',
      [...STREAM, '--max-turns', 'abc', 'hi'],
      "error: option '--max-turns <turns>' argument 'abc' is invalid. must be a number\n",
    ],
    [
      'bad --permission-mode',
      [...STREAM, '--permission-mode', 'bogus', 'hi'],
      "error: option '--permission-mode <mode>' argument 'bogus' is invalid. Allowed choices are acceptEdits, auto, bypassPermissions, manual, dontAsk, plan.\n",
    ],
    [
      'negative --max-budget-usd',
      [...STREAM, '--max-budget-usd', '-1', 'hi'],
      "error: option '--max-budget-usd <amount>' argument '-1' is invalid. --max-budget-usd must be a number greater than 0\n",
    ],
    [
      'bad --output-format',
      ['-p', '--output-format', 'xml', 'hi'],
      "error: option '--output-format <format>' argument 'xml' is invalid. Allowed choices are text, json, stream-json.\n",
    ],
    [
      'a variadic flag swallowing the prompt',
      [...STREAM, '--allowedTools', 'Read', 'Write', 'the prompt'],
      'Error: Input must be provided either through stdin or as a prompt argument when using --print\n',
    ],
    ['a prompt that looks like an option', [...STREAM, '-SCENARIO'], "error: unknown option '-SCENARIO'\n"],
  ];
  for (const [name, args, err] of cases) {
    it(name, async () => {
      const r = await run(args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(err);
    });
  }

  it('takes the prompt after `--`, after a comma-joined `=` value, or before the variadic flag', async () => {
    const a = await run([...STREAM, '--allowedTools', 'Read', 'Write', '--', '-dash prompt']);
    expect(resultOf(a).result).toBe('Simulated answer to: -dash prompt');
    const b = await run([...STREAM, '--allowedTools=Read,Write', 'eq prompt']);
    expect(resultOf(b).result).toBe('Simulated answer to: eq prompt');
    const c = await run([
      '-p',
      'first prompt',
      '--output-format',
      'stream-json',
      '--verbose',
      '--allowedTools',
      'Read',
      'Write',
    ]);
    expect(resultOf(c).result).toBe('Simulated answer to: first prompt');
  });

  it('only warns about an unknown --effort and carries on', async () => {
    const r = await stream('hi', ['--effort', 'ultra']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "Warning: Unknown --effort value 'ultra' — ignoring it and using the default effort. Valid values: low, medium, high, xhigh, max.\n",
    );
    expect(resultOf(r).subtype).toBe('success');
  });

  it('refuses bypassPermissions as root unless IS_SANDBOX=1', async () => {
    const isRoot = process.getuid?.() === 0;
    const refused = await stream('hi', ['--permission-mode', 'bypassPermissions']);
    if (isRoot) {
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toBe(
        '--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n',
      );
    } else {
      expect(refused.code).toBe(0);
    }
    const allowed = await stream('hi', ['--dangerously-skip-permissions'], { env: { IS_SANDBOX: '1' } });
    expect(allowed.code).toBe(0);
    expect(allowed.messages[0].permissionMode).toBe('bypassPermissions');
  });
});

describe('output formats', () => {
  it('text prints the answer', async () => {
    const r = await run(['-p', 'hi [[sim:text "two\\nlines"]]']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('two\nlines\n');
  });

  it('json prints the single result object', async () => {
    const r = await run(['-p', '--output-format', 'json', 'hi']);
    expect(r.code).toBe(0);
    expect(r.lines).toHaveLength(1);
    const res = JSON.parse(r.stdout) as Msg;
    expect(res).toMatchObject({ type: 'result', subtype: 'success', result: 'Simulated answer to: hi' });
    expect(res.session_id).toMatch(UUID);
  });

  it('json --verbose prints an array of every message', async () => {
    const r = await run(['-p', '--output-format', 'json', '--verbose', 'hi']);
    const all = JSON.parse(r.stdout) as Msg[];
    expect(all.map((m) => m.type)).toEqual(['system', 'assistant', 'result']);
  });

  it('text mode prints the max-turns error like the real CLI', async () => {
    const r = await run(['-p', '--max-turns', '1', 'hi [[sim:turns 2]]']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('Error: Reached max turns (1)');
  });
});

describe('answer directives', () => {
  it('text, cost and chunks: several assistant lines of one message, joined in the result', async () => {
    const r = await stream('x [[sim:text "abcdefghij"]] [[sim:cost 0.25]] [[sim:chunks 3]]');
    const assistants = byType(r, 'assistant');
    expect(assistants).toHaveLength(3);
    expect(new Set(assistants.map((a) => a.message.id)).size).toBe(1);
    expect(assistants.map((a) => a.message.content[0].text).join('')).toBe('abcdefghij');
    const res = resultOf(r);
    expect(res.result).toBe('abcdefghij');
    expect(res.total_cost_usd).toBe(0.25);
  });

  it('delay and chunk-delay make the stream observable over time', async () => {
    const r = await stream('x [[sim:delay 200]] [[sim:chunks 3]] [[sim:chunk-delay 150]]');
    expect(r.code).toBe(0);
    const idx = r.messages.map((m, i) => (m.type === 'assistant' ? i : -1)).filter((i) => i >= 0);
    expect(idx).toHaveLength(3);
    const times = idx.map((i) => r.arrivals[i]);
    expect(times[0] - r.arrivals[0]).toBeGreaterThanOrEqual(180);
    expect(times[2] - times[0]).toBeGreaterThanOrEqual(250);
    expect(r.elapsed).toBeGreaterThanOrEqual(480);
  });

  it('json makes the answer that JSON', async () => {
    const r = await stream('x [[sim:json {"ok":true,"items":[[1,2]]}]]');
    expect(JSON.parse(resultOf(r).result as string)).toEqual({ ok: true, items: [[1, 2]] });
  });

  it('json with --json-schema gives structured_output through a StructuredOutput call', async () => {
    const r = await stream('x [[sim:json {"name":"n"}]]', ['--json-schema', '{"type":"object"}']);
    expect(r.messages[0].tools).toContain('StructuredOutput');
    const call = byType(r, 'assistant')[0].message.content[0];
    expect(call).toMatchObject({ type: 'tool_use', name: 'StructuredOutput', input: { name: 'n' } });
    const res = resultOf(r);
    expect(res.structured_output).toEqual({ name: 'n' });
    expect(JSON.parse(res.result as string)).toEqual({ name: 'n' });
  });

  it('turns n plays n-1 tool rounds before the answer', async () => {
    const r = await stream('x [[sim:turns 3]] [[sim:cost 0.03]]');
    expect(r.code).toBe(0);
    const kinds = r.messages.slice(1, -1).map((m) => `${m.type}:${m.message.content[0].type}`);
    expect(kinds).toEqual([
      'assistant:tool_use',
      'user:tool_result',
      'assistant:tool_use',
      'user:tool_result',
      'assistant:text',
    ]);
    const [use] = r.messages[1].message.content;
    expect(use).toMatchObject({ name: 'Bash', input: { command: 'echo step-0' } });
    expect(r.messages[2].message.content[0]).toMatchObject({ tool_use_id: use.id, content: 'step-0', is_error: false });
    expect(r.messages[2].tool_use_result).toMatchObject({ stdout: 'step-0' });
    expect(resultOf(r)).toMatchObject({ num_turns: 3, total_cost_usd: 0.03 });
  });

  it('thinking adds a thinking block to the answer message', async () => {
    const r = await stream('x [[sim:thinking "pondering"]]');
    const a = byType(r, 'assistant');
    expect(a.map((m) => m.message.content[0].type)).toEqual(['thinking', 'text']);
    expect(a[0].message.content[0].thinking).toBe('pondering');
    expect(a[0].message.id).toBe(a[1].message.id);
  });

  it('--include-partial-messages adds status and stream_event lines', async () => {
    const r = await stream('x', ['--include-partial-messages']);
    expect(r.code).toBe(0);
    expect(byType(r, 'system', 'status')[0].status).toBe('requesting');
    const events = byType(r, 'stream_event').map((m) => m.event.type);
    expect(events[0]).toBe('message_start');
    expect(events).toContain('content_block_delta');
    expect(events.at(-1)).toBe('message_stop');
    const deltas = byType(r, 'stream_event').filter((m) => m.event.type === 'content_block_delta');
    expect(deltas.map((m) => m.event.delta.text).join('')).toBe('Simulated answer to: x');
  });
});

describe('limits', () => {
  it('--max-turns below the scripted turns ends in error_max_turns with num_turns N+1', async () => {
    const r = await stream('x [[sim:turns 4]] [[sim:cost 0.04]]', ['--max-turns', '2']);
    expect(r.code).toBe(1);
    expect(byType(r, 'assistant')).toHaveLength(2);
    expect(byType(r, 'user')).toHaveLength(2);
    const res = resultOf(r);
    expect(res).toMatchObject({
      subtype: 'error_max_turns',
      is_error: true,
      num_turns: 3,
      errors: ['Reached maximum number of turns (2)'],
      stop_reason: 'tool_use',
      terminal_reason: 'max_turns',
      total_cost_usd: 0.02,
    });
    expect('result' in res).toBe(false);
  });

  it('--max-budget-usd stops after the call that crossed it (overshooting like the real CLI)', async () => {
    const r = await stream('x [[sim:turns 3]] [[sim:cost 0.03]]', ['--max-budget-usd', '0.015']);
    expect(r.code).toBe(1);
    const res = resultOf(r);
    expect(res).toMatchObject({
      subtype: 'error_max_budget_usd',
      is_error: true,
      num_turns: 2,
      errors: ['Reached maximum budget ($0.015)'],
      terminal_reason: 'budget_exhausted',
      total_cost_usd: 0.02,
    });
    expect('result' in res).toBe(false);
    // Second call's tool_use printed, its result not.
    expect(byType(r, 'assistant')).toHaveLength(2);
    expect(byType(r, 'user')).toHaveLength(1);
  });

  it('a single turn over the budget reports its full cost', async () => {
    const r = await stream('x [[sim:cost 0.05]]', ['--max-budget-usd', '0.01']);
    expect(r.code).toBe(1);
    expect(resultOf(r)).toMatchObject({ subtype: 'error_max_budget_usd', total_cost_usd: 0.05, num_turns: 1 });
  });

  it('stays within limits that are not reached', async () => {
    const r = await stream('x [[sim:turns 2]] [[sim:cost 0.01]]', ['--max-turns', '2', '--max-budget-usd', '0.02']);
    expect(r.code).toBe(0);
    expect(resultOf(r)).toMatchObject({ subtype: 'success', num_turns: 2, total_cost_usd: 0.01 });
  });
});

describe('scripted errors', () => {
  it('error max-turns', async () => {
    const r = await stream('x [[sim:error max-turns]]', ['--max-turns', '3']);
    expect(r.code).toBe(1);
    expect(byType(r, 'assistant')).toHaveLength(3);
    expect(resultOf(r)).toMatchObject({
      subtype: 'error_max_turns',
      num_turns: 4,
      errors: ['Reached maximum number of turns (3)'],
    });
  });

  it('error budget', async () => {
    const r = await stream('x [[sim:error budget]] [[sim:cost 0.5]]', ['--max-budget-usd', '0.25']);
    expect(r.code).toBe(1);
    expect(resultOf(r)).toMatchObject({
      subtype: 'error_max_budget_usd',
      is_error: true,
      errors: ['Reached maximum budget ($0.25)'],
      total_cost_usd: 0.5,
    });
  });

  it('error api-error (529): retries, a synthetic message, success subtype with is_error', async () => {
    const r = await stream('x [[sim:error api-error]]');
    expect(r.code).toBe(1);
    expect(byType(r, 'system', 'api_retry').length).toBeGreaterThan(0);
    const synthetic = byType(r, 'assistant')[0];
    expect(synthetic.message.model).toBe('<synthetic>');
    expect(synthetic.error).toBe('server_error');
    expect(synthetic.is_api_error_message).toBe(true);
    const res = resultOf(r);
    expect(res).toMatchObject({
      subtype: 'success',
      is_error: true,
      api_error_status: 529,
      terminal_reason: 'api_error',
      stop_reason: 'stop_sequence',
      total_cost_usd: 0,
      modelUsage: {},
    });
    expect(res.result).toMatch(/^API Error: 529 Overloaded/);
  });

  it('error not-logged-in copies the no-credentials run', async () => {
    const r = await stream('x [[sim:error not-logged-in]]');
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(3);
    expect(r.messages[0].apiKeySource).toBe('none');
    expect(r.messages[1]).toMatchObject({ error: 'authentication_failed', message: { model: '<synthetic>' } });
    expect(resultOf(r)).toMatchObject({
      subtype: 'success',
      is_error: true,
      result: 'Not logged in · Please run /login',
      api_error_status: null,
      terminal_reason: 'api_error',
      num_turns: 1,
    });
    const text = await run(['-p', 'x [[sim:error not-logged-in]]']);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('Not logged in · Please run /login\n');
  });

  it('exit n exits with n after the result', async () => {
    const r = await stream('x [[sim:exit 7]]');
    expect(r.code).toBe(7);
    expect(resultOf(r).subtype).toBe('success');
  });

  it('crash prints init and some text, then exits 1 with a stderr message and no result', async () => {
    const r = await stream('x [[sim:crash]]');
    expect(r.code).toBe(1);
    expect(r.messages[0].subtype).toBe('init');
    expect(byType(r, 'assistant').length).toBeGreaterThan(0);
    expect(byType(r, 'result')).toHaveLength(0);
    expect(r.stderr).toMatch(/crash/);
  });

  it('hang waits forever after init; SIGTERM ends it with exit code 143 and no result', async () => {
    const cwd = freshDir();
    const pidFile = join(cwd, 'run', 'agent.pid');
    const r = await stream('x [[sim:hang]] [[sim:pidfile run/agent.pid]]', [], {
      cwd,
      onLine: (_line, child, i) => {
        if (i === 0) setTimeout(() => child.kill('SIGTERM'), 200);
      },
    });
    expect(r.code).toBe(143);
    expect(r.signal).toBeNull();
    expect(r.lines).toHaveLength(1);
    expect(r.messages[0].subtype).toBe('init');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(pid).toBe(r.pid);
    expect(isAlive(pid)).toBe(false);
  });

  it('SIGINT during a request prints the interruption and an error result, exit 0', async () => {
    const r = await stream('x [[sim:delay 10000]]', [], {
      onLine: (_line, child, i) => {
        if (i === 0) setTimeout(() => child.kill('SIGINT'), 100);
      },
    });
    expect(r.code).toBe(0);
    expect(r.elapsed).toBeLessThan(5000);
    const user = byType(r, 'user')[0];
    expect(user.message.content[0]).toEqual({ type: 'text', text: '[Request interrupted by user]' });
    expect(resultOf(r)).toMatchObject({
      subtype: 'error_during_execution',
      is_error: true,
      terminal_reason: 'aborted_streaming',
    });
  });

  it('garbage interleaves non-JSON lines and unknown message types; the result stays last and valid', async () => {
    const r = await stream('x [[sim:garbage]]');
    expect(r.code).toBe(0);
    const nonJson = r.lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(nonJson.length).toBeGreaterThan(1);
    const known = new Set(['system', 'assistant', 'user', 'result']);
    expect(r.messages.some((m) => !known.has(m.type as string))).toBe(true);
    expect(JSON.parse(r.lines.at(-1)!).type).toBe('result');
    expect(resultOf(r).result).toBe('Simulated answer to: x');
  });

  it('large emits one assistant text block of exactly that many bytes, on one line', async () => {
    const r = await stream('x [[sim:large 2000000]]');
    expect(r.code).toBe(0);
    const a = byType(r, 'assistant');
    expect(a).toHaveLength(1);
    expect(Buffer.byteLength(a[0].message.content[0].text as string)).toBe(2_000_000);
    expect(resultOf(r).result).toHaveLength(2_000_000);
  });
});

describe('tools', () => {
  it('deny: tool_use, permission_denied, is_error tool_result, success with permission_denials', async () => {
    const cwd = freshDir();
    const r = await stream('x [[sim:deny Write notes.txt]]', [], { cwd });
    expect(r.code).toBe(0);
    const types = r.messages.map((m) => (m.subtype ? `${m.type}/${m.subtype}` : m.type));
    expect(types).toEqual([
      'system/init',
      'assistant',
      'system/permission_denied',
      'user',
      'assistant',
      'result/success',
    ]);
    const use = r.messages[1].message.content[0];
    expect(use).toMatchObject({ type: 'tool_use', name: 'Write', input: { file_path: join(cwd, 'notes.txt') } });
    const message = `Claude requested permissions to write to ${join(cwd, 'notes.txt')}, but you haven't granted it yet.`;
    expect(r.messages[2]).toMatchObject({ tool_name: 'Write', tool_use_id: use.id, message });
    expect(r.messages[3].message.content[0]).toEqual({
      tool_use_id: use.id,
      type: 'tool_result',
      content: message,
      is_error: true,
    });
    expect(r.messages[3].tool_use_result).toBe(`Error: ${message}`);
    const res = resultOf(r);
    expect(res).toMatchObject({ is_error: false, num_turns: 2 });
    expect(res.permission_denials).toEqual([{ tool_name: 'Write', tool_use_id: use.id, tool_input: use.input }]);
    expect(existsSync(join(cwd, 'notes.txt'))).toBe(false);
  });

  it('deny Bash uses the approval message', async () => {
    const r = await stream('x [[sim:deny Bash "npm test"]]');
    expect(r.messages[1].message.content[0]).toMatchObject({ name: 'Bash', input: { command: 'npm test' } });
    expect(byType(r, 'system', 'permission_denied')[0].message).toBe('This command requires approval');
  });

  it('write creates the file relative to cwd and reports it like the Write tool', async () => {
    const cwd = freshDir();
    const r = await stream('x [[sim:write sub/dir/out.txt "hello\\nworld\\n"]]', [], { cwd });
    expect(r.code).toBe(0);
    const file = join(cwd, 'sub', 'dir', 'out.txt');
    expect(readFileSync(file, 'utf8')).toBe('hello\nworld\n');
    const use = r.messages[1].message.content[0];
    expect(use).toMatchObject({ name: 'Write', input: { file_path: file, content: 'hello\nworld\n' } });
    expect(r.messages[2].message.content[0]).toMatchObject({
      tool_use_id: use.id,
      content: `File created successfully at: ${file}`,
      is_error: false,
    });
    expect(resultOf(r)).toMatchObject({ subtype: 'success', num_turns: 2, permission_denials: [] });
  });

  it('write refuses a path that escapes the working directory', async () => {
    const cwd = freshDir();
    const r = await stream('x [[sim:write ../escaped.txt nope]]', [], { cwd });
    expect(r.code).toBe(0);
    expect(existsSync(join(cwd, '..', 'escaped.txt'))).toBe(false);
    expect(byType(r, 'system', 'permission_denied')).toHaveLength(1);
    expect(resultOf(r).permission_denials).toHaveLength(1);
  });
});

describe('introspection directives', () => {
  it('echo-system shows the system prompts received', async () => {
    const cwd = freshDir();
    const r = await stream(
      'x [[sim:echo-system]]',
      ['--system-prompt', 'You are "slot-1".', '--append-system-prompt', 'ctx: a=1'],
      {
        cwd,
      },
    );
    const line = (resultOf(r).result as string).split('\n').find((l) => l.startsWith('sim-echo-system: '))!;
    expect(JSON.parse(line.slice('sim-echo-system: '.length))).toEqual({
      systemPrompt: 'You are "slot-1".',
      appendSystemPrompt: 'ctx: a=1',
    });
  });

  it('echo-args shows argv as JSON (without re-arming directives) and pid shows the process id', async () => {
    const args = [...STREAM, '--model', 'sonnet', '--', 'x [[sim:echo-args]] [[sim:pid]]'];
    const r = await run(args);
    const text = resultOf(r).result as string;
    expect(text).not.toContain('[[sim:');
    const argsLine = text.split('\n').find((l) => l.startsWith('sim-echo-args: '))!;
    expect(JSON.parse(argsLine.slice('sim-echo-args: '.length))).toEqual(args);
    expect(text).toContain(`sim-pid: ${r.pid}`);
  });

  it('stdin left open as a pipe does not block the run', async () => {
    const r = await stream('x', [], { stdin: 'pipe' });
    expect(r.code).toBe(0);
    expect(r.elapsed).toBeLessThan(2900); // the real CLI would wait 3 s for stdin
  });

  it('rejects unknown or malformed directives loudly', async () => {
    const a = await stream('x [[sim:bogus 1]]');
    expect(a.code).toBe(1);
    expect(a.stdout).toBe('');
    expect(a.stderr).toMatch(/unknown directive/);
    const b = await stream('x [[sim:delay soon]]');
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/malformed directive/);
  });
});

describe('sessions', () => {
  it('--resume keeps the id and reports the cumulative cost; since-last-result holds this run', async () => {
    const first = await stream('one [[sim:cost 0.01]]');
    const id = resultOf(first).session_id as string;
    expect(id).toMatch(UUID);
    const second = await stream('two [[sim:cost 0.02]]', ['--resume', id]);
    expect(second.code).toBe(0);
    expect(second.messages[0].session_id).toBe(id);
    const res = resultOf(second);
    expect(res.session_id).toBe(id);
    expect(res.total_cost_usd).toBe(0.03);
    expect(res.modelUsage['claude-opus-5-5'].costUSD).toBe(0.03);
    expect(res.model_usage_since_last_result['claude-opus-5-5'].costUSD).toBe(0.02);
    const saved = JSON.parse(readFileSync(join(stateDir, 'simulated-sessions', `${id}.json`), 'utf8')) as Msg;
    expect(saved).toMatchObject({ sessionId: id, totalCostUsd: 0.03, runs: 2 });

    const forked = await stream('three [[sim:cost 0.005]]', ['--resume', id, '--fork-session']);
    const fr = resultOf(forked);
    expect(fr.session_id).not.toBe(id);
    expect(fr.total_cost_usd).toBe(0.035);
  });

  it('--resume of an unknown id fails with a zeroed error result', async () => {
    const id = '11111111-2222-4333-8444-555555555555';
    const r = await stream('x', ['--resume', id]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`No conversation found with session ID: ${id}\n`);
    expect(r.lines).toHaveLength(1);
    expect(resultOf(r)).toMatchObject({
      subtype: 'error_during_execution',
      is_error: true,
      num_turns: 0,
      total_cost_usd: 0,
      errors: [`No conversation found with session ID: ${id}`],
    });
    const text = await run(['-p', '--resume', id, 'x']);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
  });

  it('--no-session-persistence leaves nothing to resume', async () => {
    const r = await stream('x', ['--no-session-persistence']);
    const id = resultOf(r).session_id as string;
    expect(existsSync(join(stateDir, 'simulated-sessions', `${id}.json`))).toBe(false);
    const again = await stream('y', ['--resume', id]);
    expect(again.code).toBe(1);
  });

  it('--session-id sets the id, and reusing it is refused', async () => {
    const id = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const r = await stream('x', ['--session-id', id]);
    expect(resultOf(r).session_id).toBe(id);
    const again = await stream('x', ['--session-id', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`Error: Session ID ${id} is already in use.\n`);
    const bad = await stream('x', ['--session-id', 'not-a-uuid']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('Error: Invalid session ID. Must be a valid UUID.\n');
  });

  it('a crashed session can still be resumed', async () => {
    const crashed = await stream('x [[sim:crash]]');
    const id = crashed.messages[0].session_id as string;
    const r = await stream('y', ['--resume', id]);
    expect(r.code).toBe(0);
    expect(resultOf(r).session_id).toBe(id);
  });
});

describe('parsers (in-process)', () => {
  it('directives end at the first ]] where their argument parses', () => {
    const s = parseDirectives('a [[sim:json [[1,2]]]] b [[sim:text "x ]] y"]] c [[sim:delay 5]]');
    expect(s.json?.value).toEqual([[1, 2]]);
    expect(s.text).toBe('x ]] y');
    expect(s.delayMs).toBe(5);
    expect(s.cleanPrompt).toBe('a b c');
  });

  it('write, deny and stderr accumulate in order; sizes take k/m suffixes', () => {
    const s = parseDirectives('[[sim:deny Bash]] [[sim:write a.txt bare words]] [[sim:large 2mb]]');
    expect(s.tools).toEqual([
      { kind: 'deny', tool: 'Bash' },
      { kind: 'write', path: 'a.txt', content: 'bare words' },
    ]);
    expect(s.largeBytes).toBe(2 * 1024 * 1024);
  });

  it('argv: variadic flags, --flag=value, short combos', () => {
    const p = parseArgv(['-p', '--allowedTools', 'Bash(git *)', 'Read,Write', '--tools=Read', 'not-swallowed']);
    expect(p.kind).toBe('run');
    if (p.kind !== 'run') return;
    expect(p.flags.allowedTools).toEqual(['Bash(git *)', 'Read', 'Write']);
    expect(p.flags.tools).toEqual(['Read']);
    expect(p.flags.prompt).toBe('not-swallowed');
    const r = parseArgv(['-pr', 'abc', 'prompt']);
    expect(r.kind === 'run' && r.flags.resume).toBe('abc');
    expect(parseArgv(['-p', '--verbose=yes', 'x'])).toEqual({
      kind: 'error',
      message: "error: unknown option '--verbose=yes'",
    });
  });
});

describe('API pressure directives', () => {
  it('api-retry N [STATUS]: api_retry lines right after init, then the run goes on', async () => {
    const r = await stream('x [[sim:api-retry 2 429]] [[sim:text fine]]');
    expect(r.code).toBe(0);
    const retries = byType(r, 'system', 'api_retry');
    expect(retries.map((m) => [m.attempt, m.error_status, m.error])).toEqual([
      [1, 429, 'rate_limit'],
      [2, 429, 'rate_limit'],
    ]);
    expect(r.messages.indexOf(retries[0])).toBe(1);
    expect(resultOf(r)).toMatchObject({ is_error: false, result: 'fine' });
    const overloaded = await stream('x [[sim:api-retry 1]]');
    expect(byType(overloaded, 'system', 'api_retry')[0]).toMatchObject({ error_status: 529, error: 'overloaded' });
  });

  it('rate-limit MS: a rejected window that resets then, and an HTTP 429 result; with a key only once', async () => {
    const before = Date.now();
    const r = await stream('x [[sim:rate-limit 2000 sim-window]]');
    expect(r.code).toBe(1);
    const [event] = byType(r, 'rate_limit_event');
    expect(event.rate_limit_info).toMatchObject({ status: 'rejected', rateLimitType: 'five_hour' });
    expect(event.rate_limit_info.resetsAt * 1000).toBeGreaterThanOrEqual(before + 2000);
    expect(event.rate_limit_info.resetsAt * 1000).toBeLessThanOrEqual(Date.now() + 3000);
    expect(resultOf(r)).toMatchObject({ is_error: true, api_error_status: 429 });
    const again = await stream('x [[sim:rate-limit 2000 sim-window]] [[sim:text later]]');
    expect(again.code).toBe(0);
    expect(byType(again, 'rate_limit_event')[0].rate_limit_info.status).toBe('allowed');
    expect(resultOf(again)).toMatchObject({ is_error: false, result: 'later' });
  });

  it('fail-times counts across processes: a burst of N among runs started at once', async () => {
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => stream(`run ${i} [[sim:fail-times 5 sim-burst 529]] [[sim:text ok]]`)),
    );
    const statuses = runs.map((r) => resultOf(r).api_error_status ?? null);
    expect(statuses.filter((s) => s === 529)).toHaveLength(5);
    expect(statuses.filter((s) => s === null)).toHaveLength(3);
    expect(readFileSync(join(stateDir, 'simulated-sessions', 'fail-counters', 'sim-burst'), 'utf8')).toBe('8');
  });

  it('refuses malformed pressure directives', () => {
    expect(() => parseDirectives('[[sim:api-retry many]]')).toThrow(/malformed directive/);
    expect(() => parseDirectives('[[sim:rate-limit soon]]')).toThrow(/malformed directive/);
    expect(() => parseDirectives('[[sim:fail-times 2 k 5xx]]')).toThrow(/malformed directive/);
    expect(parseDirectives('[[sim:fail-times 2 k 429]]').failTimes).toEqual({ count: 2, key: 'k', status: 429 });
    expect(parseDirectives('[[sim:rate-limit 1500]]').rateLimit).toEqual({ resetInMs: 1500 });
    expect(parseDirectives('[[sim:api-retry 3]]').apiRetries).toEqual({ count: 3, status: 529 });
  });

  it('error api-error with text streams the begun answer before the error', async () => {
    const r = await stream('x [[sim:error api-error 529]] [[sim:text "half of it"]]');
    const assistants = byType(r, 'assistant');
    expect(assistants[0].message.content).toEqual([{ type: 'text', text: 'half of it' }]);
    expect(assistants[1].message.model).toBe('<synthetic>');
    expect(resultOf(r)).toMatchObject({ is_error: true, api_error_status: 529 });
  });
});
