import { afterEach, describe, expect, it } from 'vitest';
import { cleanupPools } from '../support/sim-pool.js';
import { closeServers, expectProblem, openSse, request, servePool, type SseEvent } from './support.js';

afterEach(async () => {
  await closeServers();
  await cleanupPools();
});

function ids(events: SseEvent[]): number[] {
  return events.map((event) => Number(event.id));
}

/** Asserts ids go 1 up at a time from `first`. */
function expectContiguous(events: SseEvent[], first: number): void {
  expect(ids(events)).toEqual(events.map((_e, i) => first + i));
}

describe('task event streams', () => {
  it("sends a task's state changes and output in order, then complete, and resumes after a disconnect", async () => {
    const { server } = await servePool();
    const submitted = await request(server, 'POST', '/v1/tasks', {
      prompt: 'go [[sim:text "one two three"]] [[sim:chunks 3]] [[sim:chunk-delay 30]]',
    });
    const id = String(submitted.body.task_id);
    const first = await openSse(server, `/v1/tasks/${id}/stream`);
    expect(first.status).toBe(200);
    expect(first.contentType).toContain('text/event-stream');
    const head = await first.readUntil((event) => event.event === 'output');
    await first.close();
    const lastSeen = head.at(-1)?.id as string;

    const resumed = await openSse(server, `/v1/tasks/${id}/stream`, { 'Last-Event-ID': lastSeen });
    const tail = await resumed.readToEnd();
    const all = [...head, ...tail];
    expectContiguous(all, 1);
    expect(all.at(-1)).toMatchObject({
      event: 'complete',
      data: { task_id: id, state: 'completed', output: 'one two three', success: true },
    });
    const states = all.filter((event) => event.event === 'state').map((event) => event.data.state);
    expect(states.at(-1)).toBe('running');
    expect(states.indexOf('running')).toBeGreaterThan(states.lastIndexOf('pending'));
    const text = all
      .filter((event) => event.event === 'output')
      .map((event) => event.data.text)
      .join('');
    expect(text.replace(/\s+/g, ' ').trim()).toBe('one two three');
    // Every output event comes after the task started running.
    const runningAt = all.findIndex((event) => event.data.state === 'running');
    expect(all.findIndex((event) => event.event === 'output')).toBeGreaterThan(runningAt);

    // A reader that arrives after the end gets the kept events after its position, then the stream ends.
    const late = await openSse(server, `/v1/tasks/${id}/stream`, { 'Last-Event-ID': '1' });
    expect(await late.readToEnd()).toEqual(all.slice(1));
  });

  it('ends a failed task with error and a cancelled one with cancelled', async () => {
    const { server } = await servePool();
    const failing = await request(server, 'POST', '/v1/tasks', { prompt: '[[sim:error api-error 500]]' });
    const failed = await (await openSse(server, `/v1/tasks/${String(failing.body.task_id)}/stream`)).readToEnd();
    expect(failed.at(-1)).toMatchObject({ event: 'error', data: { state: 'failed', success: false } });

    const hanging = await request(server, 'POST', '/v1/tasks', { prompt: '[[sim:hang]]' });
    const hangId = String(hanging.body.task_id);
    const stream = await openSse(server, `/v1/tasks/${hangId}/stream`);
    await stream.readUntil((event) => event.data.state === 'running');
    await request(server, 'DELETE', `/v1/tasks/${hangId}`);
    expect((await stream.readToEnd()).at(-1)).toMatchObject({ event: 'cancelled', data: { task_id: hangId } });
  });

  it("continues a review task's stream after it leaves review", async () => {
    const { server } = await servePool();
    const created = await request(server, 'POST', '/v1/tasks', { prompt: '[[sim:text draft]]', review_required: true });
    const id = String(created.body.task_id);
    const first = await (await openSse(server, `/v1/tasks/${id}/stream`)).readToEnd();
    expect(first.at(-1)).toMatchObject({
      event: 'complete',
      data: { state: 'pending_review', review_required: true, output: 'draft' },
    });
    expect((await request(server, 'POST', `/v1/tasks/${id}/approve`)).status).toBe(200);
    const rest = await (
      await openSse(server, `/v1/tasks/${id}/stream`, { 'Last-Event-ID': String(first.at(-1)?.id) })
    ).readToEnd();
    expect(rest).toEqual([
      expect.objectContaining({
        id: String(Number(first.at(-1)?.id) + 1),
        event: 'complete',
        data: expect.objectContaining({ state: 'completed' }),
      }),
    ]);
  });

  it('answers 404 for an unknown task and 400 for a malformed Last-Event-ID', async () => {
    const { server } = await servePool();
    expectProblem(await request(server, 'GET', '/v1/tasks/task-nope/stream'), 404, 'task_not_found');
    expectProblem(await request(server, 'GET', '/v1/chains/chain-nope/stream'), 404, 'task_not_found');
    const task = await request(server, 'POST', '/v1/tasks', { prompt: 'x' });
    expectProblem(
      await request(server, 'GET', `/v1/tasks/${String(task.body.task_id)}/stream`, undefined, {
        'Last-Event-ID': 'abc',
      }),
      400,
      'invalid_input',
    );
  });

  it('sends keep-alive comments while nothing happens', async () => {
    const { server } = await servePool({ keepAliveMs: 20 });
    const task = await request(server, 'POST', '/v1/tasks', { prompt: '[[sim:hang]]' });
    const response = await fetch(`${server.url}/v1/tasks/${String(task.body.task_id)}/stream`);
    const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes(': ping')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(text).toContain(': ping\n\n');
    await reader.cancel();
  });
});

describe('chain and pool event streams', () => {
  it("sends a chain's step starts, outputs and results in order, then chain_complete; resumes with Last-Event-ID", async () => {
    const { server } = await servePool();
    const started = await request(server, 'POST', '/v1/chains', {
      steps: [
        { name: 'plan', value: 'plan [[sim:text "step one"]] [[sim:chunks 2]] [[sim:chunk-delay 20]]' },
        { name: 'build', value: 'build after {previous_output}' },
      ],
    });
    const id = String(started.body.task_id);
    const first = await openSse(server, `/v1/chains/${id}/stream`);
    const head = await first.readUntil((event) => event.event === 'step_complete');
    await first.close();
    const resumed = await openSse(server, `/v1/chains/${id}/stream`, { 'last-event-id': String(head.at(-1)?.id) });
    const all = [...head, ...(await resumed.readToEnd())];
    expectContiguous(all, 1);
    const skeleton = all
      .filter((event) => event.event !== 'step_output')
      .map((event) => `${event.event}:${String(event.data.step ?? '')}`);
    expect(skeleton).toEqual(['step_start:0', 'step_complete:0', 'step_start:1', 'step_complete:1', 'chain_complete:']);
    expect(all.at(-1)?.data).toMatchObject({ chain_id: id, total_steps: 2, success: true });
    expect(all.find((event) => event.event === 'step_complete')?.data).toMatchObject({ name: 'plan', success: true });
    const planOutput = all
      .filter((event) => event.event === 'step_output' && event.data.step === 0)
      .map((event) => event.data.chunk)
      .join('');
    expect(planOutput).toContain('step one');
  });

  it('ends a failed chain with chain_failed at the failing step', async () => {
    const { server } = await servePool();
    const started = await request(server, 'POST', '/v1/chains', {
      steps: [
        { name: 'ok', value: 'fine' },
        { name: 'bad', value: '[[sim:error api-error 500]]' },
        { name: 'never', value: 'x' },
      ],
    });
    const events = await (await openSse(server, `/v1/chains/${String(started.body.task_id)}/stream`)).readToEnd();
    expect(events.at(-1)).toMatchObject({ event: 'chain_failed', data: { failed_at_step: 1 } });
  });

  it('streams every pool event with increasing ids and resumes after a disconnect', async () => {
    const { server } = await servePool();
    const stream = await openSse(server, '/v1/pool/events');
    const submitted = await request(server, 'POST', '/v1/tasks', { prompt: 'watch me' });
    const id = String(submitted.body.task_id);
    const head = await stream.readUntil((event) => event.event === 'task.started');
    await stream.close();
    const resumed = await openSse(server, '/v1/pool/events', { 'Last-Event-ID': String(head.at(-1)?.id) });
    const tail = await resumed.readUntil(
      (event) => event.event === 'task.finished' && (event.data.task as { id: string }).id === id,
    );
    await resumed.close();
    const all = [...head, ...tail];
    expectContiguous(all, Number(all[0].id));
    const mine = all
      .filter((event) => (event.data.task as { id?: string } | undefined)?.id === id)
      .map((event) => event.event);
    expect(mine).toEqual(['task.submitted', 'task.started', 'task.finished']);
  });
});
