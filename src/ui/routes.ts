/**
 * The page's routes on a Hono application:
 * - `GET /ui/` and `GET /ui/assets/*`: the built page (no pool data; served without a token so that a browser
 *   can load it, the page then sends the token it was given in its URL fragment with every data request);
 * - `GET /ui/api/charts`: the laid-out statecharts;
 * - `GET /ui/api/stream`: server-sent events: `hello` (the whole pool) on connect, then `delta`, `event` and
 *   `output` as the pool changes (a reconnecting page gets a fresh `hello`, so it always catches up);
 * - `GET /ui/api/actors/:id`: a task's or chain's kept history and output;
 * - `POST /ui/api/tasks/:id/approve` and `/reject` (`{ "feedback": "…" }`): review decisions.
 */
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Pool } from '../pool/index.js';
import { HttpError } from '../http/problem.js';
import { poolCharts } from './charts.js';
import { pageFiles } from './assets.js';
import type { UiFeed, UiMessage } from './feed.js';

/** Paths of the page's static files: served without a token (they hold no pool data). */
export function isPublicUiPath(path: string): boolean {
  return path === '/ui' || path === '/ui/' || path === '/ui/index.html' || path.startsWith('/ui/assets/');
}

/** Options of {@link mountUi}. */
export interface UiRouteOptions {
  /** Interval of keep-alive comments on the event stream. */
  keepAliveMs: number;
}

function fileResponse(c: Context, path: string): Response {
  const file = pageFiles().get(path);
  if (!file) throw new HttpError('route_not_found', `no file ${path} in the page`);
  const immutable = path.startsWith('assets/');
  return c.body(file.body as Uint8Array<ArrayBuffer>, 200, {
    'content-type': file.contentType,
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
}

async function feedbackOf(c: Context): Promise<string> {
  const text = await c.req.text();
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      throw new HttpError('invalid_json', 'the request body is not valid JSON');
    }
  }
  const feedback = typeof body === 'object' && body !== null ? (body as { feedback?: unknown }).feedback : undefined;
  if (typeof feedback !== 'string' || feedback.trim() === '') {
    throw new HttpError('invalid_input', 'a rejection needs { "feedback": "<what to change>" }');
  }
  return feedback;
}

/** Adds the page's routes (see the module comment) to `app`. */
export function mountUi(app: Hono, pool: Pool, feed: UiFeed, options: UiRouteOptions): void {
  pageFiles(); // fail at start, not at the first request, when the page is not built
  app.get('/ui', (c) => c.redirect('/ui/'));
  app.get('/ui/', (c) => fileResponse(c, 'index.html'));
  app.get('/ui/index.html', (c) => fileResponse(c, 'index.html'));
  app.get('/ui/assets/:file', (c) => fileResponse(c, `assets/${c.req.param('file')}`));
  app.get('/ui/api/charts', async (c) => c.json(await poolCharts()));
  app.get('/ui/api/actors/:id', (c) => {
    const detail = feed.detail(c.req.param('id'));
    if (!detail) throw new HttpError('task_not_found', `no task or chain ${c.req.param('id')}`);
    return c.json(detail);
  });
  app.post('/ui/api/tasks/:id/approve', async (c) => {
    await pool.approveResult(c.req.param('id'));
    return c.json({ task_id: c.req.param('id'), approved: true });
  });
  app.post('/ui/api/tasks/:id/reject', async (c) => {
    const feedback = await feedbackOf(c);
    await pool.rejectResult(c.req.param('id'), feedback);
    return c.json({ task_id: c.req.param('id'), rejected: true });
  });
  app.get('/ui/api/stream', (c) => {
    // Take the whole pool and subscribe in one synchronous step: no change falls between them.
    const hello = feed.full();
    const queue: UiMessage[] = [];
    let done = false;
    let wake: (() => void) | undefined;
    const subscription = feed.messages$.subscribe({
      next: (message) => {
        queue.push(message);
        wake?.();
      },
      complete: () => {
        done = true;
        wake?.();
      },
    });
    c.header('X-Accel-Buffering', 'no');
    c.header('Cache-Control', 'no-cache');
    return streamSSE(c, async (stream) => {
      let aborted = false;
      stream.onAbort(() => {
        aborted = true;
        wake?.();
      });
      const leave = feed.reader();
      const ping = setInterval(() => {
        if (!aborted) void stream.write(': ping\n\n').catch(() => undefined);
      }, options.keepAliveMs);
      try {
        await stream.writeSSE({ event: 'hello', data: JSON.stringify(hello) });
        for (;;) {
          while (queue.length > 0 && !aborted) {
            const message = queue.shift() as UiMessage;
            await stream.writeSSE({ event: message.event, data: JSON.stringify(message.data) });
          }
          if (done || aborted) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        leave();
        clearInterval(ping);
        subscription.unsubscribe();
      }
    });
  });
}
