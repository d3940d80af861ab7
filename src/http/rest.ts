/**
 * The REST API (`/v1/...`): the reference's routes, bodies and status codes. Bodies are validated by the
 * same zod schemas as the MCP tools (most routes call the tool itself); errors become problem details.
 */
import { z } from 'zod';
import { allTools } from '../mcp/server.js';
import { slotIdParam, taskIdParam, TASK_STATES } from '../mcp/params.js';
import type { PoolTool } from '../mcp/tool.js';
import { wireObject, wireTaskSummary, type WireObject } from '../mcp/wire.js';
import { wireSlot } from '../mcp/tools/pool.js';
import { HttpError } from './problem.js';
import { defineRoute, type RestRoute } from './route.js';
import { lastEventId, sseResponse } from './sse.js';
import { WEBHOOK_EVENTS, type Delivery, type Webhook } from './webhooks.js';

const toolsByName = new Map<string, PoolTool>(allTools().map((tool) => [tool.name, tool]));

/** The input schema of an MCP tool (the REST body or query of the matching route). */
export function toolSchema(name: string): z.ZodObject<z.ZodRawShape> {
  const tool = toolsByName.get(name);
  if (!tool) throw new Error(`unknown tool ${name}`);
  return tool.inputSchema;
}

/** The MCP tool of this name. */
export function toolByName(name: string): PoolTool | undefined {
  return toolsByName.get(name);
}

/** `pendingreview` (the reference's spelling) is accepted for `pending_review`. */
const taskStateQuery = z.preprocess(
  (value) => (value === 'pendingreview' ? 'pending_review' : value),
  z.enum(TASK_STATES),
);

const listTasksQuery = z.strictObject({
  state: taskStateQuery
    .optional()
    .describe(`Only tasks in this state: ${TASK_STATES.join(', ')} (pendingreview also accepted)`),
  tag: z.string().optional().describe('Only tasks with this tag'),
  slot_id: slotIdParam.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50).describe('Page size (default 50)'),
  offset: z.coerce.number().int().min(0).default(0).describe('Tasks skipped (default 0)'),
});

const submitTaskBody = toolSchema('pool_submit').extend({
  review_required: z.boolean().default(false).describe('The result must be approved (POST /v1/tasks/{id}/approve)'),
  max_rejections: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Rejections before the task fails (review only; default 3)'),
});

const fanOutBody = toolSchema('pool_fan_out');

const rejectBody = toolSchema('pool_reject_result').omit({ task_id: true });

const answerPermissionBody = toolSchema('pool_answer_permission').omit({ request_id: true });

const cancelChainQuery = z.strictObject({
  immediate: z.stringbool().optional().describe('Also kill the running step'),
});

const skillRunBody = toolSchema('pool_skill_run').omit({ skill: true });

const contextValueBody = toolSchema('context_set').omit({ key: true });

const metricsQuery = z.strictObject({
  since_ms: z.coerce.number().int().min(0).optional().describe('Only tasks created at or after this Unix time (ms)'),
  until_ms: z.coerce.number().int().min(0).optional().describe('Only tasks created at or before this Unix time (ms)'),
  model: z.string().optional().describe('Only tasks whose result ran on this model'),
  tag: z.string().optional().describe('Only tasks with this tag'),
});

const scaleBody = z
  .strictObject({
    target: z.number().int().min(0).optional().describe('The slot count wanted'),
    delta: z.number().int().optional().describe('Slots to add (positive) or remove (negative)'),
  })
  .superRefine((value, ctx) => {
    if (value.target !== undefined && value.delta !== undefined) {
      ctx.addIssue({ code: 'custom', message: "Specify either 'target' or 'delta', not both." });
    } else if (value.target === undefined && value.delta === undefined) {
      ctx.addIssue({ code: 'custom', message: "Specify either 'target' or 'delta'." });
    }
  });

const webhookBody = z.strictObject({
  url: z.string().min(1).describe('Where events are POSTed: an http:// or https:// URL'),
  events: z
    .array(z.enum(WEBHOOK_EVENTS))
    .default([])
    .describe(`Events to deliver (${WEBHOOK_EVENTS.join(', ')}); empty = all`),
  secret: z
    .string()
    .min(16)
    .optional()
    .describe('HMAC-SHA256 key for the signature header (default: generated, returned once)'),
});

function wireWebhook(hook: Webhook, withSecret = false): WireObject {
  return {
    id: hook.id,
    url: hook.url,
    events: hook.events,
    created_at_ms: hook.createdAtMs,
    ...(withSecret ? { secret: hook.secret } : {}),
  };
}

function wireDelivery(delivery: Delivery): WireObject {
  return { ...wireObject({ ...delivery, payload: undefined }), payload: delivery.payload };
}

/** Every REST route, in documentation order. */
export function restRoutes(): RestRoute[] {
  return [
    // ------------------------------------------------------------ tasks
    defineRoute({
      method: 'get',
      path: '/v1/tasks',
      summary: 'List tasks, oldest first, paginated: {items, total, limit, offset}',
      tool: 'pool_list_tasks',
      query: listTasksQuery,
      status: 200,
      async handle({ query }, { tasks: front }) {
        const tasks = await front.listTasks({
          ...(query.state ? { state: query.state } : {}),
          ...(query.slot_id ? { slotId: query.slot_id } : {}),
          ...(query.tag ? { tags: [query.tag] } : {}),
        });
        const page = tasks.slice(query.offset, query.offset + query.limit);
        return {
          items: page.map((task) => ({
            ...wireTaskSummary(task),
            ...(task.result ? { output: task.result.output } : {}),
          })),
          total: tasks.length,
          limit: query.limit,
          offset: query.offset,
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/tasks',
      summary: 'Submit a task (review_required: its result waits for approval): 202 {task_id, state:"pending"}',
      tool: 'pool_submit / pool_submit_with_review',
      body: submitTaskBody,
      status: 202,
      async handle({ body, signal }, { callTool, streams }) {
        const { review_required: review, max_rejections: maxRejections, ...args } = body as Record<string, unknown>;
        if (!review && maxRejections !== undefined) {
          throw new HttpError('invalid_input', 'max_rejections needs review_required: true');
        }
        const created = review
          ? await callTool(
              'pool_submit_with_review',
              { ...args, ...(maxRejections === undefined ? {} : { max_rejections: maxRejections }) },
              signal,
            )
          : await callTool('pool_submit', args, signal);
        // The task's event stream starts now, so a client that opens it later still gets its first output.
        if (typeof created.task_id === 'string') streams.taskLog(created.task_id, 'pending');
        return { ...created, state: 'pending' };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/tasks/fan-out',
      summary: 'Run prompts in parallel and wait for all: {results:[TaskResult…]} in input order',
      tool: 'pool_fan_out',
      body: fanOutBody,
      status: 200,
      handle: ({ body, signal }, { callTool }) => callTool('pool_fan_out', body, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/tasks/{id}',
      summary: 'A task record (state, prompt, result, …); 404 for an unknown id',
      tool: 'pool_result',
      status: 200,
      async handle({ params }, { tasks }) {
        const record = await tasks.task(taskIdParam.parse(params.id));
        return { task_id: record.id, ...wireObject(record) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/tasks/{id}',
      summary: 'Cancel a task: 204',
      tool: 'pool_cancel',
      status: 204,
      async handle({ params, signal }, { callTool }) {
        await callTool('pool_cancel', { task_id: params.id }, signal);
        return undefined;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/tasks/{id}/approve',
      summary: 'Approve a task in pending_review; 409 when it is not in review',
      tool: 'pool_approve_result',
      status: 200,
      handle: ({ params, signal }, { callTool }) => callTool('pool_approve_result', { task_id: params.id }, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/tasks/{id}/reject',
      summary: 'Reject a task in pending_review with {feedback}: it runs again (or fails at max_rejections)',
      tool: 'pool_reject_result',
      body: rejectBody,
      status: 200,
      handle: ({ params, body, signal }, { callTool }) =>
        callTool('pool_reject_result', { ...(body as object), task_id: params.id }, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/tasks/{id}/stream',
      summary:
        'SSE: state {task_id, state}, output {task_id, text}, then complete (completed or pending_review), error (failed) or cancelled',
      status: 200,
      stream: true,
      async handle({ params, c }, { streams, tasks, keepAliveMs }) {
        const after = lastEventId(c);
        const record = await tasks.task(taskIdParam.parse(params.id)); // 404 for an unknown id
        return sseResponse(c, streams.taskLog(record.id, record.state), after, { keepAliveMs });
      },
    }),
    // ------------------------------------------------------------ permissions
    defineRoute({
      method: 'get',
      path: '/v1/permissions',
      summary: 'The tool-permission questions agents wait on: {requests:[…]}, oldest first',
      tool: 'pool_pending_permissions',
      status: 200,
      handle: ({ signal }, { callTool }) => callTool('pool_pending_permissions', {}, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/permissions/{id}',
      summary: "Answer a question with {decision: 'allow'|'deny', message?, updated_input?}; 404 when it is not open",
      tool: 'pool_answer_permission',
      body: answerPermissionBody,
      status: 200,
      handle: ({ params, body, signal }, { callTool }) =>
        callTool('pool_answer_permission', { ...(body as object), request_id: params.id }, signal),
    }),
    // ------------------------------------------------------------ chains
    defineRoute({
      method: 'get',
      path: '/v1/chains',
      summary: 'Progress of every chain (optionally ?status=running|completed|failed|cancelled)',
      tool: 'pool_list_chains',
      query: toolSchema('pool_list_chains'),
      status: 200,
      handle: ({ query, signal }, { callTool }) => callTool('pool_list_chains', query, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/chains',
      summary: 'Start a chain {steps, tags?, isolation?}: 202 {task_id, total_steps}',
      tool: 'pool_submit_chain',
      body: toolSchema('pool_submit_chain'),
      status: 202,
      handle: ({ body, signal }, { callTool }) => callTool('pool_submit_chain', body, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/chains/{id}',
      summary: "A chain's progress, plus its result once finished",
      tool: 'pool_chain_result',
      status: 200,
      handle: ({ params, signal }, { callTool }) => callTool('pool_chain_result', { task_id: params.id }, signal),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/chains/{id}',
      summary:
        'Cancel a chain (?immediate=true also kills the running step): 202 {status:"cancellation_requested", task_id}',
      tool: 'pool_cancel_chain',
      query: cancelChainQuery,
      status: 202,
      handle: ({ params, query, signal }, { callTool }) =>
        callTool(
          'pool_cancel_chain',
          { task_id: params.id, ...(query.immediate === undefined ? {} : { immediate: query.immediate }) },
          signal,
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/chains/{id}/stream',
      summary:
        'SSE: step_start {step, name}, step_output {step, chunk}, step_complete {step, name, success, cost_microdollars}, then chain_complete, chain_failed or chain_cancelled',
      status: 200,
      stream: true,
      async handle({ params, c }, { streams, chains, keepAliveMs }) {
        const after = lastEventId(c);
        await chains.progress(params.id); // 404 for an unknown id
        return sseResponse(c, streams.chainLog(params.id), after, { keepAliveMs });
      },
    }),
    // ------------------------------------------------------------ workflows
    defineRoute({
      method: 'get',
      path: '/v1/workflows',
      summary: 'Registered workflows',
      tool: 'pool_workflow_list',
      status: 200,
      handle: ({ signal }, { callTool }) => callTool('pool_workflow_list', {}, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/workflows/{name}',
      summary: 'Start a workflow as a chain {arguments?, tags?, isolation?}: 202 {task_id, workflow}',
      tool: 'pool_invoke_workflow',
      body: toolSchema('pool_invoke_workflow').omit({ workflow: true }),
      status: 202,
      handle: ({ params, body, signal }, { callTool }) =>
        callTool('pool_invoke_workflow', { ...(body as object), workflow: params.name }, signal),
    }),
    // ------------------------------------------------------------ skills
    defineRoute({
      method: 'get',
      path: '/v1/skills',
      summary: 'Registered skills (optionally ?scope= and ?source=)',
      tool: 'pool_skill_list',
      query: toolSchema('pool_skill_list'),
      status: 200,
      handle: ({ query, signal }, { callTool }) => callTool('pool_skill_list', query, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/skills',
      summary: 'Register a skill {name, description, prompt, arguments?, scope?, config?}: 201',
      tool: 'pool_skill_add',
      body: toolSchema('pool_skill_add'),
      status: 201,
      handle: ({ body, signal }, { callTool }) => callTool('pool_skill_add', body, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/skills/{name}',
      summary: 'One skill in full; 404 for an unknown name',
      tool: 'pool_skill_get',
      status: 200,
      handle: ({ params, signal }, { callTool }) => callTool('pool_skill_get', { name: params.name }, signal),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/skills/{name}',
      summary: 'Remove a skill: 204; 404 for an unknown name',
      tool: 'pool_skill_remove',
      status: 204,
      async handle({ params, signal }, { callTool }) {
        await callTool('pool_skill_remove', { name: params.name }, signal);
        return undefined;
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/skills/{name}/run',
      summary: 'Run a skill {arguments?, model?, …} and wait: the TaskResult',
      tool: 'pool_skill_run',
      body: skillRunBody,
      status: 200,
      handle: ({ params, body, signal }, { callTool }) =>
        callTool('pool_skill_run', { ...(body as object), skill: params.name }, signal),
    }),
    // ------------------------------------------------------------ context
    defineRoute({
      method: 'get',
      path: '/v1/context',
      summary: 'Every shared-context entry: {context:{key:value}, count}',
      tool: 'context_list',
      status: 200,
      handle: ({ signal }, { callTool }) => callTool('context_list', {}, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/context/{key}',
      summary: 'One entry {key, value}; 404 when not set',
      tool: 'context_get',
      status: 200,
      handle: ({ params, signal }, { callTool }) => callTool('context_get', { key: params.key }, signal),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/context/{key}',
      summary: 'Set an entry {value}',
      tool: 'context_set',
      body: contextValueBody,
      status: 200,
      handle: ({ params, body, signal }, { callTool }) =>
        callTool('context_set', { ...(body as object), key: params.key }, signal),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/context/{key}',
      summary: 'Delete an entry: 204; 404 when not set',
      tool: 'context_delete',
      status: 204,
      async handle({ params, signal }, { callTool }) {
        const result = await callTool('context_delete', { key: params.key }, signal);
        if (result.deleted !== true) throw new HttpError('key_not_found', `key not found: ${params.key}`);
        return undefined;
      },
    }),
    // ------------------------------------------------------------ slots
    defineRoute({
      method: 'get',
      path: '/v1/slots',
      summary: 'Slots, optionally filtered by ?name=, ?role=, ?state=',
      tool: 'pool_find_slots',
      query: toolSchema('pool_find_slots'),
      status: 200,
      handle: ({ query, signal }, { callTool }) => callTool('pool_find_slots', query, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/slots/{id}',
      summary: 'One slot; 404 for an unknown id',
      status: 200,
      handle({ params }, { pool }) {
        const slot = pool.slots().find((candidate) => candidate.id === params.id);
        if (!slot) throw new HttpError('slot_not_found', `slot not found: ${params.id}`);
        return wireSlot(slot);
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/slots/{id}',
      summary: "Change a slot's identity or settings {name?, role?, description?, model?, …}",
      tool: 'pool_configure_slot',
      body: toolSchema('pool_configure_slot').omit({ slot_id: true }),
      status: 200,
      handle: ({ params, body, signal }, { callTool }) =>
        callTool('pool_configure_slot', { ...(body as object), slot_id: params.id }, signal),
    }),
    // ------------------------------------------------------------ pool
    defineRoute({
      method: 'get',
      path: '/v1/pool/status',
      summary: 'Slot and task counts, spend, budget, shutdown flag, back-pressure (concurrency) and server info',
      tool: 'pool_status',
      status: 200,
      handle: ({ signal }, { callTool }) => callTool('pool_status', {}, signal),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/pool/metrics',
      summary: 'Session metrics (?since_ms, ?until_ms, ?model, ?tag)',
      tool: 'pool_session_metrics',
      query: metricsQuery,
      status: 200,
      handle: ({ query, signal }, { callTool }) => callTool('pool_session_metrics', query, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/pool/drain',
      summary:
        'Drain the pool {queued?, timeout_ms?}: {drained:true, total_tasks_completed, total_cost_microdollars, …}',
      tool: 'pool_drain',
      body: toolSchema('pool_drain'),
      status: 200,
      handle: ({ body, signal }, { callTool }) => callTool('pool_drain', body, signal),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/pool/scale',
      summary: 'Scale to {target} slots or by {delta}: {previous_slots, current_slots}',
      tool: 'pool_set_target_slots / pool_scale_up / pool_scale_down',
      body: scaleBody,
      status: 200,
      async handle({ body, signal }, { pool, callTool }) {
        const previous = pool.status().totalSlots;
        let current = previous;
        if (body.target !== undefined) {
          current = Number((await callTool('pool_set_target_slots', { target: body.target }, signal)).new_slot_count);
        } else if (body.delta !== undefined && body.delta > 0) {
          current = Number((await callTool('pool_scale_up', { count: body.delta }, signal)).new_slot_count);
        } else if (body.delta !== undefined && body.delta < 0) {
          current = Number((await callTool('pool_scale_down', { count: -body.delta }, signal)).new_slot_count);
        }
        return { previous_slots: previous, current_slots: current };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/pool/events',
      summary:
        'SSE: every pool event (task.submitted, task.started, task.output, task.finished, chain.*, slot.*, budget.changed, …)',
      status: 200,
      stream: true,
      handle({ c }, { streams, keepAliveMs }) {
        const after = lastEventId(c);
        return sseResponse(c, streams.poolLog, after, { keepAliveMs });
      },
    }),
    // ------------------------------------------------------------ webhooks
    defineRoute({
      method: 'get',
      path: '/v1/webhooks',
      summary: 'Registered webhooks (secrets are not shown)',
      status: 200,
      handle: (_input, { webhooks }) => ({ webhooks: webhooks.list().map((hook) => wireWebhook(hook)) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/webhooks',
      summary: 'Register a webhook {url, events?, secret?}: 201 {id, url, events, secret, created_at_ms}',
      body: webhookBody,
      status: 201,
      handle: ({ body }, { webhooks }) => wireWebhook(webhooks.add(body), true),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/{id}',
      summary: 'One webhook; 404 for an unknown id',
      status: 200,
      handle: ({ params }, { webhooks }) => wireWebhook(webhooks.get(params.id)),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/webhooks/{id}',
      summary: 'Remove a webhook: 204; 404 for an unknown id',
      status: 204,
      handle({ params }, { webhooks }) {
        webhooks.remove(params.id);
        return undefined;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/webhooks/{id}/deliveries',
      summary: "A webhook's delivery log: every event sent, with each attempt's status or error",
      status: 200,
      handle: ({ params }, { webhooks }) => ({ deliveries: webhooks.deliveries(params.id).map(wireDelivery) }),
    }),
  ];
}
