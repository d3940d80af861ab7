/**
 * Serving a pool's MCP server over stdio. stdout carries the protocol, so nothing else may write to it.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Pool } from '../pool/index.js';
import { createPoolMcpServer, type PoolMcpServerOptions } from './server.js';

/** A running stdio server. */
export interface StdioServing {
  /** Resolves when the client goes away (stdin ends or the transport closes). */
  closed: Promise<void>;
  /** Closes the server and its transport. */
  close(): Promise<void>;
}

/** Serves the pool on this process's stdin/stdout. */
export async function serveStdio(pool: Pool, options: PoolMcpServerOptions = {}): Promise<StdioServing> {
  const server = createPoolMcpServer(pool, options);
  const transport = new StdioServerTransport();
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  transport.onclose = () => markClosed();
  process.stdin.once('end', () => markClosed());
  process.stdin.once('close', () => markClosed());
  // connect() keeps this handler and calls the server's own after it.
  await server.connect(transport);
  return {
    closed,
    async close() {
      await server.close().catch(() => undefined);
      markClosed();
    },
  };
}
