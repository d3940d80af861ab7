import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpServing } from '../../src/http/index.js';
import { cleanupPools } from '../support/sim-pool.js';
import { closeServers, expectProblem, request, servePool } from './support.js';

/** A delivery as the receiver saw it. */
interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown>;
}

/** A local webhook receiver that answers each request with the next status of `statuses` (then 200). */
class Receiver {
  readonly received: Received[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];
  server!: Server;

  constructor(private readonly statuses: number[] = []) {}

  handler = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      this.received.push({ headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown> });
      res.statusCode = this.statuses.shift() ?? 200;
      res.end();
      this.waiters = this.waiters.filter((waiter) => {
        if (this.received.length < waiter.count) return true;
        waiter.resolve();
        return false;
      });
    });
  };

  async listen(server: Server): Promise<string> {
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return String((server.address() as AddressInfo).port);
  }

  /** Resolves once `count` requests have arrived. */
  waitFor(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const receivers: Receiver[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await closeServers();
  await cleanupPools();
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `count` deliveries have reached a final state (delivered or failed). */
function settledDeliveries(server: HttpServing, count: number): Promise<unknown> {
  return firstValueFrom(
    server.webhooks.updates$.pipe(
      filter((delivery) => delivery.state !== 'pending'),
      take(count),
      toArray(),
    ),
  );
}

function verify(secret: string, delivery: Received): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(delivery.body).digest('hex')}`);
  const given = Buffer.from(String(delivery.headers['x-claude-pool-signature']));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A self-signed certificate for 127.0.0.1, made with openssl. */
function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'claude-pool-tls-'));
  dirs.push(dir);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

describe('webhooks', () => {
  it('delivers task events signed with HMAC-SHA256, retries a failed delivery and logs every attempt', async () => {
    const receiver = new Receiver([500]);
    receivers.push(receiver);
    const port = await receiver.listen(createHttpServer(receiver.handler));
    const { pool, server } = await servePool({ webhooks: { initialBackoffMs: 20 } });
    const created = await request(server, 'POST', '/v1/webhooks', {
      url: `http://127.0.0.1:${port}/hook`,
      events: ['task_completed', 'task_failed'],
      secret: 'a-secret-of-sixteen+',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^wh-/),
      events: ['task_completed', 'task_failed'],
      secret: 'a-secret-of-sixteen+',
    });
    const hookId = String(created.body.id);

    const settled = settledDeliveries(server, 2);
    const task = await pool.run('[[sim:text done]]');
    expect(task.success).toBe(true);
    await receiver.waitFor(2);
    const [failedAttempt, retry] = receiver.received;
    expect(failedAttempt.body).toBe(retry.body);
    expect(failedAttempt.headers['x-claude-pool-attempt']).toBe('1');
    expect(retry.headers['x-claude-pool-attempt']).toBe('2');
    expect(retry.headers['x-claude-pool-event']).toBe('task_completed');
    expect(retry.headers['x-claude-pool-delivery']).toBe(failedAttempt.headers['x-claude-pool-delivery']);
    expect(verify('a-secret-of-sixteen+', retry)).toBe(true);
    expect(verify('another-secret-value', retry)).toBe(false);
    expect(retry.json).toMatchObject({
      event: 'task_completed',
      timestamp_ms: expect.any(Number),
      output: 'done',
      success: true,
      webhook_id: hookId,
    });

    const failed = await pool.run('[[sim:error api-error 500]]');
    expect(failed.success).toBe(false);
    await receiver.waitFor(3);
    expect(receiver.received[2].json).toMatchObject({ event: 'task_failed', success: false });
    await settled;

    const log = await request(server, 'GET', `/v1/webhooks/${hookId}/deliveries`);
    const deliveries = log.body.deliveries as { event: string; state: string; attempts: { status?: number }[] }[];
    expect(deliveries.map((d) => [d.event, d.state, d.attempts.map((a) => a.status)])).toEqual([
      ['task_completed', 'delivered', [500, 200]],
      ['task_failed', 'delivered', [200]],
    ]);

    const listed = await request(server, 'GET', '/v1/webhooks');
    expect(listed.body.webhooks).toEqual([expect.not.objectContaining({ secret: expect.anything() })]);
    expect((await request(server, 'GET', `/v1/webhooks/${hookId}`)).body).toMatchObject({ id: hookId });
    expect((await request(server, 'DELETE', `/v1/webhooks/${hookId}`)).status).toBe(204);
    expectProblem(await request(server, 'DELETE', `/v1/webhooks/${hookId}`), 404, 'webhook_not_found');
    expectProblem(await request(server, 'GET', `/v1/webhooks/${hookId}/deliveries`), 404, 'webhook_not_found');
  });

  it('delivers chain and drain events over https to a receiver with a self-signed certificate', async () => {
    if (!hasOpenssl()) throw new Error('openssl is needed to make a test certificate');
    const { key, cert } = selfSignedCertificate();
    const receiver = new Receiver();
    receivers.push(receiver);
    const port = await receiver.listen(createHttpsServer({ key, cert }, receiver.handler));
    const { pool, server } = await servePool({ webhooks: { ca: cert } });
    const created = await request(server, 'POST', '/v1/webhooks', { url: `https://127.0.0.1:${port}/events` });
    const secret = String(created.body.secret);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);

    const good = await pool.submitChain([{ name: 'only', action: { type: 'prompt', prompt: 'fine' } }]);
    await pool.waitForChain(good);
    const bad = await pool.submitChain([
      { name: 'boom', action: { type: 'prompt', prompt: '[[sim:error api-error 500]]' } },
    ]);
    await pool.waitForChain(bad);
    await pool.drain();
    const events = ['chain_completed', 'chain_failed', 'drain_completed'];
    while (!events.every((e) => receiver.received.some((r) => r.json.event === e))) {
      await receiver.waitFor(receiver.received.length + 1);
    }
    for (const delivery of receiver.received) expect(verify(secret, delivery)).toBe(true);
    expect(receiver.received.find((r) => r.json.event === 'chain_completed')?.json).toMatchObject({
      chain_id: good,
      success: true,
    });
    expect(receiver.received.find((r) => r.json.event === 'chain_failed')?.json).toMatchObject({
      chain_id: bad,
      failed_at_step: 0,
    });
    expect(receiver.received.find((r) => r.json.event === 'drain_completed')?.json).toMatchObject({
      total_tasks_completed: expect.any(Number),
    });
  });

  it('refuses URLs that are not http or https, and unknown events', async () => {
    const { server } = await servePool();
    expectProblem(await request(server, 'POST', '/v1/webhooks', { url: 'ftp://127.0.0.1/x' }), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/webhooks', { url: 'not a url' }), 400, 'invalid_input');
    expectProblem(
      await request(server, 'POST', '/v1/webhooks', { url: 'http://127.0.0.1/x', events: ['task_exploded'] }),
      400,
      'invalid_input',
    );
    expectProblem(
      await request(server, 'POST', '/v1/webhooks', { url: 'http://127.0.0.1/x', secret: 'short' }),
      400,
      'invalid_input',
    );
  });

  it('gives up after the last attempt and says so in the log', async () => {
    const receiver = new Receiver([503, 503]);
    receivers.push(receiver);
    const port = await receiver.listen(createHttpServer(receiver.handler));
    const { pool, server } = await servePool({ webhooks: { initialBackoffMs: 5, maxAttempts: 2 } });
    const created = await request(server, 'POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/` });
    const settled = settledDeliveries(server, 1);
    await pool.run('x');
    await settled;
    const hookId = String(created.body.id);
    const deliveries = (await request(server, 'GET', `/v1/webhooks/${hookId}/deliveries`)).body.deliveries as {
      state: string;
      attempts: { status: number }[];
    }[];
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0].state).toBe('failed');
    expect(deliveries[0].attempts.map((a) => a.status)).toEqual([503, 503]);
    expect(receiver.received).toHaveLength(2);
  });
});
