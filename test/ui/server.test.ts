/**
 * The page's server side over real HTTP on simulated-agent pools: the token rule, the event stream (a whole
 * snapshot first, then deltas, history and output), task details, and review decisions with their errors.
 */
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServerError } from '../../src/http/index.js';
import type { UiActorDetail, UiDelta, UiFull, UiHistoryEntry, UiOutput } from '../../src/ui/protocol.js';
import { serveUi, type UiServing } from '../../src/ui/index.js';
import { closeServers, expectProblem, openSse, request, servePool } from '../http/support.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

const pages: UiServing[] = [];

afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.close()));
  await closeServers();
  await cleanupPools();
});

describe('the page server', () => {
  it('follows the HTTP server token rule: no token off loopback, page files public, data behind the token', async () => {
    const pool = await simPool();
    await expect(serveUi(pool, { host: '0.0.0.0', port: 0 })).rejects.toBeInstanceOf(HttpServerError);
    const page = await serveUi(pool, { port: 0, tokens: ['page-token'] });
    pages.push(page);
    expect(page.pageUrl).toBe(`${page.url}/ui/#token=page-token`);
    const html = await fetch(`${page.url}/ui/`);
    expect(html.status).toBe(200);
    const text = await html.text();
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(text)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${page.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('javascript');
    const server = { url: page.url, port: page.port } as Parameters<typeof request>[0];
    expectProblem(await request(server, 'GET', '/ui/assets/nothing.js'), 404, 'route_not_found');
    expectProblem(await request(server, 'GET', '/ui/api/charts'), 401, 'unauthorized');
    expectProblem(await request(server, 'GET', '/ui/api/stream'), 401, 'unauthorized');
    expectProblem(await request(server, 'POST', '/ui/api/tasks/task-x/approve'), 401, 'unauthorized');
    const charts = await request(server, 'GET', '/ui/api/charts', undefined, { authorization: 'Bearer page-token' });
    expect(charts.status).toBe(200);
    // The page-only server serves neither REST nor MCP.
    expect(
      (await request(server, 'GET', '/v1/pool/status', undefined, { authorization: 'Bearer page-token' })).status,
    ).toBe(404);
  });

  it('is on the HTTP server only when asked, next to the REST API', async () => {
    const { server: plain } = await servePool();
    expect((await fetch(`${plain.url}/ui/`)).status).toBe(404);
    const { server } = await servePool({ ui: true });
    expect((await fetch(`${server.url}/ui/`)).status).toBe(200);
    expect((await request(server, 'GET', '/v1/pool/status')).status).toBe(200);
  });

  it('streams the whole pool first, then deltas, history and output; keeps each task history and output', async () => {
    const { pool, server } = await servePool({ ui: true });
    const early = await pool.run('Before anyone looks [[sim:delay 20]] [[sim:cost 0.002]]');
    expect(early.success).toBe(true);
    const stream = await openSse(server, '/ui/api/stream');
    expect(stream.contentType).toContain('text/event-stream');
    const [hello] = await stream.readUntil(() => true);
    expect(hello.event).toBe('hello');
    const full = hello.data as unknown as UiFull;
    expect(full.slots.map((slot) => slot.id).sort()).toEqual(['slot-0', 'slot-1']);
    expect(full.slots.every((slot) => slot.nodes.includes('slot.idle'))).toBe(true);
    expect(full.tasks).toHaveLength(1);
    expect(full.tasks[0]).toMatchObject({ state: 'completed', nodes: ['task.completed'], costMicrodollars: 2000 });
    expect(full.budget.spentMicrodollars).toBe(2000);
    expect(full.poolNodes).toEqual(['pool.running']);

    const id = await pool.submitWithReview('Reviewed [[sim:delay 100]] [[sim:chunks 3]] [[sim:text "one two three"]]');
    const seen = await stream.readUntil(
      (event) =>
        event.event === 'delta' &&
        ((event.data as unknown as UiDelta).tasks ?? []).some(
          (task) => task.id === id && task.state === 'pending_review',
        ),
    );
    const deltas = seen.filter((event) => event.event === 'delta').map((event) => event.data as unknown as UiDelta);
    const states = deltas.flatMap((delta) =>
      (delta.tasks ?? []).filter((task) => task.id === id).map((task) => task.nodes.at(-1)),
    );
    expect(states).toContain('task.running.working');
    expect(states.at(-1)).toBe('task.pendingReview');
    expect(deltas.some((delta) => (delta.slots ?? []).some((slot) => slot.nodes.includes('slot.busy.working')))).toBe(
      true,
    );
    const outputs = seen.filter((event) => event.event === 'output').map((event) => event.data as unknown as UiOutput);
    expect(outputs.map((chunk) => chunk.text).join('')).toContain('one');
    outputs.forEach((chunk, index) =>
      expect(chunk.offset).toBe(outputs.slice(0, index).reduce((sum, c) => sum + c.text.length, 0)),
    );
    const entries = seen
      .filter((event) => event.event === 'event')
      .map((event) => event.data as unknown as UiHistoryEntry);
    expect(entries.filter((entry) => entry.actorId === id).map((entry) => entry.kind)).toEqual(
      expect.arrayContaining(['task.submitted', 'task.started', 'review.requested', 'transition']),
    );
    await stream.close();

    const detail = await request(server, 'GET', `/ui/api/actors/${id}`);
    expect(detail.status).toBe(200);
    const body = detail.body as unknown as UiActorDetail;
    expect(body.machine).toBe('task');
    expect(body.outputEnd).toBe(body.output.length);
    expect(body.output).toBe(outputs.map((chunk) => chunk.text).join(''));
    // One entry per change the page can see: a task that finds a free slot at once goes from nothing to running
    // within one burst of changes.
    const transitions = body.history.filter((entry) => entry.kind === 'transition');
    expect(transitions[0].from).toEqual([]);
    expect(transitions.slice(-2).map((entry) => entry.to?.at(-1))).toEqual([
      'task.running.working',
      'task.pendingReview',
    ]);
    expect(body.history.map((entry) => entry.seq)).toEqual(
      [...body.history.map((entry) => entry.seq)].sort((a, b) => a - b),
    );
    expectProblem(await request(server, 'GET', '/ui/api/actors/task-nope'), 404, 'task_not_found');

    // Review decisions: a rejection needs feedback; the pool acts on approvals.
    expectProblem(await request(server, 'POST', `/ui/api/tasks/${id}/reject`, {}), 400, 'invalid_input');
    expect((await pool.task(id)).state).toBe('pending_review');
    const completed = firstValueFrom(pool.task$(id).pipe(filter((task) => task.state === 'completed')));
    expect((await request(server, 'POST', `/ui/api/tasks/${id}/approve`)).body).toEqual({
      task_id: id,
      approved: true,
    });
    await completed;
    const again = await request(server, 'POST', `/ui/api/tasks/${id}/approve`);
    expect(again.status).toBeGreaterThanOrEqual(400);
    expectProblem(await request(server, 'POST', '/ui/api/tasks/task-nope/approve'), 404, 'task_not_found');

    // A chain's history tells each of its transitions once, and its steps.
    const chainStream = await openSse(server, '/ui/api/stream');
    const chainId = await pool.submitChain([
      { name: 'only', action: { type: 'prompt', prompt: 'Step [[sim:delay 20]]' } },
    ]);
    await chainStream.readUntil(
      (event) =>
        event.event === 'delta' &&
        ((event.data as unknown as UiDelta).chains ?? []).some((c) => c.id === chainId && c.status === 'completed'),
    );
    await chainStream.close();
    const chain = (await request(server, 'GET', `/ui/api/actors/${chainId}`)).body as unknown as UiActorDetail;
    expect(chain.machine).toBe('chain');
    const hops = chain.history
      .filter((entry) => entry.kind === 'transition')
      .map((entry) => `${entry.from?.at(-1) ?? ''}>${entry.to?.at(-1)}`);
    expect(new Set(hops).size).toBe(hops.length);
    expect(hops[0]).toMatch(/^>chain\./);
    expect(hops.at(-1)).toMatch(/>chain\.completed$/);
    expect(chain.history.filter((entry) => entry.kind === 'chain.step.finished').map((entry) => entry.detail)).toEqual([
      'step 1: only succeeded',
    ]);
  });
});
