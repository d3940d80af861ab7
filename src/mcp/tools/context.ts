/**
 * Shared-context tools: entries injected into every task's system prompt.
 */
import { z } from 'zod';
import { ToolError } from '../errors.js';
import { defineTool, type PoolTool } from '../tool.js';

const keyParam = z.string().min(1).describe('Context key');

/** The context tools. */
export function contextTools(): PoolTool[] {
  return [
    defineTool({
      name: 'context_set',
      title: 'Set a context entry',
      description: 'Set a shared-context entry; every later task sees it in its system prompt. Returns {ok:true, key}.',
      input: { key: keyParam, value: z.string().describe('Context value') },
      annotations: { destructiveHint: false, idempotentHint: true },
      run(args, { pool }) {
        pool.setContext(args.key, args.value);
        return { ok: true, key: args.key };
      },
    }),
    defineTool({
      name: 'context_get',
      title: 'Get a context entry',
      description: 'A shared-context entry: {key, value}; key_not_found when it is not set.',
      input: { key: keyParam },
      annotations: { readOnlyHint: true },
      run(args, { pool }) {
        const value = pool.getContext(args.key);
        if (value === undefined) throw new ToolError('key_not_found', `key not found: ${args.key}`);
        return { key: args.key, value };
      },
    }),
    defineTool({
      name: 'context_delete',
      title: 'Delete a context entry',
      description:
        'Delete a shared-context entry. Returns {ok:true, key, deleted} (deleted is false when it was not set).',
      input: { key: keyParam },
      annotations: { destructiveHint: true, idempotentHint: true },
      run(args, { pool }) {
        const old = pool.deleteContext(args.key);
        return { ok: true, key: args.key, deleted: old !== undefined };
      },
    }),
    defineTool({
      name: 'context_list',
      title: 'List context entries',
      description: 'Every shared-context entry: {context:{key:value,…}, count}.',
      input: {},
      annotations: { readOnlyHint: true },
      run(_args, { pool }) {
        const entries = pool.listContext();
        return { context: Object.fromEntries(entries), count: entries.length };
      },
    }),
  ];
}
