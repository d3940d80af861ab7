/**
 * How failures reach an MCP client: a tool error (`isError: true`) carrying a stable code and a message.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { PoolError } from '../errors.js';
import { SkillError } from '../skills/skill.js';
import { WorkflowError } from '../workflows/workflow.js';

/** A failure as the client sees it. */
export interface ToolFailure {
  /** A stable, machine-readable code: the `PoolError` code (`task_not_found`, `budget_exhausted`, …). */
  code: string;
  message: string;
}

/** An error raised by a tool handler itself (e.g. a missing context key). */
export class ToolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** Formats zod issues as `path: message; path: message`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
        .join('.')
        .replace(/\.\[/g, '[');
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    })
    .join('; ');
}

/** The code and message of anything a handler threw. */
export function describeError(error: unknown): ToolFailure {
  if (error instanceof PoolError || error instanceof ToolError) return { code: error.code, message: error.message };
  if (error instanceof SkillError || error instanceof WorkflowError) {
    return { code: error.code === 'not_found' ? 'not_found' : 'invalid_input', message: error.message };
  }
  if (error instanceof z.ZodError) return { code: 'invalid_input', message: describeZodError(error) };
  if (error instanceof Error) {
    // Other typed errors of the package (e.g. WorktreeError) carry a snake_case code of their own.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code)) return { code, message: error.message };
    return { code: 'internal_error', message: error.message };
  }
  return { code: 'internal_error', message: String(error) };
}

/** A tool error result: JSON text `{"error":{code,message}}` and the same object as structured content. */
export function toolErrorResult(failure: ToolFailure): CallToolResult {
  const body = { error: { code: failure.code, message: failure.message } };
  return { isError: true, content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
}
