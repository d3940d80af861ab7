/**
 * MCP over Streamable HTTP at `/mcp`, with sessions: each client that sends `initialize` gets its own
 * session (an `McpServer` with the pool's tools and resources, over the SDK's Streamable HTTP transport), and
 * every session shares the one pool, so several coordinators can work on it at once. Later requests carry
 * the `Mcp-Session-Id` header; `DELETE /mcp` ends a session.
 */
import { randomUUID } from 'node:crypto';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isInitializeRequest, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Pool } from '../pool/index.js';
import { createPoolMcpServer, type PoolMcpServerOptions } from '../mcp/server.js';

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  /** Requests (and open streams) of this session under way. */
  inFlight: number;
  /** When the last request of this session ended (or started). */
  lastActiveMs: number;
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** Options of {@link McpSessions}. */
export interface McpSessionsOptions extends PoolMcpServerOptions {
  /** Largest request body, bytes. */
  maxBodyBytes: number;
  /** Keep-alive interval of the transport's SSE streams. */
  keepAliveMs: number;
  /**
   * A session with no request or stream open for this long is closed (default 30 min; 0 = never). Clients
   * that vanish without `DELETE /mcp` are cleaned up this way.
   */
  sessionIdleMs?: number;
}

/** The MCP sessions of one HTTP server. */
export class McpSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper?: NodeJS.Timeout;
  private readonly idleMs: number;

  constructor(
    private readonly pool: Pool,
    private readonly options: McpSessionsOptions,
  ) {
    this.idleMs = options.sessionIdleMs ?? 30 * 60_000;
    if (this.idleMs > 0) {
      this.sweeper = setInterval(() => this.closeIdle(), Math.max(10, Math.min(60_000, this.idleMs / 2)));
      this.sweeper.unref();
    }
  }

  /** Open sessions. */
  get count(): number {
    return this.sessions.size;
  }

  /** Handles one request to `/mcp` (POST, GET or DELETE). */
  async handle(request: Request): Promise<Response> {
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId) {
      const session = this.sessions.get(sessionId);
      if (!session) return jsonRpcError(404, -32001, `session not found: ${sessionId}`);
      return this.tracked(session, request, () => session.transport.handleRequest(request));
    }
    if (request.method !== 'POST') return jsonRpcError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    let body: unknown;
    try {
      body = await request.json();
    } catch {
      return jsonRpcError(400, -32700, 'Parse error: the body is not JSON');
    }
    const messages = Array.isArray(body) ? body : [body];
    if (!messages.some((message) => isInitializeRequest(message))) {
      return jsonRpcError(400, -32000, 'Bad Request: no session; send initialize first');
    }
    const server = createPoolMcpServer(this.pool, this.options);
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      keepAliveMs: this.options.keepAliveMs,
      maxRequestBodySize: this.options.maxBodyBytes,
      onsessioninitialized: (id) => {
        this.sessions.set(id, { transport, server, inFlight: 0, lastActiveMs: Date.now() });
      },
      onsessionclosed: (id) => {
        this.sessions.delete(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return transport.handleRequest(request, { parsedBody: body as JSONRPCMessage | JSONRPCMessage[] });
  }

  /**
   * Runs a request of a session, counting it as in flight until its response body has been sent or the client
   * has gone away (a `GET /mcp` stream stays in flight while it is open).
   */
  private async tracked(session: Session, request: Request, handle: () => Promise<Response>): Promise<Response> {
    session.inFlight += 1;
    session.lastActiveMs = Date.now();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      session.inFlight -= 1;
      session.lastActiveMs = Date.now();
    };
    request.signal.addEventListener('abort', end, { once: true });
    let response: Response;
    try {
      response = await handle();
    } catch (error) {
      end();
      throw error;
    }
    if (!response.body) {
      end();
      return response;
    }
    const body = response.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ flush: end }));
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  }

  /** Closes sessions idle for longer than the idle timeout. */
  private closeIdle(): void {
    const now = Date.now();
    for (const [id, session] of this.sessions) {
      if (session.inFlight > 0 || now - session.lastActiveMs < this.idleMs) continue;
      this.sessions.delete(id);
      void session.server.close().catch(() => undefined);
    }
  }

  /** Closes every session. */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    const open = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(open.map((session) => session.server.close()));
  }
}
