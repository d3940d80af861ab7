/**
 * How a REST route is declared: method, path (OpenAPI style, `/v1/tasks/{id}`), zod schemas for the query
 * and the body, the success status and a handler. The same declarations register the Hono routes and
 * generate the OpenAPI document, so the documented schemas are the ones enforced.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import type { Pool } from '../pool/index.js';
import type { TaskFront } from '../pool/task-front.js';
import type { ChainFront } from '../pool/chain-front.js';
import type { ServerInfo } from '../mcp/tool.js';
import type { WireObject } from '../mcp/wire.js';
import type { StreamHub } from './streams.js';
import type { WebhookDispatcher } from './webhooks.js';

/** An HTTP method of a route. */
export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What every handler can use. */
export interface RestEnvironment {
  pool: Pool;
  /** Where task routes read and send tasks: the pool, or the cluster a node belongs to. */
  tasks: TaskFront;
  /** Where chain routes read and start chains: the pool's, or the cluster's. */
  chains: ChainFront;
  info: ServerInfo;
  streams: StreamHub;
  webhooks: WebhookDispatcher;
  /** Validates arguments against an MCP tool's schema and runs it (the REST and MCP front doors share them). */
  callTool(name: string, args: unknown, signal: AbortSignal): Promise<WireObject>;
  /** Keep-alive interval of event streams. */
  keepAliveMs: number;
}

/** The parsed input of a request. */
export interface RouteInput<Query, Body> {
  params: Record<string, string>;
  query: Query;
  body: Body;
  /** The Hono context (for streams). */
  c: Context;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** What a handler returns: a JSON body, nothing (204), or a ready response (event streams). */
export type RouteOutput = WireObject | undefined | Response;

/** A declared route. */
export interface RestRoute {
  method: RouteMethod;
  /** OpenAPI path, e.g. `/v1/tasks/{id}`. */
  path: string;
  /** One line for the OpenAPI document. */
  summary: string;
  /** The matching MCP tool (documentation). */
  tool?: string;
  /** Query parameters (strings from the URL, coerced as the schema says). */
  query?: z.ZodType;
  /** The JSON body. */
  body?: z.ZodType;
  /** The success status (204 = no body). */
  status: 200 | 201 | 202 | 204;
  /** True for `text/event-stream` routes (not counted by the concurrency limit). */
  stream?: boolean;
  handle(input: RouteInput<unknown, unknown>, env: RestEnvironment): Promise<RouteOutput> | RouteOutput;
}

/** Declares a route with typed query and body. */
export function defineRoute<
  Q extends z.ZodType = z.ZodType<undefined>,
  B extends z.ZodType = z.ZodType<undefined>,
>(route: {
  method: RouteMethod;
  path: string;
  summary: string;
  tool?: string;
  query?: Q;
  body?: B;
  status: 200 | 201 | 202 | 204;
  stream?: boolean;
  handle(input: RouteInput<z.output<Q>, z.output<B>>, env: RestEnvironment): Promise<RouteOutput> | RouteOutput;
}): RestRoute {
  return route as RestRoute;
}
