/**
 * The stream-json input protocol of `claude -p --input-format stream-json`: the lines a host writes to the
 * CLI's stdin (user messages, control requests, control responses) and the control lines the CLI prints
 * (`control_request` / `can_use_tool`, `control_response`), as the Agent SDK speaks them.
 *
 * - A user message: `{"type":"user","session_id":"","message":{"role":"user","content":[{"type":"text","text":…}]},
 *   "parent_tool_use_id":null}`. Each one is a turn: its own `system/init` … `result`.
 * - With `--permission-prompt-tool stdio` the CLI asks before a tool runs:
 *   `{"type":"control_request","request_id":…,"request":{"subtype":"can_use_tool","tool_name":…,"input":…,…}}`,
 *   and waits for `{"type":"control_response","response":{"subtype":"success","request_id":…,
 *   "response":{"behavior":"allow","updatedInput":…}}}` (or `{"behavior":"deny","message":…}`).
 * - An interrupt: `{"type":"control_request","request_id":…,"request":{"subtype":"interrupt"}}`; the CLI ends the
 *   turn with an `error_during_execution` result and answers with a `control_response` of the same id.
 */

/** How a tool-permission question is answered. */
export type PermissionDecision =
  | {
      behavior: 'allow';
      /** The tool's input to run with (default: the input it asked with). */
      updatedInput?: Record<string, unknown>;
    }
  | {
      behavior: 'deny';
      /** Why: the model reads it as the tool's error. */
      message: string;
    };

/** A `can_use_tool` control request, as the CLI printed it. */
export interface ToolPermissionQuestion {
  /** The CLI's `request_id`: the answer must carry it. */
  requestId: string;
  toolName: string;
  input: Record<string, unknown>;
  toolUseId?: string;
  /** The CLI's short description of the call (e.g. the file name). */
  description?: string;
}

/** A control line the CLI printed. */
export type ControlLine =
  | { kind: 'can_use_tool'; question: ToolPermissionQuestion }
  | { kind: 'other_request'; requestId: string; subtype: string }
  | { kind: 'response'; requestId: string; ok: boolean; error?: string };

/** The stdin line of one user message (a new turn). */
export function userMessageLine(prompt: string): string {
  return `${JSON.stringify({
    type: 'user',
    session_id: '',
    message: { role: 'user', content: [{ type: 'text', text: prompt }] },
    parent_tool_use_id: null,
  })}\n`;
}

/** The stdin line answering a `can_use_tool` request. */
export function permissionResponseLine(requestId: string, decision: PermissionDecision): string {
  return `${JSON.stringify({
    type: 'control_response',
    response: { subtype: 'success', request_id: requestId, response: decision },
  })}\n`;
}

/** The stdin line answering a control request the host does not support. */
export function errorResponseLine(requestId: string, error: string): string {
  return `${JSON.stringify({ type: 'control_response', response: { subtype: 'error', request_id: requestId, error } })}\n`;
}

/** The stdin line of an interrupt control request (ends the current turn; the process lives on). */
export function interruptRequestLine(requestId: string): string {
  return `${JSON.stringify({ type: 'control_request', request_id: requestId, request: { subtype: 'interrupt' } })}\n`;
}

/** Reads a parsed stdout line as a control line, or `undefined` when it is none. Never throws. */
export function readControlLine(message: { type: string; [key: string]: unknown }): ControlLine | undefined {
  if (message.type === 'control_request') {
    const requestId = str(message.request_id);
    const request = message.request;
    if (requestId === undefined || !isRecord(request)) return undefined;
    const subtype = str(request.subtype) ?? '';
    if (subtype !== 'can_use_tool') return { kind: 'other_request', requestId, subtype };
    const question: ToolPermissionQuestion = {
      requestId,
      toolName: str(request.tool_name) ?? 'unknown',
      input: isRecord(request.input) ? request.input : {},
    };
    const toolUseId = str(request.tool_use_id);
    if (toolUseId !== undefined) question.toolUseId = toolUseId;
    const description = str(request.description);
    if (description !== undefined) question.description = description;
    return { kind: 'can_use_tool', question };
  }
  if (message.type === 'control_response') {
    const response = message.response;
    if (!isRecord(response)) return undefined;
    const requestId = str(response.request_id);
    if (requestId === undefined) return undefined;
    const ok = response.subtype === 'success';
    const error = str(response.error);
    return error === undefined ? { kind: 'response', requestId, ok } : { kind: 'response', requestId, ok, error };
  }
  return undefined;
}

/** True when `value` is a well-formed {@link PermissionDecision}. */
export function isPermissionDecision(value: unknown): value is PermissionDecision {
  if (!isRecord(value)) return false;
  if (value.behavior === 'allow') return value.updatedInput === undefined || isRecord(value.updatedInput);
  return value.behavior === 'deny' && typeof value.message === 'string';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
