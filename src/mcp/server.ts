/**
 * The MCP server of a pool: every library operation as a tool (reference names and snake_case parameters),
 * plus read-only resources. Transport-agnostic: `serve.ts` wires it to stdio.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Pool } from '../pool/index.js';
import type { TaskFront } from '../pool/task-front.js';
import { poolChainFront, type ChainFront } from '../pool/chain-front.js';
import { describeError, toolErrorResult } from './errors.js';
import { registerSkillPrompts } from './prompts.js';
import { progressReporter, type ClusterView, type PoolTool, type ServerInfo, type ToolContext } from './tool.js';
import { chainTools, registerChainResources } from './tools/chains.js';
import { contextTools } from './tools/context.js';
import { messageTools } from './tools/messages.js';
import { metricsTools } from './tools/metrics.js';
import { permissionTools } from './tools/permissions.js';
import { poolTools, wireSlot } from './tools/pool.js';
import { routingTools } from './tools/routing.js';
import { skillTools } from './tools/skills.js';
import { taskTools } from './tools/tasks.js';
import { packageVersion } from './version.js';
import { wireObject, type WireObject } from './wire.js';

export { packageVersion } from './version.js';

export type { ServerInfo } from './tool.js';

/** The server name announced to clients. */
export const SERVER_NAME = 'claude-pool';

/** Guidance for the coordinating model, sent as the server's `instructions`. */
export const SERVER_INSTRUCTIONS = `claude-pool runs prompts on a pool of Claude Code workers ("slots").
Vocabulary: run = pool_run (wait for the result); fire = pool_submit (then pool_result); fan out = pool_fan_out
(independent prompts in parallel); chain = pool_chain / pool_submit_chain (steps in order, each sees
{previous_output} and {steps.NAME.VAR}); workflow = pool_invoke_workflow (a named chain); skill = pool_skill_run;
auto = pool_auto (a router decides: one task, a fan-out or a chain; pool_route only shows the decision);
every skill is also an MCP prompt of the same name;
fire with review = pool_submit_with_review, then pool_approve_result or pool_reject_result with feedback.
Do small things inline; use the pool for work that is long, parallel or needs isolation. If a request uses "and"
more than once, prefer a chain. Slots run Claude Code in print mode in the pool's working directory; they cannot
call this server's tools (pass mcp_servers to give a task MCP servers of its own).
Costs are integer microdollars (1 USD = 1,000,000). pool_status shows slots, tasks, spend and budget.
Errors come back as tool errors {"error":{"code","message"}} with stable codes (task_not_found, budget_exhausted,
pool_shutdown, scale_limit, invalid_input, …).`;

/** Options of {@link createPoolMcpServer}. */
export interface PoolMcpServerOptions {
  /** What `pool_status` reports about the server; missing fields are taken from the pool. */
  info?: Partial<ServerInfo>;
  /** Where the task tools send tasks (default: the pool; a cluster node gives its cluster's). */
  tasks?: TaskFront;
  /** Where the chain and workflow tools start and follow chains (default: the pool; a cluster node gives its cluster's). */
  chains?: ChainFront;
  /** The cluster this node belongs to: `pool_status` and `pool://status` then report it too. */
  cluster?: ClusterView;
}

/** Every tool the server offers, in listing order. */
export function allTools(): PoolTool[] {
  return [
    ...poolTools(),
    ...metricsTools(),
    ...taskTools(),
    ...permissionTools(),
    ...skillTools(),
    ...chainTools(),
    ...routingTools(),
    ...contextTools(),
    ...messageTools(),
  ];
}

function jsonResource(uri: string, body: WireObject) {
  return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(body, null, 2) }] };
}

/** What the server says about itself: the given fields, the rest taken from the pool and the package. */
export function serverInfo(pool: Pool, given: Partial<ServerInfo> = {}): ServerInfo {
  const config = pool.config();
  return {
    version: given.version ?? packageVersion(),
    commit: given.commit ?? process.env.GIT_HASH,
    model: given.model ?? config.model,
    permissionMode: given.permissionMode ?? config.permissionMode ?? 'plan',
    slots: given.slots ?? pool.slots().length,
    agent: given.agent,
  };
}

/**
 * Creates the MCP server for a pool: the tools, the resources, and one prompt per skill. Tool calls are validated against each tool's zod schema by the server
 * itself, so that invalid arguments come back as tool errors with the code `invalid_input` (like every other
 * failure) instead of the SDK's plain message; the SDK still lists the tools with their JSON schemas.
 */
export function createPoolMcpServer(pool: Pool, options: PoolMcpServerOptions = {}): McpServer {
  const info = serverInfo(pool, options.info);
  const tasks: TaskFront = options.tasks ?? pool;
  const chains: ChainFront = options.chains ?? poolChainFront(pool);
  const cluster = options.cluster;
  const server = new McpServer(
    { name: SERVER_NAME, version: info.version },
    { capabilities: { tools: {}, resources: {}, prompts: { listChanged: true } }, instructions: SERVER_INSTRUCTIONS },
  );

  const contextOf = (extra: Parameters<typeof progressReporter>[0]): ToolContext => ({
    pool,
    tasks,
    chains,
    cluster,
    info,
    progress: progressReporter(extra),
    signal: extra.signal,
  });
  const tools = new Map<string, PoolTool>();
  for (const tool of allTools()) {
    tools.set(tool.name, tool);
    // The callback is never reached (tools/call is handled below); it is kept equivalent for safety.
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        annotations: tool.annotations,
      },
      (args, extra) => tool.call(args, contextOf(extra)),
    );
  }

  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const tool = tools.get(request.params.name);
    if (!tool) return toolErrorResult({ code: 'unknown_tool', message: `unknown tool: ${request.params.name}` });
    try {
      return await tool.call(request.params.arguments ?? {}, contextOf(extra));
    } catch (error) {
      return toolErrorResult(describeError(error));
    }
  });

  server.registerResource(
    'status',
    'pool://status',
    {
      title: 'Pool status',
      description: 'Slot and task counts, spend, budget and shutdown flag',
      mimeType: 'application/json',
    },
    async (uri) =>
      jsonResource(uri.href, {
        ...wireObject(pool.status()),
        ...(cluster ? { cluster: wireObject(await cluster.status()) } : {}),
      }),
  );
  server.registerResource(
    'slots',
    'pool://slots',
    {
      title: 'Slots',
      description: 'Every slot with its state, identity, current task and totals',
      mimeType: 'application/json',
    },
    (uri) => jsonResource(uri.href, { slots: pool.slots().map(wireSlot) }),
  );
  server.registerResource(
    'slot',
    new ResourceTemplate('pool://slots/{id}', {
      list: () => ({
        resources: pool
          .slots()
          .map((slot) => ({ uri: `pool://slots/${slot.id}`, name: slot.id, mimeType: 'application/json' })),
      }),
    }),
    {
      title: 'Slot',
      description: 'One slot with its state, identity, current task and totals',
      mimeType: 'application/json',
    },
    (uri, variables) => {
      const slot = pool.slots().find((candidate) => candidate.id === String(variables.id));
      return jsonResource(
        uri.href,
        slot
          ? wireSlot(slot)
          : { error: { code: 'slot_not_found', message: `slot not found: ${String(variables.id)}` } },
      );
    },
  );
  server.registerResource(
    'context',
    'pool://context',
    { title: 'Shared context', description: 'Every shared-context entry (key → value)', mimeType: 'application/json' },
    (uri) => jsonResource(uri.href, { context: Object.fromEntries(pool.listContext()) }),
  );
  server.registerResource(
    'budget',
    'pool://budget',
    {
      title: 'Budget',
      description: 'Budget, spend, reservations and per-slot cost (microdollars)',
      mimeType: 'application/json',
    },
    (uri) => {
      const status = pool.status();
      const total = status.budgetMicrodollars ?? null;
      return jsonResource(uri.href, {
        total_microdollars: total,
        spent_microdollars: status.totalSpendMicrodollars,
        reserved_microdollars: status.reservedMicrodollars,
        remaining_microdollars: total === null ? null : Math.max(0, total - status.totalSpendMicrodollars),
        per_slot: pool.slots().map((slot) => ({
          id: slot.id,
          cost_microdollars: slot.costMicrodollars,
          tasks_completed: slot.tasksCompleted,
        })),
      });
    },
  );
  server.registerResource(
    'task',
    new ResourceTemplate('pool://results/{task_id}', { list: undefined }),
    { title: 'Task record', description: 'The full record of a task, result included', mimeType: 'application/json' },
    async (uri, variables) => {
      try {
        return jsonResource(uri.href, wireObject(await pool.task(String(variables.task_id))));
      } catch (error) {
        return jsonResource(uri.href, { error: describeError(error) });
      }
    },
  );
  registerChainResources(server, chains);
  // One prompt per skill, following runtime additions and removals until the connection closes.
  const stopPrompts = registerSkillPrompts(server, pool.skills);
  const previousOnClose = server.server.onclose;
  server.server.onclose = () => {
    stopPrompts();
    previousOnClose?.();
  };
  return server;
}
