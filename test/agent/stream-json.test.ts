import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  LineSplitter,
  StreamJsonAccumulator,
  extractResult,
  initialStreamState,
  parseStreamJson,
  parseStreamLine,
  reduceStreamMessage,
  splitLines,
  type StreamMessage,
} from '../../src/agent/stream-json.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cliDir = path.resolve(repoRoot, 'test', 'fixtures', 'claude-cli');

describe('LineSplitter', () => {
  it('joins lines split across chunks and keeps complete ones', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.push('1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\n\n{"c":3}\r\n')).toEqual(['{"b":2}', '', '{"c":3}']);
    expect(s.end()).toEqual([]);
  });

  it('returns an unterminated last line on end()', () => {
    const s = new LineSplitter();
    expect(s.push('one\ntwo')).toEqual(['one']);
    expect(s.end()).toEqual(['two']);
    expect(s.end()).toEqual([]);
  });

  it('decodes a multi-byte character split across byte chunks', () => {
    const bytes = Buffer.from('Not logged in · Please run /login — ok\n', 'utf8');
    const dot = bytes.indexOf(0xc2); // first byte of U+00B7
    const s = new LineSplitter();
    const out = [...s.push(bytes.subarray(0, dot + 1)), ...s.push(bytes.subarray(dot + 1)), ...s.end()];
    expect(out).toEqual(['Not logged in · Please run /login — ok']);
  });

  it('handles byte-at-a-time input', () => {
    const text = '{"type":"x","t":"é€𝄞"}\n{"type":"y"}\n';
    const bytes = Buffer.from(text, 'utf8');
    const s = new LineSplitter();
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...s.push(bytes.subarray(i, i + 1)));
    out.push(...s.end());
    expect(out).toEqual(['{"type":"x","t":"é€𝄞"}', '{"type":"y"}']);
  });

  it('splits a whole text', () => {
    expect(splitLines('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLines('a\nb')).toEqual(['a', 'b']);
    expect(splitLines('')).toEqual([]);
  });

  it('reassembles a 5 MB line fed in 64 kB chunks', () => {
    const big = 'x'.repeat(5 * 1024 * 1024);
    const line = JSON.stringify({
      type: 'user',
      message: { role: 'user', content: [{ type: 'tool_result', content: big }] },
    });
    const text = `${line}\n{"type":"result","is_error":false,"result":"ok"}\n`;
    const acc = new StreamJsonAccumulator();
    const started = Date.now();
    for (let i = 0; i < text.length; i += 65536) acc.push(Buffer.from(text.slice(i, i + 65536)));
    acc.end();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(acc.state.result).toEqual({ isError: false, result: 'ok' });

    const s = new LineSplitter();
    const lines: string[] = [];
    for (let i = 0; i < line.length; i += 65536) lines.push(...s.push(line.slice(i, i + 65536)));
    lines.push(...s.push('\n'));
    expect(lines).toHaveLength(1);
    expect(lines[0].length).toBe(line.length);
  });
});

describe('parseStreamLine', () => {
  it('skips blank, non-JSON, non-object and type-less lines without throwing', () => {
    for (const line of [
      '',
      '   ',
      'Warning: no stdin data received',
      '{not json',
      '[1,2]',
      '42',
      '"str"',
      'null',
      '{"no":"type"}',
      '{"type":5}',
    ]) {
      expect(parseStreamLine(line)).toBeUndefined();
    }
  });

  it('parses an object with a string type, trimming whitespace', () => {
    expect(parseStreamLine('  {"type":"keep_alive"}  ')).toEqual({ type: 'keep_alive' });
  });
});

describe('reduceStreamMessage', () => {
  const run = (lines: unknown[]) =>
    parseStreamJson(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));

  it('reads session id and model from system/init and emits init', () => {
    const { state, events } = run([{ type: 'system', subtype: 'init', session_id: 's-1', model: 'claude-x' }]);
    expect(state.sessionId).toBe('s-1');
    expect(state.model).toBe('claude-x');
    expect(events).toEqual([{ type: 'init', sessionId: 's-1', model: 'claude-x' }]);
  });

  it('emits api_retry (the run goes on) and rate_limit events', () => {
    const { events } = run([
      {
        type: 'system',
        subtype: 'api_retry',
        attempt: 2,
        max_retries: 10,
        retry_delay_ms: 1074,
        error_status: 529,
        error: 'overloaded',
        session_id: 's',
      },
      { type: 'system', subtype: 'api_retry', attempt: 'x', error_status: null },
      {
        type: 'rate_limit_event',
        rate_limit_info: { status: 'rejected', resetsAt: 1771390800, rateLimitType: 'five_hour' },
      },
      { type: 'rate_limit_event', rate_limit_info: { status: 'allowed' } },
    ]);
    expect(events).toEqual([
      { type: 'api_retry', attempt: 2, maxRetries: 10, retryDelayMs: 1074, status: 529, error: 'overloaded' },
      { type: 'api_retry' },
      { type: 'rate_limit', status: 'rejected', resetsAtMs: 1_771_390_800_000, rateLimitType: 'five_hour' },
      { type: 'rate_limit', status: 'allowed' },
    ]);
  });

  it('ignores garbage lines, unknown types and unknown subtypes', () => {
    const { state, events } = run([
      'garbage',
      { type: 'control_request', request: {} },
      { type: 'rate_limit_event', whatever: 1 },
      { type: 'rate_limit_event', rate_limit_info: { resetsAt: 1 } },
      { type: 'system', subtype: 'something_new' },
      { type: 'assistant' },
      { type: 'assistant', message: 'nope' },
      { type: 'assistant', message: { content: [null, 5, { type: 'image' }, { type: 'text', text: 7 }] } },
      { type: 'stream_event', event: null },
      { type: 'result', is_error: 'no', total_cost_usd: 'x', errors: 'x', modelUsage: [] },
    ]);
    expect(events).toEqual([]);
    expect(state.result).toEqual({});
  });

  it('emits text and tool_use per assistant block', () => {
    const { events } = run([
      { type: 'assistant', message: { id: 'm1', content: [{ type: 'thinking', thinking: 'hm' }] } },
      { type: 'assistant', message: { id: 'm1', content: [{ type: 'text', text: 'Hello' }] } },
      {
        type: 'assistant',
        message: { id: 'm1', content: [{ type: 'tool_use', id: 't', name: 'Bash', input: { command: 'ls' } }] },
      },
    ]);
    expect(events).toEqual([
      { type: 'text', text: 'Hello' },
      { type: 'tool_use', name: 'Bash', input: { command: 'ls' } },
    ]);
  });

  it('emits text_delta chunks and does not repeat the full block of the same message', () => {
    const { events } = run([
      { type: 'stream_event', event: { type: 'message_start', message: { id: 'm1' } } },
      {
        type: 'stream_event',
        event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } },
      },
      {
        type: 'stream_event',
        event: { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{' } },
      },
      {
        type: 'stream_event',
        event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } },
      },
      { type: 'assistant', message: { id: 'm1', content: [{ type: 'text', text: 'Hello' }] } },
      { type: 'assistant', message: { id: 'm1', content: [{ type: 'tool_use', name: 'Read', input: {} }] } },
      { type: 'stream_event', event: { type: 'message_stop' } },
      // A later message without partials is emitted in full.
      { type: 'assistant', message: { id: 'm2', content: [{ type: 'text', text: 'Bye' }] } },
    ]);
    expect(events).toEqual([
      { type: 'text', text: 'Hel' },
      { type: 'text', text: 'lo' },
      { type: 'tool_use', name: 'Read', input: {} },
      { type: 'text', text: 'Bye' },
    ]);
  });

  it('dedups partial text even when message_start carried no id', () => {
    const { events } = run([
      { type: 'stream_event', event: { type: 'content_block_delta', delta: { type: 'text_delta', text: 'A' } } },
      { type: 'assistant', message: { id: 'm9', content: [{ type: 'text', text: 'A' }] } },
      { type: 'stream_event', event: { type: 'message_stop' } },
      { type: 'assistant', message: { id: 'm10', content: [{ type: 'text', text: 'B' }] } },
    ]);
    expect(events).toEqual([
      { type: 'text', text: 'A' },
      { type: 'text', text: 'B' },
    ]);
  });

  it('emits permission_denied and remembers the live denial', () => {
    const { state, events } = run([
      { type: 'system', subtype: 'permission_denied', tool_name: 'Write', tool_use_id: 'tu1', message: 'no' },
    ]);
    expect(events).toEqual([{ type: 'permission_denied', toolName: 'Write', message: 'no' }]);
    expect(state.liveDenials).toEqual([{ toolName: 'Write', toolUseId: 'tu1' }]);
  });

  it('extracts every result field', () => {
    const r = extractResult({
      type: 'result',
      subtype: 'success',
      is_error: true,
      result: 'text',
      errors: ['e1', { x: 1 }],
      total_cost_usd: 0.5,
      num_turns: 3,
      duration_ms: 12,
      session_id: 's',
      permission_denials: [{ tool_name: 'Write', tool_use_id: 't', tool_input: { a: 1 } }, 'bad'],
      modelUsage: { m: { costUSD: 0.5, inputTokens: 3 }, bad: 1 },
      model_usage_since_last_result: { m: { costUSD: 0.25 } },
      terminal_reason: 'api_error',
      api_error_status: 529,
      structured_output: { ok: true },
    });
    expect(r).toEqual({
      subtype: 'success',
      isError: true,
      result: 'text',
      errors: ['e1', '{"x":1}'],
      totalCostUsd: 0.5,
      numTurns: 3,
      durationMs: 12,
      sessionId: 's',
      permissionDenials: [{ toolName: 'Write', toolUseId: 't', toolInput: { a: 1 } }],
      modelUsage: { m: { costUSD: 0.5, inputTokens: 3 } },
      modelUsageSinceLastResult: { m: { costUSD: 0.25 } },
      terminalReason: 'api_error',
      apiErrorStatus: 529,
      structuredOutput: { ok: true },
    });
    // null means absent
    expect(
      extractResult({
        type: 'result',
        model_usage_since_last_result: null,
        api_error_status: null,
        structured_output: null,
      }),
    ).toEqual({});
  });

  it('takes the session id from the result when there was no init', () => {
    const { state } = run([{ type: 'result', session_id: 'only-result', is_error: true }]);
    expect(state.sessionId).toBe('only-result');
  });

  it('never throws, whatever it is fed', () => {
    const weird: StreamMessage[] = [
      { type: 'assistant', message: { content: [{ type: 'tool_use' }] } },
      { type: 'system', subtype: 'init', session_id: 1 },
      { type: 'stream_event', event: { type: 'content_block_delta', delta: null } },
      { type: 'result', permission_denials: [null, 1, { tool_name: 3 }] },
    ];
    let state = initialStreamState();
    for (const m of weird) state = reduceStreamMessage(state, m).state;
    expect(state.result?.permissionDenials).toEqual([{ toolName: 'unknown' }]);
  });
});

describe('fixtures through the accumulator', () => {
  it('success-partial-messages: text from deltas only, once', () => {
    const text = readFileSync(path.join(cliDir, 'hand-written', 'success-partial-messages.jsonl'), 'utf8');
    const { state, events } = parseStreamJson(text);
    expect(events.filter((e) => e.type === 'text')).toEqual([
      { type: 'text', text: '2 + 2' },
      { type: 'text', text: ' = 4.' },
    ]);
    expect(state.result?.result).toBe('2 + 2 = 4.');
    expect(state.sessionId).toBe('f1e2d3c4-b5a6-4978-8d6c-5b4a39281706');
  });

  it('write-denied: tool_use, permission_denied, result denials', () => {
    const text = readFileSync(path.join(cliDir, 'captured', 'write-denied.stream-json.jsonl'), 'utf8');
    const { state, events } = parseStreamJson(text);
    expect(events.map((e) => e.type)).toEqual(['init', 'tool_use', 'permission_denied', 'text']);
    expect(state.result?.permissionDenials?.[0]?.toolName).toBe('Write');
    expect(state.result?.modelUsageSinceLastResult?.['claude-opus-5-5']?.costUSD).toBe(0.02152);
  });

  it('a killed stream: the partial last line is dropped', () => {
    const text = readFileSync(path.join(cliDir, 'captured', 'simple.stream-json.jsonl'), 'utf8');
    const lastLineStart = text.trimEnd().lastIndexOf('\n') + 1;
    expect(text.slice(lastLineStart)).toContain('"type":"result"');
    const cut = text.slice(0, lastLineStart + 200);
    const { state } = parseStreamJson(cut);
    expect(state.sessionId).toBe('b4a2ae78-5827-49b7-b1cb-49ea4c2d1fb0');
    expect(state.result).toBeUndefined();
  });
});
