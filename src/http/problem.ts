/**
 * Errors over HTTP as RFC 9457 problem details (`application/problem+json`): `{type, title, status, detail,
 * instance?, code}`, where `code` is the typed error's stable code (`task_not_found`, `budget_exhausted`, …).
 */
import { describeError } from '../mcp/errors.js';

/** The media type of a problem document. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** A problem details document. */
export interface ProblemDetails {
  /** `urn:claude-pool:error:{code with dashes}`, e.g. `urn:claude-pool:error:task-not-found`. */
  type: string;
  /** A short summary of the kind of problem, e.g. `Task not found`. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What went wrong this time. */
  detail: string;
  /** The request path. */
  instance?: string;
  /** The stable error code (as MCP tool errors carry it). */
  code: string;
}

/** HTTP status of each error code; codes not listed are 500. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  invalid_input: 400,
  invalid_settings: 400,
  invalid_json: 400,
  unauthorized: 401,
  forbidden_host: 403,
  task_not_found: 404,
  permission_request_not_found: 404,
  slot_not_found: 404,
  key_not_found: 404,
  not_found: 404,
  webhook_not_found: 404,
  route_not_found: 404,
  no_slot_available: 409,
  pool_shutdown: 409,
  budget_exhausted: 409,
  task_budget_exceeds_remaining: 409,
  invalid_task_state: 409,
  scale_limit: 409,
  payload_too_large: 413,
  rate_limited: 503,
  too_many_requests: 429,
};

/** Titles that read better than the code turned into words. */
const TITLE_BY_CODE: Readonly<Record<string, string>> = {
  invalid_input: 'Bad request',
  invalid_json: 'Bad request',
  internal_error: 'Internal server error',
  key_not_found: 'Context key not found',
  not_found: 'Not found',
};

/** The HTTP status an error code maps to. */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

function titleFor(code: string): string {
  const title = TITLE_BY_CODE[code];
  if (title) return title;
  const words = code.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Builds a problem document for a code and a message. */
export function problem(code: string, detail: string, instance?: string, status = statusForCode(code)): ProblemDetails {
  return {
    type: `urn:claude-pool:error:${code.replace(/_/g, '-')}`,
    title: titleFor(code),
    status,
    detail,
    ...(instance === undefined ? {} : { instance }),
    code,
  };
}

/** The problem document for anything thrown (typed errors keep their code; others are 500 `internal_error`). */
export function problemFromError(error: unknown, instance?: string): ProblemDetails {
  const failure = describeError(error);
  return problem(failure.code, failure.message, instance);
}

/** A `Response` carrying a problem document. */
export function problemResponse(body: ProblemDetails, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
  });
}

/** An error that carries its own code, for failures the HTTP layer detects itself. */
export class HttpError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
