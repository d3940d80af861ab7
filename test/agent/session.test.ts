/**
 * The stream-json session (`AgentSession`) on the simulated agent: turns in one process, tool-permission
 * questions answered over stdin, interrupts that leave the process alive, and closing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PermissionDecision, ToolPermissionQuestion } from '../../src/agent/control-protocol.js';
import { readControlLine, userMessageLine } from '../../src/agent/control-protocol.js';
import { AgentSession, CANCELLED_DENIAL } from '../../src/agent/session.js';
import { simulatedClaude } from '../../src/agent/simulated/path.js';
import { agentLifeline } from '../../src/agent/lifeline.js';
import type { AgentEvent } from '../../src/agent/types.js';
import { processExists } from '../support/sim-pool.js';

const sessions: AgentSession[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) await session.kill();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function open(extra: string[] = []): Promise<{ session: AgentSession; cwd: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-session-'));
  const state = mkdtempSync(join(tmpdir(), 'claude-pool-session-state-'));
  dirs.push(cwd, state);
  const session = await AgentSession.start({
    binary: simulatedClaude,
    argv: ['-p', '--output-format', 'stream-json', '--verbose', '--input-format', 'stream-json', ...extra],
    cwd,
    env: { CLAUDE_POOL_SIM_STATE_DIR: state },
  });
  sessions.push(session);
  return { session, cwd };
}

function turn(
  session: AgentSession,
  prompt: string,
  options: {
    signal?: AbortSignal;
    askPermission?: (q: ToolPermissionQuestion, signal: AbortSignal) => Promise<PermissionDecision>;
  } = {},
) {
  const events: AgentEvent[] = [];
  const end = session.runTurn({
    prompt,
    signal: options.signal ?? new AbortController().signal,
    emit: (event) => events.push(event),
    askPermission: options.askPermission,
  });
  return { end, events };
}

describe('stream-json session on the simulated agent', () => {
  it('runs turns one after another in one process, with cumulative totals', async () => {
    const { session } = await open();
    expect(agentLifeline.size).toBeGreaterThan(0);
    const first = await turn(session, 'one [[sim:text first]] [[sim:cost 0.01]]').end;
    expect(first.state.result).toMatchObject({ result: 'first', isError: false, totalCostUsd: 0.01 });
    expect(first.previousTotalCostUsd).toBeUndefined();
    const second = turn(session, 'two [[sim:text second]] [[sim:cost 0.02]]');
    const end = await second.end;
    expect(end.state.result).toMatchObject({ result: 'second', totalCostUsd: 0.03 });
    expect(end.previousTotalCostUsd).toBe(0.01);
    expect(end.state.sessionId).toBe(first.state.sessionId);
    expect(second.events).toContainEqual({ type: 'text', text: 'second' });
    expect(session.turns).toBe(2);
    expect(session.alive).toBe(true);
    const pid = session.pid;
    await session.close();
    expect(processExists(pid)).toBe(false);
  });

  it('asks before a tool runs; the answer decides, and an allow runs the asked input', async () => {
    const { session, cwd } = await open(['--permission-mode', 'default', '--permission-prompt-tool', 'stdio']);
    const asked: ToolPermissionQuestion[] = [];
    const allowed = await turn(session, 'w [[sim:ask Write a.txt "A"]]', {
      askPermission: async (q) => {
        asked.push(q);
        return { behavior: 'allow' };
      },
    }).end;
    expect(asked).toEqual([
      expect.objectContaining({ toolName: 'Write', input: { file_path: join(cwd, 'a.txt'), content: 'A' } }),
    ]);
    expect(readFileSync(join(cwd, 'a.txt'), 'utf8')).toBe('A');
    expect(allowed.state.result?.permissionDenials).toEqual([]);
    const denied = await turn(session, 'w [[sim:ask Write b.txt "B"]]', {
      askPermission: async () => ({ behavior: 'deny', message: 'no b' }),
    }).end;
    expect(denied.state.liveDenials).toEqual([expect.objectContaining({ toolName: 'Write' })]);
  });

  it('a cancel while a question is open denies it and interrupts the turn; the process lives on', async () => {
    const { session } = await open(['--permission-mode', 'default', '--permission-prompt-tool', 'stdio']);
    const controller = new AbortController();
    let questionSignal: AbortSignal | undefined;
    const { end } = turn(session, 'w [[sim:ask Write c.txt "C"]]', {
      signal: controller.signal,
      askPermission: (_q, signal) =>
        new Promise(() => {
          questionSignal = signal;
          controller.abort();
        }),
    });
    const ended = await end;
    expect(ended.killReason).toBe('aborted');
    expect(ended.state.result).toMatchObject({
      subtype: 'error_during_execution',
      isError: true,
      terminalReason: 'aborted_tools',
    });
    expect(ended.state.result?.permissionDenials).toEqual([expect.objectContaining({ toolName: 'Write' })]);
    expect(questionSignal?.aborted).toBe(true);
    expect(ended.exit).toBeUndefined();
    expect(session.alive).toBe(true);
    expect((await turn(session, 'again [[sim:text alive]]').end).state.result?.result).toBe('alive');
    expect(CANCELLED_DENIAL).toMatch(/cancelled/);
  });

  it('ends a turn when the process dies mid-turn', async () => {
    const { session } = await open();
    const ended = await turn(session, 'x [[sim:crash]]').end;
    expect(ended.exit).toMatchObject({ code: 1 });
    expect(ended.state.result).toBeUndefined();
    expect(session.alive).toBe(false);
  });
});

describe('control protocol lines', () => {
  it('reads can_use_tool requests and control responses, and writes user messages', () => {
    expect(
      readControlLine({
        type: 'control_request',
        request_id: 'r1',
        request: { subtype: 'can_use_tool', tool_name: 'Write', input: { file_path: '/x' }, tool_use_id: 't1' },
      }),
    ).toEqual({
      kind: 'can_use_tool',
      question: { requestId: 'r1', toolName: 'Write', input: { file_path: '/x' }, toolUseId: 't1' },
    });
    expect(readControlLine({ type: 'control_response', response: { subtype: 'success', request_id: 'r2' } })).toEqual({
      kind: 'response',
      requestId: 'r2',
      ok: true,
    });
    expect(readControlLine({ type: 'assistant' })).toBeUndefined();
    expect(JSON.parse(userMessageLine('hi'))).toEqual({
      type: 'user',
      session_id: '',
      message: { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      parent_tool_use_id: null,
    });
  });
});
