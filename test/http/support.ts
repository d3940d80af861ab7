/**
 * Test support for the HTTP front door: a server on a simulated-agent pool (127.0.0.1, ephemeral port),
 * JSON requests with `fetch`, and a server-sent-event reader.
 */
import { EventSourceParserStream, type EventSourceMessage } from 'eventsource-parser/stream';
import { expect } from 'vitest';
import { startHttpServer, type HttpServerOptions, type HttpServing } from '../../src/http/index.js';
import type { Pool, PoolBuilder } from '../../src/pool/index.js';
import { simPool } from '../support/sim-pool.js';

const servers: HttpServing[] = [];

/** A pool on the simulated agent with an HTTP server in front of it. */
export async function servePool(
  options: HttpServerOptions = {},
  configure: (builder: PoolBuilder) => PoolBuilder = (b) => b.slots(2),
): Promise<{ pool: Pool; server: HttpServing }> {
  const pool = await simPool(configure);
  const server = await startHttpServer(pool, { port: 0, ...options });
  servers.push(server);
  return { pool, server };
}

/** Closes every server made by {@link servePool}. Call from `afterEach` before `cleanupPools`. */
export async function closeServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((server) => server.close()));
}

/** A parsed JSON response. */
export interface JsonResponse {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
  headers: Headers;
}

/** Sends a request with an optional JSON body and parses the answer (empty → `{}`). */
export async function request(
  server: HttpServing,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    headers: response.headers,
  };
}

/** Asserts a problem-details response with this status and code; returns the document. */
export function expectProblem(response: JsonResponse, status: number, code: string): Record<string, unknown> {
  expect(response.status).toBe(status);
  expect(response.contentType).toContain('application/problem+json');
  expect(response.body).toMatchObject({ status, code, type: `urn:claude-pool:error:${code.replace(/_/g, '-')}` });
  expect(response.body.title).toEqual(expect.any(String));
  expect(response.body.detail).toEqual(expect.any(String));
  return response.body;
}

/** One server-sent event, its data parsed as JSON. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: Record<string, unknown>;
}

/** An open event stream. */
export interface SseReader {
  status: number;
  contentType: string;
  /** Reads events until `until` returns true for one (included) or the stream ends. */
  readUntil(until: (event: SseEvent) => boolean): Promise<SseEvent[]>;
  /** Reads every event until the server ends the stream. */
  readToEnd(): Promise<SseEvent[]>;
  /** Disconnects. */
  close(): Promise<void>;
}

/** Opens an event stream with `fetch` (optionally resuming with `Last-Event-ID`). */
export async function openSse(
  server: HttpServing,
  path: string,
  headers: Record<string, string> = {},
): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(`${server.url}${path}`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const reader = response.body
    ? response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader()
    : undefined;
  const next = async (): Promise<SseEvent | undefined> => {
    if (!reader) return undefined;
    const { value, done } = await reader.read();
    if (done) return undefined;
    const message = value as EventSourceMessage;
    return { id: message.id, event: message.event, data: JSON.parse(message.data) as Record<string, unknown> };
  };
  const readUntil = async (until: (event: SseEvent) => boolean): Promise<SseEvent[]> => {
    const events: SseEvent[] = [];
    for (;;) {
      const event = await next();
      if (!event) return events;
      events.push(event);
      if (until(event)) return events;
    }
  };
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    readUntil,
    readToEnd: () => readUntil(() => false),
    async close() {
      controller.abort();
      await reader?.cancel().catch(() => undefined);
    },
  };
}
