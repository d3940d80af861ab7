/**
 * Pool tools: status, drain, scaling and slots.
 */
import { z } from 'zod';
import type { SlotConfig, SlotRecord } from '../../../machines/types.js';
import { effortParam, permissionModeParam, slotIdParam, slotStateParam } from '../params.js';
import { defineTool, type PoolTool } from '../tool.js';
import { wireObject, type WireObject } from '../wire.js';

/** A slot on the wire, as `pool_find_slots` and `pool://slots` show it. */
export function wireSlot(slot: SlotRecord): WireObject {
  return wireObject({
    id: slot.id,
    state: slot.state,
    name: slot.config.name ?? null,
    role: slot.config.role ?? null,
    description: slot.config.description ?? null,
    model: slot.config.model,
    currentTask: slot.currentTask ?? null,
    tasksCompleted: slot.tasksCompleted,
    costMicrodollars: slot.costMicrodollars,
    restartCount: slot.restartCount,
    lastError: slot.lastError,
    worktreePath: slot.worktreePath,
  });
}

/** Slot settings accepted by `pool_configure_slot` and `pool_scale_up`. */
const slotSettingParams = {
  model: z.string().min(1).optional().describe('Default model of the slot'),
  effort: effortParam.optional(),
  permission_mode: permissionModeParam.optional(),
  system_prompt: z.string().optional().describe('System prompt of the slot'),
  max_turns: z.number().int().min(1).optional().describe('Default max turns of the slot'),
  allowed_tools: z.array(z.string()).optional().describe('Tools pre-approved on the slot (added to the pool list)'),
};

const identityParams = {
  name: z.string().min(1).optional().describe('Slot name (shown to the agent; used by pool_find_slots)'),
  role: z.string().min(1).optional().describe('Slot role (shown to the agent; used by pool_find_slots)'),
  description: z.string().optional().describe('Slot description (shown to the agent)'),
};

type SlotArgs = {
  model?: string;
  effort?: SlotConfig['effort'];
  permission_mode?: SlotConfig['permissionMode'];
  system_prompt?: string;
  max_turns?: number;
  allowed_tools?: string[];
  name?: string;
  role?: string;
  description?: string;
};

function toSlotConfig(args: SlotArgs): SlotConfig {
  const config: SlotConfig = {};
  if (args.model !== undefined) config.model = args.model;
  if (args.effort !== undefined) config.effort = args.effort;
  if (args.permission_mode !== undefined) config.permissionMode = args.permission_mode;
  if (args.system_prompt !== undefined) config.systemPrompt = args.system_prompt;
  if (args.max_turns !== undefined) config.maxTurns = args.max_turns;
  if (args.allowed_tools !== undefined) config.allowedTools = args.allowed_tools;
  if (args.name !== undefined) config.name = args.name;
  if (args.role !== undefined) config.role = args.role;
  if (args.description !== undefined) config.description = args.description;
  return config;
}

/** The pool tools. */
export function poolTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_status',
      title: 'Pool status',
      description:
        'Slot and task counts, spend and budget (microdollars), the shutdown flag, and back-pressure as ' +
        'concurrency {limit, throttled, reason, paused_until_ms, retrying_tasks} (the model API pushing back with ' +
        'HTTP 429/529 lowers the limit; a used-up rate-limit window pauses dispatch), plus server_version, ' +
        'server_model, server_permission_mode and server_slots. On a node of a cluster, cluster {queue, nodes ' +
        '[{node_id, host, pid, slots}], budget {limit_microdollars, spent_microdollars, reserved_microdollars}, ' +
        "waiting, active}: every node, the shared budget and the queue (the counts above are this node's).",
      input: {},
      annotations: { readOnlyHint: true },
      async run(_args, { pool, info, cluster }) {
        return {
          ...wireObject(pool.status()),
          ...(cluster ? { cluster: wireObject(await cluster.status()) } : {}),
          server_version: info.version,
          ...(info.commit ? { server_commit: info.commit } : {}),
          server_model: info.model ?? null,
          server_permission_mode: info.permissionMode,
          server_slots: info.slots,
          ...(info.agent ? { server_agent: info.agent } : {}),
        };
      },
    }),
    defineTool({
      name: 'pool_drain',
      title: 'Drain the pool',
      description:
        'Stop taking work, cancel (or finish) queued tasks, wait for running ones, stop every slot and return ' +
        '{total_cost_microdollars, total_tasks_completed, cancelled_tasks}. The pool takes no work afterwards ' +
        '(calls fail with pool_shutdown). Calling it again returns the same summary.',
      input: {
        queued: z
          .enum(['cancel', 'finish'])
          .optional()
          .describe('cancel (default): queued tasks are cancelled; finish: they still run first'),
        timeout_ms: z.number().int().min(0).optional().describe('After this long, running tasks are killed'),
      },
      annotations: { destructiveHint: true, idempotentHint: true },
      async run(args, { pool }) {
        const summary = await pool.drain({
          ...(args.queued ? { queued: args.queued } : {}),
          ...(args.timeout_ms !== undefined ? { timeoutMs: args.timeout_ms } : {}),
        });
        return { drained: true, ...wireObject(summary) };
      },
    }),
    defineTool({
      name: 'pool_scale_up',
      title: 'Add slots',
      description:
        'Add count slots (optionally with these slot settings). Fails with scale_limit beyond max_slots. ' +
        'Returns {success:true, new_slot_count, details}.',
      input: {
        count: z.number().int().min(1).describe('How many slots to add'),
        ...slotSettingParams,
        role: identityParams.role,
      },
      annotations: { destructiveHint: false },
      async run(args, { pool }) {
        const { count, ...settings } = args;
        const newCount = await pool.scaleUp(count, toSlotConfig(settings));
        return { success: true, new_slot_count: newCount, details: `Scaled up by ${count} slots` };
      },
    }),
    defineTool({
      name: 'pool_scale_down',
      title: 'Remove slots',
      description:
        'Remove count slots: idle, least-used slots first; a busy slot finishes its task, then stops. Fails with ' +
        'scale_limit below min_slots. Returns {success:true, new_slot_count, details}.',
      input: { count: z.number().int().min(1).describe('How many slots to remove') },
      annotations: { destructiveHint: false },
      async run(args, { pool }) {
        const newCount = await pool.scaleDown(args.count);
        return { success: true, new_slot_count: newCount, details: `Scaled down by ${args.count} slots` };
      },
    }),
    defineTool({
      name: 'pool_set_target_slots',
      title: 'Scale to a slot count',
      description:
        'Scale up or down to target slots (within min_slots/max_slots). Returns {success:true, new_slot_count, target}.',
      input: { target: z.number().int().min(0).describe('The slot count wanted') },
      annotations: { destructiveHint: false, idempotentHint: true },
      async run(args, { pool }) {
        const newCount = await pool.setTargetSlots(args.target);
        return { success: true, new_slot_count: newCount, target: args.target };
      },
    }),
    defineTool({
      name: 'pool_find_slots',
      title: 'Find slots',
      description:
        'Slots matching every given field (name, role, state). Returns {slots:[{id, state, name, role, description, ' +
        'current_task, tasks_completed, cost_microdollars, …}], count}.',
      input: {
        name: z.string().optional().describe('Exact slot name'),
        role: z.string().optional().describe('Exact slot role'),
        state: slotStateParam.optional(),
      },
      annotations: { readOnlyHint: true },
      run(args, { pool }) {
        const slots = pool.findSlots({
          ...(args.name !== undefined ? { name: args.name } : {}),
          ...(args.role !== undefined ? { role: args.role } : {}),
          ...(args.state !== undefined ? { state: args.state } : {}),
        });
        return { slots: slots.map(wireSlot), count: slots.length };
      },
    }),
    defineTool({
      name: 'pool_configure_slot',
      title: 'Configure a slot',
      description:
        "Change a slot's identity (name, role, description) or settings for its next tasks; only the given fields change. " +
        'Returns {slot_id, name, role, description, …}; slot_not_found for an unknown slot.',
      input: { slot_id: slotIdParam, ...identityParams, ...slotSettingParams },
      annotations: { destructiveHint: false, idempotentHint: true },
      run(args, { pool }) {
        const { slot_id: slotId, ...settings } = args;
        const slot = pool.configureSlot(slotId, toSlotConfig(settings));
        return { slot_id: slot.id, ...wireSlot(slot) };
      },
    }),
  ];
}
