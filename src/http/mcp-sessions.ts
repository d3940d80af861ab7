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
import type { Pool } from '../pool.js';
import { createPoolMcpServer, type PoolMcpServerOptions } from '../mcp/server.js';

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
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
}

/** The MCP sessions of one HTTP server. */
export class McpSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly pool: Pool,
    private readonly options: McpSessionsOptions,
  ) {}

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
      return session.transport.handleRequest(request);
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
        this.sessions.set(id, { transport, server });
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

  /** Closes every session. */
  async close(): Promise<void> {
    const open = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(open.map((session) => session.server.close()));
  }
}
