/**
 * End to end: `claude-pool serve --simulated -n 3` as a child process, driven by the MCP SDK's own client
 * over stdio. Needs `npm run build` first.
 */
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, callOk, startServer, until, type ServerHandle } from './support.js';

/** Every tool the server must offer (reference names plus our additions). */
const EXPECTED_TOOLS = [
  'pool_status',
  'pool_session_metrics',
  'pool_run',
  'pool_submit',
  'pool_result',
  'pool_cancel',
  'pool_fan_out',
  'pool_drain',
  'pool_skill_run',
  'pool_skill_list',
  'pool_skill_get',
  'pool_skill_add',
  'pool_skill_remove',
  'pool_skill_save',
  'pool_skill_eject',
  'pool_auto',
  'pool_auto_with_hints',
  'pool_route',
  'pool_route_with_hints',
  'pool_chain',
  'pool_submit_chain',
  'pool_fan_out_chains',
  'pool_chain_result',
  'pool_list_chains',
  'pool_cancel_chain',
  'pool_invoke_workflow',
  'pool_workflow_list',
  'pool_scale_up',
  'pool_scale_down',
  'pool_set_target_slots',
  'context_set',
  'context_get',
  'context_delete',
  'context_list',
  'pool_send_message',
  'pool_read_messages',
  'pool_peek_messages',
  'pool_broadcast',
  'pool_find_slots',
  'pool_configure_slot',
  'pool_claim',
  'pool_submit_with_review',
  'pool_approve_result',
  'pool_reject_result',
  'pool_list_tasks',
];

let server: ServerHandle;

beforeAll(async () => {
  server = await startServer(['--simulated', '-n', '3', '--max-slots', '6', '--budget-usd', '5']);
});

afterAll(async () => {
  await server?.close();
});

/** Waits until a task reaches one of the states; returns its pool_result body. */
function resultWhen(taskId: string, states: string[], check: (body: Record<string, unknown>) => boolean = () => true) {
  return until(async () => {
    const body = await callOk(server.client, 'pool_result', { task_id: taskId });
    return states.includes(body.state as string) && check(body) ? body : undefined;
  });
}

describe('claude-pool MCP server (stdio, simulated agent)', () => {
  it('identifies itself and lists every tool with a schema, description and annotations', async () => {
    expect(server.client.getServerVersion()?.name).toBe('claude-pool');
    expect(server.client.getInstructions()).toContain('pool_run');
    const { tools } = await server.client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of EXPECTED_TOOLS) expect(names, name).toContain(name);
    for (const tool of tools) {
      expect(tool.description, tool.name).toBeTruthy();
      expect(tool.inputSchema.type).toBe('object');
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get('pool_run')?.inputSchema.required).toEqual(['prompt']);
    expect(Object.keys(byName.get('pool_run')?.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(['prompt', 'model', 'effort', 'max_budget_usd', 'tags']),
    );
    expect(byName.get('pool_status')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('pool_result')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('pool_peek_messages')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('context_get')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('pool_drain')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('pool_submit')?.annotations?.destructiveHint).toBe(false);
  });

  it('pool_status reports the slots, budget and server info', async () => {
    const status = await callOk(server.client, 'pool_status');
    expect(status).toMatchObject({
      total_slots: 3,
      idle_slots: 3,
      budget_microdollars: 5_000_000,
      shutdown: false,
      concurrency: { limit: 3, throttled: false, retrying_tasks: 0 },
      server_slots: 3,
      server_permission_mode: 'plan',
      server_agent: 'simulated',
    });
    expect(status.server_version).toBeTypeOf('string');
  });

  it('pool_run runs a prompt and returns the TaskResult in snake_case', async () => {
    const result = await callOk(server.client, 'pool_run', {
      prompt: 'say hello [[sim:text hi]] [[sim:cost 0.01]]',
      tags: ['e2e'],
    });
    expect(result).toMatchObject({ output: 'hi', success: true, cost_microdollars: 10_000, turns_used: 1 });
    expect(result.elapsed_ms).toBeTypeOf('number');
  });

  it('pool_run streams output as progress notifications when given a progressToken', async () => {
    const progress: Progress[] = [];
    const result = await callOk(
      server.client,
      'pool_run',
      { prompt: '[[sim:text "alpha beta gamma"]] [[sim:chunks 3]] [[sim:chunk-delay 30]]' },
      (p) => progress.push(p),
    );
    expect(result.output).toBe('alpha beta gamma');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toMatchObject({ progress: 1, total: 1 });
    expect(progress.map((p) => p.message ?? '').join('')).toContain('beta');
    const values = progress.map((p) => p.progress);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
  });

  it('pool_submit returns a task id; pool_result reports running, then the result', async () => {
    const { task_id: taskId } = await callOk(server.client, 'pool_submit', {
      prompt: '[[sim:delay 400]] [[sim:text later]]',
      model: 'sonnet',
      effort: 'min',
    });
    expect(taskId).toMatch(/^task-/);
    const early = await callOk(server.client, 'pool_result', { task_id: taskId });
    expect(early).toMatchObject({ task_id: taskId, status: 'running' });
    const done = await resultWhen(taskId as string, ['completed']);
    expect(done).toMatchObject({ task_id: taskId, state: 'completed', output: 'later', success: true });
  });

  it('pool_cancel cancels a running task', async () => {
    const { task_id: taskId } = await callOk(server.client, 'pool_submit', { prompt: '[[sim:delay 10000]]' });
    await resultWhen(taskId as string, ['running', 'pending'], (b) => b.status === 'running');
    const cancelled = await callOk(server.client, 'pool_cancel', { task_id: taskId });
    expect(cancelled).toMatchObject({ task_id: taskId, cancelled: true, state: 'cancelled' });
  });

  it('a client that cancels a pool_run request cancels the task and kills its process', async () => {
    const controller = new AbortController();
    const call = server.client
      .callTool({ name: 'pool_run', arguments: { prompt: 'wait forever [[sim:hang]] [[sim:pid]]' } }, undefined, {
        signal: controller.signal,
      })
      .catch((error: unknown) => error);
    const running = await until(async () => {
      const listed = await callOk(server.client, 'pool_list_tasks', { state: 'running' });
      const tasks = listed.tasks as { task_id: string; prompt?: string }[];
      return tasks.find((task) => (task.prompt ?? '').startsWith('wait forever'));
    });
    controller.abort();
    expect(await call).toBeInstanceOf(Error);
    const body = await resultWhen(running.task_id, ['cancelled']);
    expect(body.state).toBe('cancelled');
  });

  it('pool_fan_out returns every result in order and sends progress = finished / total', async () => {
    const progress: Progress[] = [];
    const body = await callOk(
      server.client,
      'pool_fan_out',
      {
        prompts: [
          '[[sim:text one]] [[sim:delay 100]]',
          '[[sim:text two]] [[sim:delay 200]]',
          '[[sim:error max-turns]]',
          '[[sim:text "four four"]] [[sim:chunks 2]]',
        ],
      },
      (p) => progress.push(p),
    );
    const results = body.results as Array<Record<string, unknown>>;
    expect(results.map((r) => r.output)).toEqual(['one', 'two', expect.any(String), 'four four']);
    expect(results.map((r) => r.success)).toEqual([true, true, false, true]);
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress.every((p) => p.total === 4)).toBe(true);
    expect(progress.at(-1)?.progress).toBe(4);
    expect(progress.some((p) => (p.message ?? '').includes('(4/4)'))).toBe(true);
    const streamed = progress
      .map((p) => p.message ?? '')
      .filter((m) => m.startsWith('[3] '))
      .map((m) => m.slice(4))
      .join('');
    expect(streamed).toContain('four');
  });

  it('runs chains: submit + chain_result, and pool_chain with step progress', async () => {
    const steps = [
      { name: 'plan', type: 'prompt', value: 'plan [[sim:json {"files":2}]]', output_vars: { files: 'files' } },
      {
        name: 'build',
        type: 'prompt',
        value: 'build {steps.plan.files} files [[sim:chunks 2]] [[sim:chunk-delay 50]]',
      },
    ];
    const submitted = await callOk(server.client, 'pool_submit_chain', {
      steps,
      isolation: 'none',
      tags: ['chain-e2e'],
    });
    expect(submitted.task_id).toMatch(/^chain-/);
    const finished = await until(async () => {
      const body = await callOk(server.client, 'pool_chain_result', { task_id: submitted.task_id });
      return body.status === 'running' ? undefined : body;
    });
    expect(finished).toMatchObject({ status: 'completed', total_steps: 2 });
    const result = finished.result as { success: boolean; final_output: string; steps: unknown[] };
    expect(result.success).toBe(true);
    expect(result.final_output).toContain('build 2 files');

    const progress: Progress[] = [];
    const run = await callOk(server.client, 'pool_chain', { steps, isolation: 'none' }, (p) => progress.push(p));
    expect((run.result as { success: boolean }).success).toBe(true);
    expect(progress.at(-1)).toMatchObject({ progress: 2, total: 2 });
    expect(progress.some((p) => (p.message ?? '').includes('step plan done'))).toBe(true);

    const list = await callOk(server.client, 'pool_list_chains', { status: 'completed' });
    expect(list.count).toBeGreaterThanOrEqual(2);

    const bad = await callError(server.client, 'pool_chain_result', { task_id: 'chain-nope' });
    expect(bad.code).toBe('task_not_found');
  });

  it('fans out chains and cancels one', async () => {
    const slow = [
      { name: 'a', value: '[[sim:delay 300]] a' },
      { name: 'b', value: 'b' },
    ];
    const body = await callOk(server.client, 'pool_fan_out_chains', {
      chains: [slow, [{ name: 'only', type: 'prompt', value: 'x' }]],
      isolation: 'none',
    });
    const ids = body.task_ids as string[];
    expect(ids).toHaveLength(2);
    const cancel = await callOk(server.client, 'pool_cancel_chain', { task_id: ids[0] });
    expect(cancel).toEqual({ status: 'cancellation_requested', task_id: ids[0] });
    const ended = await until(async () => {
      const p = await callOk(server.client, 'pool_chain_result', { task_id: ids[0] });
      return p.status === 'running' ? undefined : p;
    });
    expect(ended.status).toBe('cancelled');
  });

  it('lists skills and workflows and runs a skill', async () => {
    const skills = await callOk(server.client, 'pool_skill_list');
    expect(skills.count).toBeGreaterThan(0);
    const first = (skills.skills as Array<{ name: string }>)[0];
    const skill = await callOk(server.client, 'pool_skill_get', { name: first.name });
    expect(skill.prompt).toBeTypeOf('string');
    const workflows = await callOk(server.client, 'pool_workflow_list');
    expect(workflows.count).toBeGreaterThan(0);
    const missing = await callError(server.client, 'pool_skill_run', { skill: 'no-such-skill', arguments: {} });
    expect(missing).toMatchObject({ code: 'not_found' });
    expect(missing.message).toContain('no-such-skill');
    expect((await callError(server.client, 'pool_skill_get', { name: 'no-such-skill' })).code).toBe('not_found');
    const unknownWorkflow = await callError(server.client, 'pool_invoke_workflow', { workflow: 'no-such-workflow' });
    expect(unknownWorkflow).toMatchObject({ code: 'not_found' });
    expect(unknownWorkflow.message).toContain('no-such-workflow');
    const progress: Progress[] = [];
    const ran = await callOk(
      server.client,
      'pool_skill_run',
      { skill: 'summarize', arguments: { target: 'the repo [[sim:text "summary done"]]' }, model: 'haiku' },
      (p) => progress.push(p),
    );
    expect(ran).toMatchObject({ output: 'summary done', success: true });
    expect(progress.at(-1)).toMatchObject({ progress: 1, total: 1 });
    const flow = await callOk(server.client, 'pool_invoke_workflow', {
      workflow: 'plan_implement_review',
      arguments: { task: 'add a flag' },
      isolation: 'none',
    });
    expect(flow).toMatchObject({ workflow: 'plan_implement_review', task_id: expect.stringMatching(/^chain-/) });
    const flowProgress: Progress[] = [];
    const followed = await callOk(server.client, 'pool_chain_result', { task_id: flow.task_id, wait: true }, (p) =>
      flowProgress.push(p),
    );
    expect(followed.status).toBe('completed');
    expect(flowProgress.length).toBeGreaterThan(0);
    const badArgs = await callError(server.client, 'pool_skill_run', {
      skill: first.name,
      arguments: { bogus_argument: 'x' },
    });
    expect(badArgs.code).toBe('invalid_input');
  });

  it('adds a skill at run time, runs it, and removes it', async () => {
    const added = await callOk(server.client, 'pool_skill_add', {
      name: 'greet',
      description: 'Greets someone',
      prompt: 'Say hello to {who} [[sim:echo-args]]',
      arguments: [{ name: 'who', description: 'who to greet', required: true }],
    });
    expect(added).toEqual({ name: 'greet', overwritten: false, source: 'runtime' });
    const ran = await callOk(server.client, 'pool_skill_run', { skill: 'greet', arguments: { who: 'Ada' } });
    expect(ran.output).toContain('Say hello to Ada');
    const bad = await callError(server.client, 'pool_skill_add', { name: 'Bad Name', description: '', prompt: 'x' });
    expect(bad.code).toBe('invalid_input');
    expect(await callOk(server.client, 'pool_skill_remove', { name: 'greet' })).toEqual({
      removed: true,
      name: 'greet',
    });
    expect((await callError(server.client, 'pool_skill_remove', { name: 'greet' })).code).toBe('not_found');
  });

  it('review: reject with feedback, then approve', async () => {
    const { task_id: taskId, review_required: review } = await callOk(server.client, 'pool_submit_with_review', {
      prompt: 'draft the notes [[sim:text draft]]',
      max_rejections: 2,
    });
    expect(review).toBe(true);
    const first = await resultWhen(taskId as string, ['pending_review']);
    expect(first).toMatchObject({ review_required: true, rejection_count: 0, max_rejections: 2, output: 'draft' });
    const rejected = await callOk(server.client, 'pool_reject_result', { task_id: taskId, feedback: 'more detail' });
    expect(rejected).toMatchObject({ rejected: true, rejection_count: 1, requeued: true });
    await resultWhen(taskId as string, ['pending_review'], (b) => b.rejection_count === 1);
    const approved = await callOk(server.client, 'pool_approve_result', { task_id: taskId });
    expect(approved).toMatchObject({ approved: true, state: 'completed' });
    const final = await callOk(server.client, 'pool_result', { task_id: taskId });
    expect(final.state).toBe('completed');
    const wrongState = await callError(server.client, 'pool_approve_result', { task_id: taskId });
    expect(wrongState.code).toBe('invalid_task_state');
  });

  it('context set/get/list/delete', async () => {
    expect(await callOk(server.client, 'context_set', { key: 'repo', value: 'claude-pool' })).toEqual({
      ok: true,
      key: 'repo',
    });
    expect(await callOk(server.client, 'context_get', { key: 'repo' })).toEqual({ key: 'repo', value: 'claude-pool' });
    expect(await callOk(server.client, 'context_list')).toMatchObject({ context: { repo: 'claude-pool' }, count: 1 });
    expect(await callOk(server.client, 'context_delete', { key: 'repo' })).toEqual({
      ok: true,
      key: 'repo',
      deleted: true,
    });
    const missing = await callError(server.client, 'context_get', { key: 'repo' });
    expect(missing).toEqual({ code: 'key_not_found', message: 'key not found: repo' });
  });

  it('messages: send, peek, read (drains) and broadcast', async () => {
    const sent = await callOk(server.client, 'pool_send_message', { from: 'slot-0', to: 'slot-1', content: 'hello' });
    expect(sent.message_id).toBeTypeOf('string');
    const peek = await callOk(server.client, 'pool_peek_messages', { slot_id: 'slot-1' });
    expect(peek.count).toBe(1);
    expect((peek.messages as Array<Record<string, unknown>>)[0]).toMatchObject({
      from: 'slot-0',
      to: 'slot-1',
      content: 'hello',
    });
    expect((await callOk(server.client, 'pool_read_messages', { slot_id: 'slot-1' })).count).toBe(1);
    expect((await callOk(server.client, 'pool_peek_messages', { slot_id: 'slot-1' })).count).toBe(0);
    const broadcast = await callOk(server.client, 'pool_broadcast', { from: 'slot-0', content: 'all hands' });
    expect(broadcast.recipients).toBe(2);
    expect((await callOk(server.client, 'pool_read_messages', { slot_id: 'slot-2' })).count).toBe(1);
    expect((await callOk(server.client, 'pool_read_messages', { slot_id: 'slot-1' })).count).toBe(1);
    const unknown = await callError(server.client, 'pool_send_message', {
      from: 'slot-0',
      to: 'slot-99',
      content: 'x',
    });
    expect(unknown.code).toBe('slot_not_found');
  });

  it('slots: configure, find, claim, and scale up/down within the limits', async () => {
    const configured = await callOk(server.client, 'pool_configure_slot', {
      slot_id: 'slot-2',
      name: 'rev',
      role: 'reviewer',
    });
    expect(configured).toMatchObject({ slot_id: 'slot-2', name: 'rev', role: 'reviewer' });
    const found = await callOk(server.client, 'pool_find_slots', { role: 'reviewer' });
    expect(found.count).toBe(1);
    expect((found.slots as Array<{ id: string }>)[0].id).toBe('slot-2');
    const idle = await callOk(server.client, 'pool_find_slots', { state: 'idle' });
    expect(idle.count).toBe(3);
    expect(await callOk(server.client, 'pool_claim', { slot_id: 'slot-0' })).toMatchObject({
      claimed: false,
      task_id: null,
    });

    expect(await callOk(server.client, 'pool_scale_up', { count: 2 })).toMatchObject({
      success: true,
      new_slot_count: 5,
    });
    expect(await callOk(server.client, 'pool_scale_down', { count: 1 })).toMatchObject({
      success: true,
      new_slot_count: 4,
    });
    expect(await callOk(server.client, 'pool_set_target_slots', { target: 3 })).toMatchObject({
      new_slot_count: 3,
      target: 3,
    });
    const tooMany = await callError(server.client, 'pool_scale_up', { count: 10 });
    expect(tooMany.code).toBe('scale_limit');
    expect(tooMany.message).toContain('max_slots');
    await until(async () => ((await callOk(server.client, 'pool_status')).total_slots === 3 ? true : undefined));
  });

  it('lists tasks and reports session metrics', async () => {
    const tagged = await callOk(server.client, 'pool_list_tasks', { tag: 'e2e' });
    expect(tagged.count).toBe(1);
    const completed = await callOk(server.client, 'pool_list_tasks', { state: 'completed' });
    expect(completed.count).toBeGreaterThan(1);
    const metrics = await callOk(server.client, 'pool_session_metrics', { tag: 'e2e' });
    expect(metrics).toMatchObject({ total_tasks: 1, completed_tasks: 1, total_spend_microdollars: 10_000 });
  });

  it('reads the resources', async () => {
    const { resources } = await server.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(['pool://status', 'pool://slots', 'pool://context']),
    );
    const status = await server.client.readResource({ uri: 'pool://status' });
    const text = (status.contents[0] as { text: string }).text;
    expect(JSON.parse(text)).toMatchObject({ shutdown: false });
    const slotsContent = (await server.client.readResource({ uri: 'pool://slots' })).contents[0] as { text: string };
    const slots = JSON.parse(slotsContent.text);
    expect(slots.slots.length).toBe(3);
  });

  it('bad arguments and unknown ids are tool errors with a code, and the server keeps serving', async () => {
    const missing = await callError(server.client, 'pool_run', {});
    expect(missing.code).toBe('invalid_input');
    expect(missing.message).toContain('prompt');
    const wrongType = await callError(server.client, 'pool_submit', { prompt: 42 });
    expect(wrongType.code).toBe('invalid_input');
    const badEnum = await callError(server.client, 'pool_submit', { prompt: 'x', effort: 'extreme' });
    expect(badEnum.code).toBe('invalid_input');
    expect(badEnum.message).toContain('effort');
    const extra = await callError(server.client, 'pool_status', { verbose: true });
    expect(extra.code).toBe('invalid_input');
    const unknown = await callError(server.client, 'pool_result', { task_id: 'task-does-not-exist' });
    expect(unknown).toEqual({ code: 'task_not_found', message: 'task not found: task-does-not-exist' });
    const badBudget = await callError(server.client, 'pool_run', { prompt: 'x', max_budget_usd: 50 });
    expect(badBudget.code).toBe('task_budget_exceeds_remaining');
    const noTool = await callError(server.client, 'pool_nope', {});
    expect(noTool.code).toBe('unknown_tool');
    // Still serving.
    expect((await callOk(server.client, 'pool_status')).shutdown).toBe(false);
    expect((await callOk(server.client, 'pool_run', { prompt: '[[sim:text still here]]' })).output).toBe('still here');
  });

  it('pool_drain stops the pool; later work is refused with pool_shutdown', async () => {
    const summary = await callOk(server.client, 'pool_drain');
    expect(summary).toMatchObject({ drained: true });
    expect(summary.total_tasks_completed).toBeGreaterThan(0);
    expect(summary.total_cost_microdollars).toBeGreaterThan(0);
    const refused = await callError(server.client, 'pool_submit', { prompt: 'too late' });
    expect(refused.code).toBe('pool_shutdown');
    expect((await callOk(server.client, 'pool_status')).shutdown).toBe(true);
  });
});
