/**
 * The HTTP front door of a pool: one Hono application on Node's HTTP server that serves MCP over Streamable
 * HTTP at `/mcp`, the REST API at `/v1/...` (with SSE streams and webhooks), `/openapi.json`, `/health`, and
 * (option `ui`) the pool's live web page at `/ui/` (see `src/ui/`).
 *
 * Safe by default: it binds 127.0.0.1; binding any other address needs at least one bearer token; with
 * tokens every route but `/health` needs `Authorization: Bearer <token>`; request bodies are size-limited;
 * on a loopback address the `Host` header must name the loopback (DNS rebinding protection).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Pool } from '../pool/index.js';
import { describeZodError } from '../mcp/errors.js';
import { serverInfo, type PoolMcpServerOptions } from '../mcp/server.js';
import type { ClusterView, ToolContext } from '../mcp/tool.js';
import type { TaskFront } from '../pool/task-front.js';
import { poolChainFront, type ChainFront } from '../pool/chain-front.js';
import type { z } from 'zod';
import { McpSessions } from './mcp-sessions.js';
import { openApiDocument } from './openapi.js';
import { HttpError, problem, problemFromError, problemResponse } from './problem.js';
import { restRoutes, toolByName } from './rest.js';
import type { RestEnvironment, RestRoute } from './route.js';
import { StreamHub } from './streams.js';
import { WebhookDispatcher, type WebhookOptions } from './webhooks.js';
import { UiFeed } from '../ui/feed.js';
import { isPublicUiPath, mountUi } from '../ui/routes.js';
import { pageFiles } from '../ui/assets.js';

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  /** Address to bind (default `127.0.0.1`). Anything but a loopback address needs `tokens`. */
  host?: string;
  /** Port (default 3100; 0 = any free port). */
  port?: number;
  /** Bearer tokens accepted; none = no authentication (loopback only). */
  tokens?: readonly string[];
  /** Serve MCP at `/mcp` (default true). */
  mcp?: boolean;
  /** Serve the REST API at `/v1/...` (default true). */
  rest?: boolean;
  /**
   * Serve the pool's live web page at `/ui/` (default false). Its static files need no token; its data
   * (`/ui/api/...`) needs one like every other route.
   */
  ui?: boolean;
  /** Most REST requests handled at once (event streams not counted); 0 = no limit (default). Over it: 429. */
  maxConcurrent?: number;
  /** Largest request body in bytes (default 1 MiB). Over it: 413. */
  maxBodyBytes?: number;
  /** Interval of keep-alive comments on event streams (default 15 s). */
  keepAliveMs?: number;
  /** MCP sessions with nothing open for this long are closed (default 30 min; 0 = never). */
  mcpSessionIdleMs?: number;
  /** Events kept per stream for `Last-Event-ID` resumption (default 1000). */
  replayCapacity?: number;
  /** Webhook delivery settings. */
  webhooks?: WebhookOptions;
  /** What `pool_status` reports about the server. */
  info?: PoolMcpServerOptions['info'];
  /** Where the task tools and routes send tasks (default: the pool; a cluster node gives its cluster's). */
  tasks?: TaskFront;
  /** Where the chain tools and routes start and follow chains (default: the pool; a cluster node gives its cluster's). */
  chains?: ChainFront;
  /** The cluster this node belongs to: the status tool and route then report it too. */
  cluster?: ClusterView;
}

/** A running HTTP server. */
export interface HttpServing {
  /** `http://host:port` (IPv6 hosts in brackets). */
  url: string;
  host: string;
  port: number;
  /** The webhooks (registered over REST or here). */
  webhooks: WebhookDispatcher;
  /** Open MCP sessions. */
  readonly mcpSessions: number;
  /** The live page's view of the pool, when the page is served (option `ui`). */
  readonly uiFeed?: UiFeed;
  /** Ends every stream and session, stops webhook retries and closes the server. The pool is left running. */
  close(): Promise<void>;
}

/** A configuration the server refuses (code `insecure_bind` or `invalid_input`). */
export class HttpServerError extends Error {
  constructor(
    readonly code: 'insecure_bind' | 'invalid_input',
    message: string,
  ) {
    super(message);
    this.name = 'HttpServerError';
  }
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(bare);
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

function queryObject(c: Context): Record<string, string> {
  return c.req.query();
}

async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(
      'invalid_json',
      `the request body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function parseWith(schema: z.ZodType, value: unknown, what: string): unknown {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError('invalid_input', `invalid ${what}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

/** `/v1/tasks/{id}` → `/v1/tasks/:id`. */
function honoPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}

/**
 * Starts the HTTP server for a pool. Throws {@link HttpServerError} `insecure_bind` when asked to bind a
 * non-loopback address without tokens, and the listen error (e.g. `EADDRINUSE`) when the port is taken.
 */
export async function startHttpServer(pool: Pool, options: HttpServerOptions = {}): Promise<HttpServing> {
  const host = options.host ?? '127.0.0.1';
  const tokens = [...(options.tokens ?? [])].filter((token) => token !== '');
  const loopback = isLoopback(host);
  if (!loopback && tokens.length === 0) {
    throw new HttpServerError(
      'insecure_bind',
      `refusing to bind ${host} without a token: anyone who can reach it could run tasks. Pass --http-token (or the tokens option), or bind 127.0.0.1`,
    );
  }
  for (const token of tokens) {
    if (!/^[A-Za-z0-9._~+/-]+=*$/.test(token)) {
      throw new HttpServerError(
        'invalid_input',
        'a bearer token may only contain letters, digits and -._~+/ (then = padding)',
      );
    }
  }
  const maxConcurrent = options.maxConcurrent ?? 0;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 0) {
    throw new HttpServerError('invalid_input', 'maxConcurrent must be a non-negative integer');
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const keepAliveMs = options.keepAliveMs ?? 15_000;
  const serveMcp = options.mcp ?? true;
  const serveRest = options.rest ?? true;
  const serveUi = options.ui ?? false;
  if (serveUi) pageFiles(); // throws UiNotBuiltError before anything starts

  const info = serverInfo(pool, options.info);

  const uiFeed = serveUi ? new UiFeed(pool) : undefined;
  const webhooks = new WebhookDispatcher(pool, options.webhooks);
  const tasks: TaskFront = options.tasks ?? pool;
  const chains: ChainFront = options.chains ?? poolChainFront(pool);
  const streams = new StreamHub(pool, { replayCapacity: options.replayCapacity, tasks, chains });
  const sessions = new McpSessions(pool, {
    info,
    tasks,
    chains,
    cluster: options.cluster,
    maxBodyBytes,
    keepAliveMs,
    ...(options.mcpSessionIdleMs === undefined ? {} : { sessionIdleMs: options.mcpSessionIdleMs }),
  });
  const routes = restRoutes();
  const env: RestEnvironment = {
    pool,
    tasks,
    chains,
    info,
    streams,
    webhooks,
    keepAliveMs,
    callTool(name, args, signal) {
      const tool = toolByName(name);
      if (!tool) throw new Error(`unknown tool ${name}`);
      const context: ToolContext = {
        pool,
        tasks,
        chains,
        cluster: options.cluster,
        info,
        signal,
        progress: { enabled: false, report: () => undefined, flush: async () => undefined },
      };
      return tool.invoke(args, context);
    },
  };

  const app = new Hono();
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    return problemResponse(problemFromError(error, c.req.path));
  });
  app.notFound((c) =>
    problemResponse(problem('route_not_found', `no route for ${c.req.method} ${c.req.path}`, c.req.path)),
  );

  if (loopback) {
    // DNS rebinding protection: a page on another site cannot reach a loopback server through its own name.
    app.use('*', async (c, next) => {
      const hostHeader = (c.req.header('host') ?? '').toLowerCase();
      const name = hostHeader.replace(/:\d+$/, '');
      if (!isLoopback(name)) {
        return problemResponse(
          problem('forbidden_host', `Host ${hostHeader || '(none)'} is not a loopback name`, c.req.path),
        );
      }
      await next();
    });
  }
  app.get('/health', (c) => c.text('ok'));
  if (tokens.length > 0) {
    const deny = (detail: string) => (c: Context) => problemResponse(problem('unauthorized', detail, c.req.path));
    const auth = bearerAuth({
      token: tokens,
      noAuthenticationHeader: { message: deny('missing Authorization: Bearer <token>') },
      invalidAuthenticationHeader: { message: deny('the Authorization header is not "Bearer <token>"') },
      invalidToken: { message: deny('invalid bearer token') },
    });
    app.use('*', async (c, next) =>
      c.req.path === '/health' || (serveUi && isPublicUiPath(c.req.path)) ? next() : auth(c, next),
    );
  }
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        problemResponse(
          problem('payload_too_large', `request bodies are limited to ${maxBodyBytes} bytes`, c.req.path),
        ),
    }),
  );
  app.get('/openapi.json', (c) => c.json(openApiDocument(serveRest ? routes : [])));
  if (serveMcp) app.on(['GET', 'POST', 'DELETE'], '/mcp', (c) => sessions.handle(c.req.raw));
  if (uiFeed) mountUi(app, pool, uiFeed, { keepAliveMs });

  if (serveRest) {
    let active = 0;
    const register = (route: RestRoute) => {
      app.on(route.method.toUpperCase(), honoPath(route.path), async (c) => {
        const limited = maxConcurrent > 0 && !route.stream;
        if (limited && active >= maxConcurrent) {
          return problemResponse(
            problem('too_many_requests', `at most ${maxConcurrent} concurrent REST requests; retry later`, c.req.path),
            { 'retry-after': '1' },
          );
        }
        if (limited) active += 1;
        try {
          const query = route.query ? parseWith(route.query, queryObject(c), 'query') : undefined;
          const body = route.body ? parseWith(route.body, await jsonBody(c), 'body') : undefined;
          const output = await route.handle(
            { params: c.req.param() as Record<string, string>, query, body, c, signal: c.req.raw.signal },
            env,
          );
          if (output instanceof Response) return output;
          if (route.status === 204) return c.body(null, 204);
          return c.json(output ?? {}, route.status);
        } finally {
          if (limited) active -= 1;
        }
      });
    };
    routes.forEach(register);
  }

  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 3100, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    uiFeed?.close();
    streams.close();
    await sessions.close();
    await webhooks.close();
    throw error;
  }
  const boundPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${boundPort}`,
    host,
    port: boundPort,
    webhooks,
    ...(uiFeed ? { uiFeed } : {}),
    get mcpSessions() {
      return sessions.count;
    },
    close() {
      closing ??= (async () => {
        uiFeed?.close();
        streams.close();
        await sessions.close();
        await webhooks.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
