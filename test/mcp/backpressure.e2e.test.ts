/**
 * Back-pressure seen through the MCP server (`claude-pool serve --simulated`, a real child process): the
 * `pool_status` tool shows the concurrency limit, why it is cut, and a pause for a used-up rate-limit window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { callOk, startServer, until, type ServerHandle } from './support.js';

let server: ServerHandle | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** `pool_status`'s concurrency once `check` holds for it. */
function concurrencyWhen(handle: ServerHandle, check: (concurrency: Record<string, unknown>) => boolean) {
  return until(async () => {
    const status = await callOk(handle.client, 'pool_status');
    const concurrency = status.concurrency as Record<string, unknown>;
    return check(concurrency) ? concurrency : undefined;
  }, 30_000);
}

describe('pool_status shows back-pressure', () => {
  it('the limit an api_retry cut, and a pause until a window resets', async () => {
    server = await startServer(['--simulated', '-n', '4', '--backoff-base-ms', '60000', '--backoff-max-ms', '60000']);
    expect(await concurrencyWhen(server, () => true)).toEqual({ limit: 4, throttled: false, retrying_tasks: 0 });

    const { task_id: retrying } = await callOk(server.client, 'pool_submit', {
      prompt: 'retrying [[sim:api-retry 1 529]] [[sim:hang]]',
    });
    expect(await concurrencyWhen(server, (c) => c.throttled === true)).toEqual({
      limit: 2,
      throttled: true,
      reason: 'api_retry',
      retrying_tasks: 0,
    });
    await callOk(server.client, 'pool_cancel', { task_id: retrying });

    const before = Date.now();
    await callOk(server.client, 'pool_submit', { prompt: 'window [[sim:rate-limit 600000 window]]' });
    const paused = await concurrencyWhen(server, (c) => c.retrying_tasks === 1);
    expect(paused).toMatchObject({ reason: 'rate_limit_window', retrying_tasks: 1 });
    expect(paused.paused_until_ms).toBeGreaterThanOrEqual(before + 590_000);
  }, 60_000);
});
