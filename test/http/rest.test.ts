import { afterEach, describe, expect, it } from 'vitest';
import { cleanupPools } from '../support/sim-pool.js';
import { closeServers, expectProblem, request, servePool } from './support.js';

afterEach(async () => {
  await closeServers();
  await cleanupPools();
});

describe('REST tasks', () => {
  it('submits, lists, reads and cancels tasks with the reference status codes', async () => {
    const { pool, server } = await servePool();
    const submitted = await request(server, 'POST', '/v1/tasks', {
      prompt: 'hello [[sim:text "hi there"]]',
      tags: ['rest'],
      effort: 'min',
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ task_id: expect.stringMatching(/^task-/), state: 'pending' });
    const id = String(submitted.body.task_id);
    await new Promise((resolve) => pool.task$(id).subscribe({ complete: () => resolve(undefined) }));

    const one = await request(server, 'GET', `/v1/tasks/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      task_id: id,
      state: 'completed',
      tags: ['rest'],
      result: { output: 'hi there', success: true },
    });

    const list = await request(server, 'GET', '/v1/tasks?tag=rest&limit=10&offset=0');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 1, limit: 10, offset: 0 });
    expect(list.body.items).toEqual([
      expect.objectContaining({ task_id: id, state: 'completed', output: 'hi there', success: true }),
    ]);
    const none = await request(server, 'GET', '/v1/tasks?state=pendingreview');
    expect(none.body).toMatchObject({ items: [], total: 0 });

    const hanging = await request(server, 'POST', '/v1/tasks', { prompt: '[[sim:hang]]' });
    const cancel = await request(server, 'DELETE', `/v1/tasks/${String(hanging.body.task_id)}`);
    expect(cancel.status).toBe(204);
    expect((await pool.task(String(hanging.body.task_id))).state).toBe('cancelled');
  });

  it('answers 400, 404 and 409 with problem details', async () => {
    const { pool, server } = await servePool();
    expectProblem(await request(server, 'POST', '/v1/tasks', {}), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/tasks', { prompt: 'x', effort: 'huge' }), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/tasks', { prompt: 'x', surprise: 1 }), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/tasks', '{"prompt":'), 400, 'invalid_json');
    expectProblem(await request(server, 'GET', '/v1/tasks?limit=0'), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/tasks', { prompt: 'x', max_rejections: 2 }), 400, 'invalid_input');
    const missing = expectProblem(await request(server, 'GET', '/v1/tasks/task-nope'), 404, 'task_not_found');
    expect(missing).toMatchObject({ title: 'Task not found', instance: '/v1/tasks/task-nope' });
    expectProblem(await request(server, 'DELETE', '/v1/tasks/task-nope'), 404, 'task_not_found');
    expectProblem(await request(server, 'GET', '/v1/nothing-here'), 404, 'route_not_found');
    const done = await request(server, 'POST', '/v1/tasks', { prompt: 'quick' });
    const id = String(done.body.task_id);
    await new Promise((resolve) => pool.task$(id).subscribe({ complete: () => resolve(undefined) }));
    expectProblem(await request(server, 'POST', `/v1/tasks/${id}/approve`), 409, 'invalid_task_state');
    await pool.drain();
    expectProblem(await request(server, 'POST', '/v1/tasks', { prompt: 'late' }), 409, 'pool_shutdown');
  });

  it('runs the review cycle: submit with review, reject with feedback, approve', async () => {
    const { pool, server } = await servePool();
    const created = await request(server, 'POST', '/v1/tasks', {
      prompt: 'draft [[sim:text v1]]',
      review_required: true,
      max_rejections: 2,
    });
    expect(created.status).toBe(202);
    const id = String(created.body.task_id);
    const inReview = () =>
      new Promise<void>((resolve) => {
        const sub = pool.events$.subscribe((event) => {
          if (event.type === 'review.requested' && event.task.id === id) {
            sub.unsubscribe();
            resolve();
          }
        });
        if (pool.snapshot().tasks.get(id)?.state === 'pending_review') {
          sub.unsubscribe();
          resolve();
        }
      });
    await inReview();
    expectProblem(await request(server, 'POST', `/v1/tasks/${id}/reject`, {}), 400, 'invalid_input');
    const rejected = await request(server, 'POST', `/v1/tasks/${id}/reject`, { feedback: 'shorter' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ rejected: true, rejection_count: 1, requeued: true });
    await inReview();
    const approved = await request(server, 'POST', `/v1/tasks/${id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ approved: true, state: 'completed' });
  });

  it('fans out and rejects an empty prompt list', async () => {
    const { server } = await servePool();
    const fan = await request(server, 'POST', '/v1/tasks/fan-out', { prompts: ['[[sim:text a]]', '[[sim:text b]]'] });
    expect(fan.status).toBe(200);
    expect((fan.body.results as { output: string }[]).map((r) => r.output)).toEqual(['a', 'b']);
    const empty = expectProblem(
      await request(server, 'POST', '/v1/tasks/fan-out', { prompts: [] }),
      400,
      'invalid_input',
    );
    expect(empty.detail).toContain('prompts array must not be empty');
  });
});

describe('REST chains, workflows and skills', () => {
  it('submits, lists, reads and cancels chains', async () => {
    const { pool, server } = await servePool();
    const started = await request(server, 'POST', '/v1/chains', {
      steps: [
        { name: 'a', value: 'first [[sim:text one]]' },
        { name: 'b', value: 'then {previous_output}' },
      ],
    });
    expect(started.status).toBe(202);
    const id = String(started.body.task_id);
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    const read = await request(server, 'GET', `/v1/chains/${id}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ task_id: id, status: 'completed', result: { success: true } });
    const list = await request(server, 'GET', '/v1/chains?status=completed');
    expect(list.body).toMatchObject({ count: 1 });
    expectProblem(await request(server, 'GET', '/v1/chains?status=odd'), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/chains', { steps: [] }), 400, 'invalid_input');
    expectProblem(await request(server, 'GET', '/v1/chains/chain-nope'), 404, 'task_not_found');

    const slow = await request(server, 'POST', '/v1/chains', {
      steps: [
        { name: 'wait', value: '[[sim:hang]]' },
        { name: 'never', value: 'x' },
      ],
    });
    const slowId = String(slow.body.task_id);
    const cancelled = await request(server, 'DELETE', `/v1/chains/${slowId}?immediate=true`);
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toEqual({ status: 'cancellation_requested', task_id: slowId });
    expect((await pool.waitForChain(slowId)).success).toBe(false);
    expectProblem(await request(server, 'DELETE', `/v1/chains/${slowId}?immediate=maybe`), 400, 'invalid_input');
  });

  it('lists and starts workflows', async () => {
    const { server } = await servePool();
    const list = await request(server, 'GET', '/v1/workflows');
    expect(list.status).toBe(200);
    expect(list.body.count).toEqual(expect.any(Number));
    expectProblem(await request(server, 'POST', '/v1/workflows/no-such-workflow', {}), 404, 'not_found');
  });

  it('adds, lists, reads, runs and removes skills', async () => {
    const { server } = await servePool();
    const added = await request(server, 'POST', '/v1/skills', {
      name: 'greet',
      description: 'Greets someone',
      prompt: 'Say hello to {who} [[sim:text hello]]',
      arguments: [{ name: 'who', required: true }],
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: 'greet', source: 'runtime' });
    const list = await request(server, 'GET', '/v1/skills?source=runtime');
    expect(list.body).toMatchObject({ count: 1, skills: [expect.objectContaining({ name: 'greet' })] });
    const one = await request(server, 'GET', '/v1/skills/greet');
    expect(one.body).toMatchObject({ name: 'greet', prompt: 'Say hello to {who} [[sim:text hello]]' });
    const ran = await request(server, 'POST', '/v1/skills/greet/run', { arguments: { who: 'Ada' } });
    expect(ran.status).toBe(200);
    expect(ran.body).toMatchObject({ output: 'hello', success: true });
    expectProblem(await request(server, 'POST', '/v1/skills/greet/run', { arguments: {} }), 400, 'invalid_input');
    expectProblem(await request(server, 'POST', '/v1/skills', { name: 'x' }), 400, 'invalid_input');
    expect((await request(server, 'DELETE', '/v1/skills/greet')).status).toBe(204);
    expectProblem(await request(server, 'GET', '/v1/skills/greet'), 404, 'not_found');
    expectProblem(await request(server, 'DELETE', '/v1/skills/greet'), 404, 'not_found');
  });
});

describe('REST context, slots and pool', () => {
  it('sets, reads, lists and deletes context entries', async () => {
    const { server } = await servePool();
    const put = await request(server, 'PUT', '/v1/context/lang', { value: 'TypeScript' });
    expect(put.status).toBe(200);
    expect((await request(server, 'GET', '/v1/context/lang')).body).toEqual({ key: 'lang', value: 'TypeScript' });
    expect((await request(server, 'GET', '/v1/context')).body).toEqual({ context: { lang: 'TypeScript' }, count: 1 });
    expectProblem(await request(server, 'PUT', '/v1/context/lang', { value: 3 }), 400, 'invalid_input');
    expect((await request(server, 'DELETE', '/v1/context/lang')).status).toBe(204);
    expectProblem(await request(server, 'GET', '/v1/context/lang'), 404, 'key_not_found');
    expectProblem(await request(server, 'DELETE', '/v1/context/lang'), 404, 'key_not_found');
  });

  it('lists, reads and configures slots', async () => {
    const { server } = await servePool();
    const slots = await request(server, 'GET', '/v1/slots?state=idle');
    expect(slots.body).toMatchObject({ count: 2 });
    expectProblem(await request(server, 'GET', '/v1/slots?state=sleepy'), 400, 'invalid_input');
    const patched = await request(server, 'PATCH', '/v1/slots/slot-0', { name: 'reviewer', role: 'review' });
    expect(patched.body).toMatchObject({ slot_id: 'slot-0', name: 'reviewer', role: 'review' });
    expect((await request(server, 'GET', '/v1/slots/slot-0')).body).toMatchObject({ id: 'slot-0', name: 'reviewer' });
    expect((await request(server, 'GET', '/v1/slots?role=review')).body).toMatchObject({ count: 1 });
    expectProblem(await request(server, 'GET', '/v1/slots/slot-99'), 404, 'slot_not_found');
    expectProblem(await request(server, 'PATCH', '/v1/slots/slot-99', { name: 'x' }), 404, 'slot_not_found');
  });

  it('reports status and metrics, scales and drains', async () => {
    const { server } = await servePool({ info: { agent: 'simulated' } }, (b) =>
      b.slots(2).config({ scaling: { minSlots: 1, maxSlots: 3 } }),
    );
    const status = await request(server, 'GET', '/v1/pool/status');
    expect(status.body).toMatchObject({
      total_slots: 2,
      idle_slots: 2,
      shutdown: false,
      concurrency: { limit: 2, throttled: false, retrying_tasks: 0 },
      server_version: expect.any(String),
      server_agent: 'simulated',
    });
    expect((await request(server, 'GET', '/v1/pool/metrics?since_ms=0')).status).toBe(200);
    expectProblem(await request(server, 'GET', '/v1/pool/metrics?since_ms=yesterday'), 400, 'invalid_input');

    const both = expectProblem(
      await request(server, 'POST', '/v1/pool/scale', { target: 2, delta: 1 }),
      400,
      'invalid_input',
    );
    expect(both.detail).toContain("Specify either 'target' or 'delta', not both.");
    const neither = expectProblem(await request(server, 'POST', '/v1/pool/scale', {}), 400, 'invalid_input');
    expect(neither.detail).toContain("Specify either 'target' or 'delta'.");
    expect((await request(server, 'POST', '/v1/pool/scale', { delta: 1 })).body).toEqual({
      previous_slots: 2,
      current_slots: 3,
    });
    expectProblem(await request(server, 'POST', '/v1/pool/scale', { delta: 1 }), 409, 'scale_limit');
    expect((await request(server, 'POST', '/v1/pool/scale', { target: 1 })).body).toEqual({
      previous_slots: 3,
      current_slots: 1,
    });

    const drained = await request(server, 'POST', '/v1/pool/drain');
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ drained: true, total_tasks_completed: 0, total_cost_microdollars: 0 });
    expect((await request(server, 'GET', '/v1/pool/status')).body).toMatchObject({ shutdown: true });
  });

  it('serves /health without auth and a generated OpenAPI document', async () => {
    const { server } = await servePool();
    const health = await fetch(`${server.url}/health`);
    expect(await health.text()).toBe('ok');
    const doc = await request(server, 'GET', '/openapi.json');
    expect(doc.body).toMatchObject({ openapi: '3.1.0', info: { title: 'claude-pool REST API' } });
    const paths = doc.body.paths as Record<
      string,
      Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>
    >;
    expect(Object.keys(paths)).toEqual(
      expect.arrayContaining([
        '/v1/tasks',
        '/v1/tasks/{id}/stream',
        '/v1/chains',
        '/v1/skills',
        '/v1/context/{key}',
        '/v1/slots',
        '/v1/pool/status',
        '/v1/pool/events',
        '/v1/webhooks',
      ]),
    );
    // The body schema is the MCP tool's: every override parameter is documented.
    const submit = paths['/v1/tasks'].post.requestBody?.content['application/json'].schema.properties ?? {};
    expect(Object.keys(submit)).toEqual(
      expect.arrayContaining(['prompt', 'model', 'effort', 'mcp_servers', 'json_schema', 'review_required']),
    );
  });
});

describe('REST permissions', () => {
  it('lists open questions and answers them; an unknown id is a 404 problem', async () => {
    const { pool, server } = await servePool({}, (b) =>
      b.slots(1).config({ permissionMode: 'default' }).permissions({ answerTimeoutMs: 60_000 }),
    );
    const submitted = await request(server, 'POST', '/v1/tasks', { prompt: 'ask [[sim:ask Bash "git status"]]' });
    const id = String(submitted.body.task_id);
    await new Promise((resolve) => {
      const sub = pool.task$(id).subscribe((task) => {
        if ((task.pendingPermissions?.length ?? 0) > 0) {
          resolve(undefined);
          setTimeout(() => sub.unsubscribe(), 0);
        }
      });
    });
    const open = await request(server, 'GET', '/v1/permissions');
    expect(open.status).toBe(200);
    const requests = open.body.requests as Record<string, unknown>[];
    expect(requests).toEqual([
      expect.objectContaining({
        task_id: id,
        tool_name: 'Bash',
        input: expect.objectContaining({ command: 'git status' }),
      }),
    ]);
    const answered = await request(server, 'POST', `/v1/permissions/${String(requests[0].request_id)}`, {
      decision: 'allow',
    });
    expect(answered.status).toBe(200);
    expect(answered.body).toEqual({ request_id: requests[0].request_id, answered: true });
    await new Promise((resolve) => pool.task$(id).subscribe({ complete: () => resolve(undefined) }));
    expect((await pool.task(id)).result).toMatchObject({ success: true, permissionDenials: [] });
    expectProblem(
      await request(server, 'POST', '/v1/permissions/perm-none', { decision: 'deny', message: 'x' }),
      404,
      'permission_request_not_found',
    );
    expectProblem(
      await request(server, 'POST', '/v1/permissions/perm-none', { decision: 'maybe' }),
      400,
      'invalid_input',
    );
  });
});
