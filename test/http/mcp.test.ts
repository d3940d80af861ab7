import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpServing } from '../../src/http/index.js';
import { cleanupPools, eventually } from '../support/sim-pool.js';
import { closeServers, servePool } from './support.js';

afterEach(async () => {
  await closeServers();
  await cleanupPools();
});

async function connect(server: HttpServing, name: string, headers: Record<string, string> = {}) {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}

function body(result: unknown): Record<string, unknown> {
  const call = result as CallToolResult;
  expect(call.isError ?? false).toBe(false);
  return call.structuredContent as Record<string, unknown>;
}

describe('MCP over Streamable HTTP', () => {
  it('lets two coordinators share one pool, each in its own session', async () => {
    const { pool, server } = await servePool();
    const a = await connect(server, 'coordinator-a');
    const b = await connect(server, 'coordinator-b');
    expect(a.transport.sessionId).toEqual(expect.any(String));
    expect(b.transport.sessionId).toEqual(expect.any(String));
    expect(a.transport.sessionId).not.toBe(b.transport.sessionId);
    expect(server.mcpSessions).toBe(2);

    const tools = await a.client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['pool_run', 'pool_submit', 'context_set']),
    );

    // What one coordinator writes, the other reads: the same pool.
    body(await a.client.callTool({ name: 'context_set', arguments: { key: 'owner', value: 'a' } }));
    expect(body(await b.client.callTool({ name: 'context_get', arguments: { key: 'owner' } }))).toEqual({
      key: 'owner',
      value: 'a',
    });

    // Both run tasks at the same time on the pool's two slots.
    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'pool_run', arguments: { prompt: '[[sim:text from-a]]' } }),
      b.client.callTool({ name: 'pool_run', arguments: { prompt: '[[sim:text from-b]]' } }),
    ]);
    expect(body(ra).output).toBe('from-a');
    expect(body(rb).output).toBe('from-b');
    expect(pool.status().completedTasks).toBe(2);

    // A task submitted by one is visible to the other.
    const submitted = body(await a.client.callTool({ name: 'pool_submit', arguments: { prompt: 'shared' } }));
    const seen = body(await b.client.callTool({ name: 'pool_list_tasks', arguments: {} }));
    expect((seen.tasks as { task_id: string }[]).map((task) => task.task_id)).toContain(submitted.task_id);

    // The slot resource template.
    const slot = await b.client.readResource({ uri: 'pool://slots/slot-1' });
    expect(JSON.parse(String((slot.contents[0] as { text: string }).text))).toMatchObject({ id: 'slot-1' });
    const templates = await b.client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toContain('pool://slots/{id}');

    // Ending one session leaves the other working.
    await a.transport.terminateSession();
    await a.client.close();
    expect(server.mcpSessions).toBe(1);
    expect(body(await b.client.callTool({ name: 'pool_status', arguments: {} }))).toMatchObject({ total_slots: 2 });
    await b.client.close();
  });

  it('answers a request with an unknown session id with 404 and one without a session with 400', async () => {
    const { server } = await servePool();
    const unknown = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': 'nope',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(unknown.status).toBe(404);
    const noSession = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(noSession.status).toBe(400);
  });

  it('closes a session whose client went away without ending it, and keeps connected ones', async () => {
    const { server } = await servePool({ mcpSessionIdleMs: 50 });
    const staying = await connect(server, 'staying');
    const leaving = await connect(server, 'leaving');
    body(await leaving.client.callTool({ name: 'pool_status', arguments: {} }));
    expect(server.mcpSessions).toBe(2);
    await leaving.client.close(); // no DELETE: the server only sees the connection go
    await eventually(() => server.mcpSessions === 1);
    // The connected client keeps its session (its event stream is open) and still works.
    expect(body(await staying.client.callTool({ name: 'pool_status', arguments: {} }))).toMatchObject({
      total_slots: 2,
    });
    expect(server.mcpSessions).toBe(1);
    await staying.client.close();
  });

  it('needs the bearer token when tokens are set', async () => {
    const { server } = await servePool({ tokens: ['s3cret-token'] });
    await expect(connect(server, 'anonymous')).rejects.toThrow(/401|nauthorized/);
    const ok = await connect(server, 'trusted', { authorization: 'Bearer s3cret-token' });
    expect(body(await ok.client.callTool({ name: 'pool_status', arguments: {} }))).toMatchObject({ total_slots: 2 });
    await ok.client.close();
  });
});
