/**
 * A lenient, incremental parser for `claude -p --output-format stream-json --verbose` stdout.
 *
 * Three layers, each a plain function or a tiny class so they can be tested on their own:
 * - {@link LineSplitter}: bytes/strings in, complete lines out (chunks split mid-line or mid-character,
 *   lines of any length).
 * - {@link parseStreamLine}: one line → a message object, or `undefined` for blank, non-JSON or non-message lines.
 * - {@link reduceStreamMessage}: state + message → new state + the {@link StreamEvent}s it produced.
 *
 * Nothing here throws on bad input: unknown `type`s, unknown fields and fields of the wrong type are ignored.
 * Every field read from the stream is optional.
 */
import { StringDecoder } from 'node:string_decoder';
import type { PermissionDenial } from '../../machines/types.js';
import type { AgentEvent } from './types.js';

/** The events the parser produces (every {@link AgentEvent} except `spawned` and `reused`, which the runner makes). */
export type StreamEvent = Exclude<AgentEvent, { type: 'spawned' | 'reused' }>;

/** One parsed stdout line: a JSON object with a string `type`. Other keys are left as parsed. */
export interface StreamMessage {
  type: string;
  [key: string]: unknown;
}

/** Per-model usage as in `result.modelUsage` (only the fields the pool reads are typed). */
export interface ModelUsage {
  costUSD?: number;
  inputTokens?: number;
  outputTokens?: number;
  cacheReadInputTokens?: number;
  cacheCreationInputTokens?: number;
  [key: string]: unknown;
}

/** The fields of the final `result` line, camel-cased. Every field is optional. */
export interface StreamResult {
  /** `subtype`: `success`, `error_max_turns`, `error_max_budget_usd`, `error_during_execution`, … */
  subtype?: string;
  /** `is_error`: the success flag. `subtype: "success"` can come with `is_error: true`. */
  isError?: boolean;
  /** `result`: final text, or the error text for API errors. Absent on `error_*` subtypes. */
  result?: string;
  /** `errors`: error texts of the `error_*` subtypes. */
  errors?: string[];
  /** `total_cost_usd`: cumulative for the whole session (it carries on across `--resume`). */
  totalCostUsd?: number;
  /** `num_turns`. */
  numTurns?: number;
  /** `duration_ms`. */
  durationMs?: number;
  /** `session_id`. */
  sessionId?: string;
  /** `permission_denials`. */
  permissionDenials?: PermissionDenial[];
  /** `modelUsage`: cumulative per-model usage. */
  modelUsage?: Record<string, ModelUsage>;
  /** `model_usage_since_last_result` (untyped in the SDK): per-model usage of this process only. */
  modelUsageSinceLastResult?: Record<string, ModelUsage>;
  /** `terminal_reason`. */
  terminalReason?: string;
  /** `api_error_status`. */
  apiErrorStatus?: number;
  /** `structured_output` (with `--json-schema`). */
  structuredOutput?: unknown;
}

/** What the reducer has learned so far. Treat as immutable; {@link reduceStreamMessage} returns a new one. */
export interface StreamState {
  /** From `system/init` (or, failing that, any later line's `session_id`). */
  readonly sessionId?: string;
  /** `system/init.model`. */
  readonly model?: string;
  /** The last `result` line seen. */
  readonly result?: StreamResult;
  /** Denials seen live (`system/permission_denied`), in order. */
  readonly liveDenials: readonly PermissionDenial[];
  /** `message.id` of the last `stream_event` `message_start`. */
  readonly streamMessageId?: string;
  /** Message ids whose text already went out as `text_delta` chunks. */
  readonly partialTextMessageIds: readonly string[];
  /** `text_delta`s arrived for a message whose id is unknown (no `message_start`). */
  readonly anonymousPartialText: boolean;
}

/** The result of one reducer step. */
export interface StreamStep {
  state: StreamState;
  events: StreamEvent[];
}

// ---------------------------------------------------------------------------------------------------------------
// Line splitting
// ---------------------------------------------------------------------------------------------------------------

/**
 * Splits a byte or string stream into lines on `\n` (a trailing `\r` is dropped). Handles chunks that end
 * mid-line or mid-UTF-8-character, and lines of any length in linear time. Never throws.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending: string[] = [];

  /** Feeds a chunk; returns the lines it completed (possibly none). */
  push(chunk: string | Uint8Array): string[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(toBuffer(chunk));
    return this.take(text);
  }

  /** Ends the stream; returns the last line if it had no newline (and is not empty). */
  end(): string[] {
    const rest = this.take(this.decoder.end());
    const last = this.pending.join('');
    this.pending = [];
    if (last.length > 0) rest.push(stripCr(last));
    return rest;
  }

  private take(text: string): string[] {
    const lines: string[] = [];
    if (text.length === 0) return lines;
    let start = 0;
    let nl = text.indexOf('\n', start);
    while (nl !== -1) {
      const piece = text.slice(start, nl);
      let line: string;
      if (this.pending.length > 0) {
        this.pending.push(piece);
        line = this.pending.join('');
        this.pending = [];
      } else {
        line = piece;
      }
      lines.push(stripCr(line));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (start < text.length) this.pending.push(text.slice(start));
    return lines;
  }
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Splits a whole text into lines (convenience over {@link LineSplitter}). */
export function splitLines(text: string): string[] {
  const splitter = new LineSplitter();
  return [...splitter.push(text), ...splitter.end()];
}

// ---------------------------------------------------------------------------------------------------------------
// Line parsing
// ---------------------------------------------------------------------------------------------------------------

/**
 * Parses one stdout line. Returns `undefined` for blank lines, non-JSON lines, JSON that is not an object,
 * and objects without a string `type`. Never throws.
 */
export function parseStreamLine(line: string): StreamMessage | undefined {
  const trimmed = line.trim();
  if (trimmed.length === 0 || trimmed[0] !== '{') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || typeof value.type !== 'string') return undefined;
  return value as StreamMessage;
}

// ---------------------------------------------------------------------------------------------------------------
// Reducing
// ---------------------------------------------------------------------------------------------------------------

/** The state before any line. */
export function initialStreamState(): StreamState {
  return { liveDenials: [], partialTextMessageIds: [], anonymousPartialText: false };
}

/**
 * Folds one message into the state and returns the events it produced:
 * - `system/init` → `init` (session id and model);
 * - `assistant` → one `text` per text block (skipped when `text_delta`s of the same message were already
 *   emitted) and one `tool_use` per tool_use block;
 * - `stream_event` `content_block_delta`/`text_delta` → `text`;
 * - `system/permission_denied` → `permission_denied`;
 * - `system/api_retry` → `api_retry` (an API call failed and is retried; the run goes on);
 * - `rate_limit_event` → `rate_limit` (`resetsAt`, Unix seconds, becomes `resetsAtMs`);
 * - `result` → no event; its fields land in `state.result`.
 * Unknown types and malformed fields are ignored. Never throws.
 */
export function reduceStreamMessage(state: StreamState, message: StreamMessage): StreamStep {
  try {
    return reduceUnsafe(state, message);
  } catch {
    return { state, events: [] };
  }
}

function reduceUnsafe(state: StreamState, message: StreamMessage): StreamStep {
  const events: StreamEvent[] = [];
  switch (message.type) {
    case 'system':
      return reduceSystem(state, message, events);
    case 'assistant':
      return reduceAssistant(withLineSession(state, message), message, events);
    case 'stream_event':
      return reduceStreamEvent(withLineSession(state, message), message, events);
    case 'rate_limit_event':
      return reduceRateLimit(withLineSession(state, message), message, events);
    case 'result': {
      const result = extractResult(message);
      const next: StreamState = { ...state, result };
      if (next.sessionId === undefined && result.sessionId !== undefined) {
        return { state: { ...next, sessionId: result.sessionId }, events };
      }
      return { state: next, events };
    }
    default:
      return { state: withLineSession(state, message), events };
  }
}

/** Takes `session_id` from any line when no `init` has set one yet. */
function withLineSession(state: StreamState, message: StreamMessage): StreamState {
  if (state.sessionId !== undefined) return state;
  const sessionId = str(message.session_id);
  return sessionId === undefined ? state : { ...state, sessionId };
}

function reduceSystem(state: StreamState, message: StreamMessage, events: StreamEvent[]): StreamStep {
  const subtype = str(message.subtype);
  if (subtype === 'init') {
    const sessionId = str(message.session_id) ?? state.sessionId;
    const model = str(message.model) ?? state.model;
    const next: StreamState = { ...state, sessionId, model };
    if (sessionId !== undefined) {
      events.push(model === undefined ? { type: 'init', sessionId } : { type: 'init', sessionId, model });
    }
    return { state: next, events };
  }
  if (subtype === 'permission_denied') {
    const toolName = str(message.tool_name) ?? 'unknown';
    const text = str(message.message);
    events.push(
      text === undefined
        ? { type: 'permission_denied', toolName }
        : { type: 'permission_denied', toolName, message: text },
    );
    const denial: PermissionDenial = { toolName };
    const toolUseId = str(message.tool_use_id);
    if (toolUseId !== undefined) denial.toolUseId = toolUseId;
    return { state: { ...withLineSession(state, message), liveDenials: [...state.liveDenials, denial] }, events };
  }
  if (subtype === 'api_retry') {
    const event: Extract<StreamEvent, { type: 'api_retry' }> = { type: 'api_retry' };
    const attempt = num(message.attempt);
    if (attempt !== undefined) event.attempt = attempt;
    const maxRetries = num(message.max_retries);
    if (maxRetries !== undefined) event.maxRetries = maxRetries;
    const delay = num(message.retry_delay_ms);
    if (delay !== undefined) event.retryDelayMs = delay;
    const status = num(message.error_status);
    if (status !== undefined) event.status = status;
    const error = str(message.error);
    if (error !== undefined) event.error = error;
    events.push(event);
  }
  return { state: withLineSession(state, message), events };
}

/** `rate_limit_event`: `rate_limit_info.{status, resetsAt (Unix seconds), rateLimitType}`. */
function reduceRateLimit(state: StreamState, message: StreamMessage, events: StreamEvent[]): StreamStep {
  const info = message.rate_limit_info;
  if (!isRecord(info)) return { state, events };
  const status = str(info.status);
  if (status === undefined) return { state, events };
  const event: Extract<StreamEvent, { type: 'rate_limit' }> = { type: 'rate_limit', status };
  const resetsAt = num(info.resetsAt);
  if (resetsAt !== undefined) event.resetsAtMs = Math.round(resetsAt * 1000);
  const kind = str(info.rateLimitType);
  if (kind !== undefined) event.rateLimitType = kind;
  events.push(event);
  return { state, events };
}

function reduceAssistant(state: StreamState, message: StreamMessage, events: StreamEvent[]): StreamStep {
  const inner = message.message;
  if (!isRecord(inner) || !Array.isArray(inner.content)) return { state, events };
  const id = str(inner.id);
  const textAlreadyStreamed =
    state.anonymousPartialText || (id !== undefined && state.partialTextMessageIds.includes(id));
  for (const block of inner.content) {
    if (!isRecord(block)) continue;
    if (block.type === 'text') {
      const text = str(block.text);
      if (text !== undefined && text.length > 0 && !textAlreadyStreamed) events.push({ type: 'text', text });
    } else if (block.type === 'tool_use') {
      const name = str(block.name);
      if (name !== undefined) events.push({ type: 'tool_use', name, input: block.input });
    }
  }
  return { state, events };
}

function reduceStreamEvent(state: StreamState, message: StreamMessage, events: StreamEvent[]): StreamStep {
  const event = message.event;
  if (!isRecord(event)) return { state, events };
  switch (event.type) {
    case 'message_start': {
      const id = isRecord(event.message) ? str(event.message.id) : undefined;
      return { state: { ...state, streamMessageId: id, anonymousPartialText: false }, events };
    }
    case 'message_stop':
      return { state: { ...state, anonymousPartialText: false }, events };
    case 'content_block_delta': {
      const delta = event.delta;
      if (!isRecord(delta) || delta.type !== 'text_delta') return { state, events };
      const text = str(delta.text);
      if (text === undefined || text.length === 0) return { state, events };
      events.push({ type: 'text', text });
      const id = state.streamMessageId;
      if (id === undefined) return { state: { ...state, anonymousPartialText: true }, events };
      if (state.partialTextMessageIds.includes(id)) return { state, events };
      return { state: { ...state, partialTextMessageIds: [...state.partialTextMessageIds, id] }, events };
    }
    default:
      return { state, events };
  }
}

/** Reads the fields of a `result` line, keeping only values of the right type. */
export function extractResult(message: Record<string, unknown>): StreamResult {
  const out: StreamResult = {};
  const subtype = str(message.subtype);
  if (subtype !== undefined) out.subtype = subtype;
  if (typeof message.is_error === 'boolean') out.isError = message.is_error;
  const result = str(message.result);
  if (result !== undefined) out.result = result;
  if (Array.isArray(message.errors)) {
    out.errors = message.errors.map((e) => (typeof e === 'string' ? e : safeJson(e)));
  }
  const cost = num(message.total_cost_usd);
  if (cost !== undefined) out.totalCostUsd = cost;
  const turns = num(message.num_turns);
  if (turns !== undefined) out.numTurns = turns;
  const duration = num(message.duration_ms);
  if (duration !== undefined) out.durationMs = duration;
  const sessionId = str(message.session_id);
  if (sessionId !== undefined) out.sessionId = sessionId;
  if (Array.isArray(message.permission_denials)) {
    out.permissionDenials = message.permission_denials.filter(isRecord).map((d) => {
      const denial: PermissionDenial = { toolName: str(d.tool_name) ?? 'unknown' };
      const id = str(d.tool_use_id);
      if (id !== undefined) denial.toolUseId = id;
      if (d.tool_input !== undefined) denial.toolInput = d.tool_input;
      return denial;
    });
  }
  const modelUsage = usageMap(message.modelUsage);
  if (modelUsage !== undefined) out.modelUsage = modelUsage;
  const sinceLast = usageMap(message.model_usage_since_last_result);
  if (sinceLast !== undefined) out.modelUsageSinceLastResult = sinceLast;
  const terminal = str(message.terminal_reason);
  if (terminal !== undefined) out.terminalReason = terminal;
  const status = num(message.api_error_status);
  if (status !== undefined) out.apiErrorStatus = status;
  if (message.structured_output !== undefined && message.structured_output !== null) {
    out.structuredOutput = message.structured_output;
  }
  return out;
}

function usageMap(value: unknown): Record<string, ModelUsage> | undefined {
  if (!isRecord(value)) return undefined;
  const out: Record<string, ModelUsage> = {};
  for (const [model, usage] of Object.entries(value)) {
    if (!isRecord(usage)) continue;
    const entry: ModelUsage = { ...usage };
    if (num(usage.costUSD) === undefined) delete entry.costUSD;
    out[model] = entry;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Convenience wrappers
// ---------------------------------------------------------------------------------------------------------------

/**
 * Splitter + parser + reducer in one object, for feeding a live stream. `push` and `end` return the events
 * the new complete lines produced; `state` is the state so far. Never throws.
 */
export class StreamJsonAccumulator {
  private readonly splitter = new LineSplitter();
  private current: StreamState = initialStreamState();

  /** The state after every line fed so far. */
  get state(): StreamState {
    return this.current;
  }

  /** Feeds a stdout chunk. */
  push(chunk: string | Uint8Array): StreamEvent[] {
    return this.feed(this.splitter.push(chunk));
  }

  /** Ends the stream (parses a last line that had no newline). */
  end(): StreamEvent[] {
    return this.feed(this.splitter.end());
  }

  private feed(lines: string[]): StreamEvent[] {
    const events: StreamEvent[] = [];
    for (const line of lines) {
      const message = parseStreamLine(line);
      if (message === undefined) continue;
      const step = reduceStreamMessage(this.current, message);
      this.current = step.state;
      events.push(...step.events);
    }
    return events;
  }
}

/** Parses a whole stdout text at once. */
export function parseStreamJson(text: string): StreamStep {
  const acc = new StreamJsonAccumulator();
  const events = [...acc.push(text), ...acc.end()];
  return { state: acc.state, events };
}

// ---------------------------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
