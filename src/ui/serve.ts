/**
 * {@link serveUi}: the pool's live web page on its own HTTP server — the HTTP front door of `src/http/` with only
 * the page switched on, so it follows the same rules: 127.0.0.1 by default, any other address needs a bearer
 * token, the `Host` header is checked on loopback.
 */
import type { Pool } from '../pool/index.js';
import type { Observable } from 'rxjs';
import { startHttpServer, type HttpServerOptions } from '../http/server.js';

/** Options of {@link serveUi}. */
export interface UiServerOptions {
  /** Address to bind (default `127.0.0.1`); anything but a loopback address needs `tokens`. */
  host?: string;
  /** Port (default 3200; 0 = any free port). */
  port?: number;
  /** Bearer tokens accepted by the page's data routes; none = no authentication (loopback only). */
  tokens?: readonly string[];
  /** Interval of keep-alive comments on the event stream (default 15 s). */
  keepAliveMs?: number;
  /** Also serve the REST API and MCP on the same server (default false). */
  api?: boolean;
}

/** A running page server. */
export interface UiServing {
  /** `http://host:port`. */
  url: string;
  /** The page's address: `<url>/ui/`, with `#token=…` when a token is needed. */
  pageUrl: string;
  port: number;
  /** How many pages are connected, now and on every change. */
  readers$: Observable<number>;
  /** Closes the server (the pool keeps running). */
  close(): Promise<void>;
}

/** The page's address on a server at `url`, carrying the token in the fragment (never sent to the server). */
export function uiPageUrl(url: string, token?: string): string {
  return `${url}/ui/${token ? `#token=${encodeURIComponent(token)}` : ''}`;
}

/** Serves the pool's live web page. Throws like `startHttpServer` (`insecure_bind`, `EADDRINUSE`, page not built). */
export async function serveUi(pool: Pool, options: UiServerOptions = {}): Promise<UiServing> {
  const api = options.api ?? false;
  const httpOptions: HttpServerOptions = {
    host: options.host,
    port: options.port ?? 3200,
    tokens: options.tokens,
    mcp: api,
    rest: api,
    ui: true,
    ...(options.keepAliveMs !== undefined ? { keepAliveMs: options.keepAliveMs } : {}),
  };
  const serving = await startHttpServer(pool, httpOptions);
  return {
    url: serving.url,
    pageUrl: uiPageUrl(serving.url, options.tokens?.[0]),
    port: serving.port,
    readers$: (serving.uiFeed as NonNullable<typeof serving.uiFeed>).readers$,
    close: () => serving.close(),
  };
}
