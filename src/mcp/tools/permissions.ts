/**
 * Permission tools: the agents' open tool-permission questions, and answering one.
 */
import { z } from 'zod';
import type { PermissionRequest } from '../../pool/permissions.js';
import { defineTool, type PoolTool } from '../tool.js';
import { wireObject, type WireObject } from '../wire.js';

/** A question on the wire (its `input` is the tool's own input, kept as it is). */
function wireRequest(request: PermissionRequest): WireObject {
  const { input, ...rest } = request;
  return { ...wireObject(rest), input };
}

/** The permission tools. */
export function permissionTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_pending_permissions',
      title: 'List open permission questions',
      description:
        'The tool-permission questions agents are waiting on (the pool must have been started with ' +
        '--permission-timeout-secs, or built with permissions). Returns {requests:[{request_id, task_id, slot_id, ' +
        'tool_name, input, tool_use_id, requested_at_ms, deadline_at_ms}]}, oldest first. Answer each with ' +
        'pool_answer_permission before its deadline, or it is denied.',
      input: {},
      annotations: { readOnlyHint: true },
      run(_args, { pool }) {
        return { requests: pool.pendingPermissions().map(wireRequest) };
      },
    }),
    defineTool({
      name: 'pool_answer_permission',
      title: 'Answer a permission question',
      description:
        "Answer an agent's open tool-permission question: decision 'allow' runs the tool (with updated_input " +
        "instead of the asked input, if given), 'deny' refuses it and the agent reads message. Returns " +
        '{request_id, answered: true}; an unknown or already answered request_id is an error ' +
        '(permission_request_not_found).',
      input: {
        request_id: z.string().min(1).describe('The request_id of the question (pool_pending_permissions)'),
        decision: z.enum(['allow', 'deny']).describe('allow or deny'),
        message: z.string().optional().describe('Why it is denied (the agent reads it); deny only'),
        updated_input: z
          .record(z.string(), z.unknown())
          .optional()
          .describe('The tool input to run with instead of the asked one; allow only'),
      },
      annotations: { destructiveHint: false, idempotentHint: false },
      run(args, { pool }) {
        pool.answerPermission(
          args.request_id,
          args.decision === 'allow'
            ? { behavior: 'allow', ...(args.updated_input ? { updatedInput: args.updated_input } : {}) }
            : { behavior: 'deny', message: args.message ?? 'Denied by the pool client.' },
        );
        return { request_id: args.request_id, answered: true };
      },
    }),
  ];
}
