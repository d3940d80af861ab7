/**
 * Metrics tool: totals and timing over the session's tasks.
 */
import { z } from 'zod';
import { defineTool, type PoolTool } from '../tool.js';
import { wireObject } from '../wire.js';

/** The metrics tools. */
export function metricsTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_session_metrics',
      title: 'Session metrics',
      description:
        'Task counts, spend (total/avg/max, microdollars), elapsed time (avg/min/max/median ms), average turns and a ' +
        'per-model breakdown (most expensive first) over the tasks created in [since_ms, until_ms] with any of the tags ' +
        'and on the model.',
      input: {
        since_ms: z.number().int().min(0).optional().describe('Only tasks created at or after this Unix time (ms)'),
        until_ms: z.number().int().min(0).optional().describe('Only tasks created at or before this Unix time (ms)'),
        model: z.string().optional().describe('Only tasks whose result ran on this model'),
        tag: z.string().optional().describe('Only tasks with this tag (shorthand for tags:[tag])'),
        tags: z.array(z.string()).optional().describe('Only tasks with any of these tags'),
      },
      annotations: { readOnlyHint: true },
      async run(args, { pool }) {
        const tags = [...(args.tags ?? []), ...(args.tag !== undefined ? [args.tag] : [])];
        const metrics = await pool.sessionMetrics({
          ...(args.since_ms !== undefined ? { sinceMs: args.since_ms } : {}),
          ...(args.until_ms !== undefined ? { untilMs: args.until_ms } : {}),
          ...(args.model !== undefined ? { model: args.model } : {}),
          ...(tags.length > 0 ? { tags } : {}),
        });
        return wireObject(metrics);
      },
    }),
  ];
}
