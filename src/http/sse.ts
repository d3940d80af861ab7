/**
 * Serving an {@link EventLog} as server-sent events with Hono's `streamSSE`: the kept events after the
 * reader's `Last-Event-ID` (header, or `last_event_id` query parameter for clients that cannot set headers),
 * then live events, with a `: ping` comment every `keepAliveMs` so that proxies keep the connection open.
 * The response ends when the stream ends or the client goes away.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { EventLog, LoggedEvent } from './event-log.js';
import { HttpError } from './problem.js';

/** Options of {@link sseResponse}. */
export interface SseOptions {
  /** Interval of keep-alive comments (default 15 s). */
  keepAliveMs: number;
}

/** The reader's position: `Last-Event-ID` (or `?last_event_id=`), 0 when absent. Throws `invalid_input`. */
export function lastEventId(c: Context): number {
  const raw = c.req.header('last-event-id') ?? c.req.query('last_event_id');
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw))
    throw new HttpError('invalid_input', `Last-Event-ID must be a non-negative integer (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/** Streams a log to the client from after `afterId`. */
export function sseResponse(c: Context, log: EventLog, afterId: number, options: SseOptions): Response {
  // Read the log now, synchronously, so that nothing appended before the stream starts is missed.
  const reading = log.read(afterId);
  const queue: LoggedEvent[] = [...reading.backlog];
  let done = reading.ended;
  let wake: (() => void) | undefined;
  const subscription = reading.ended
    ? undefined
    : reading.live.subscribe({
        next: (entry) => {
          queue.push(entry);
          wake?.();
        },
        complete: () => {
          done = true;
          wake?.();
        },
      });
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(c, async (stream) => {
    let aborted = false;
    stream.onAbort(() => {
      aborted = true;
      wake?.();
    });
    const ping = setInterval(() => {
      if (!aborted) void stream.write(': ping\n\n').catch(() => undefined);
    }, options.keepAliveMs);
    try {
      if (reading.gap) {
        await stream.writeSSE({
          event: 'gap',
          data: JSON.stringify({ message: 'some events after Last-Event-ID are no longer kept' }),
        });
      }
      for (;;) {
        while (queue.length > 0 && !aborted) {
          const entry = queue.shift() as LoggedEvent;
          await stream.writeSSE({ id: String(entry.id), event: entry.event, data: JSON.stringify(entry.data) });
        }
        if (done || aborted) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      clearInterval(ping);
      subscription?.unsubscribe();
    }
  });
}
