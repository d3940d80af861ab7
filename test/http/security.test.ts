import { request as httpRequest } from 'node:http';
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServerError, isLoopback, startHttpServer } from '../../src/http/index.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import { closeServers, expectProblem, request, servePool } from './support.js';

afterEach(async () => {
  await closeServers();
  await cleanupPools();
});

describe('HTTP safety', () => {
  it('refuses a non-loopback bind without a token, with a clear error', async () => {
    const pool = await simPool();
    const attempt = startHttpServer(pool, { host: '0.0.0.0', port: 0 });
    await expect(attempt).rejects.toBeInstanceOf(HttpServerError);
    await expect(attempt).rejects.toMatchObject({
      code: 'insecure_bind',
      message: expect.stringContaining('--http-token'),
    });
    await expect(startHttpServer(pool, { host: '192.168.1.20', port: 0, tokens: [] })).rejects.toMatchObject({
      code: 'insecure_bind',
    });
    expect(['127.0.0.1', '127.8.9.1', '::1', '[::1]', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', 'example.com'].some(isLoopback)).toBe(false);
  });

  it('needs the bearer token on every route but /health', async () => {
    const { server } = await servePool({ tokens: ['first-token', 'second-token'] });
    expect(await (await fetch(`${server.url}/health`)).text()).toBe('ok');
    const missing = await request(server, 'GET', '/v1/pool/status');
    expectProblem(missing, 401, 'unauthorized');
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expectProblem(
      await request(server, 'GET', '/v1/pool/status', undefined, { authorization: 'Bearer wrong-token' }),
      401,
      'unauthorized',
    );
    expectProblem(await request(server, 'GET', '/openapi.json'), 401, 'unauthorized');
    expectProblem(await request(server, 'GET', '/v1/tasks/task-x/stream'), 401, 'unauthorized');
    expect(
      (await request(server, 'GET', '/v1/pool/status', undefined, { authorization: 'Bearer first-token' })).status,
    ).toBe(200);
    expect(
      (await request(server, 'GET', '/v1/pool/status', undefined, { authorization: 'Bearer second-token' })).status,
    ).toBe(200);
  });

  it('limits request bodies', async () => {
    const { server } = await servePool({ maxBodyBytes: 1000 });
    const big = await request(server, 'POST', '/v1/tasks', { prompt: 'x'.repeat(2000) });
    expectProblem(big, 413, 'payload_too_large');
  });

  it('answers 429 over the REST concurrency limit', async () => {
    const { pool, server } = await servePool({ maxConcurrent: 1 });
    const started = firstValueFrom(pool.events$.pipe(filter((event) => event.type === 'task.started')));
    const slow = request(server, 'POST', '/v1/tasks/fan-out', { prompts: ['[[sim:hang]]'] });
    const { task } = (await started) as { task: { id: string } };
    const over = await request(server, 'GET', '/v1/pool/status');
    expectProblem(over, 429, 'too_many_requests');
    expect(over.headers.get('retry-after')).toBe('1');
    await pool.cancel(task.id);
    expect((await slow).status).toBe(200);
    expect((await request(server, 'GET', '/v1/pool/status')).status).toBe(200);
  });

  it('refuses a Host header that is not a loopback name (DNS rebinding)', async () => {
    const { server } = await servePool();
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: server.port, path: '/v1/pool/status', headers: { host: 'attacker.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });
});
