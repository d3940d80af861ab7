/**
 * Answering agents' tool-permission questions over MCP: `claude-pool serve --permission-timeout-secs` on the
 * simulated agent, whose `[[sim:ask Write …]]` call asks over the stream-json session.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, callOk, startServer, until, type ServerHandle } from './support.js';

let server: ServerHandle;
let cwd: string;

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'claude-pool-mcp-perm-'));
  server = await startServer(
    ['--simulated', '-n', '1', '--permission-mode', 'default', '--permission-timeout-secs', '60'],
    { cwd },
  );
});

afterAll(async () => {
  await server?.close();
  rmSync(cwd, { recursive: true, force: true });
});

async function openQuestion(taskId: string): Promise<Record<string, unknown>> {
  return until(async () => {
    const { requests } = (await callOk(server.client, 'pool_pending_permissions')) as {
      requests: Record<string, unknown>[];
    };
    return requests.find((r) => r.task_id === taskId);
  });
}

async function finished(taskId: string): Promise<Record<string, unknown>> {
  return until(async () => {
    const body = await callOk(server.client, 'pool_result', { task_id: taskId });
    return body.state === 'completed' || body.state === 'failed' ? body : undefined;
  });
}

describe('permission questions over MCP', () => {
  it('lists the open question and allows it with pool_answer_permission', async () => {
    const { task_id: taskId } = await callOk(server.client, 'pool_submit', {
      prompt: 'write [[sim:ask Write mcp-allowed.txt "over mcp"]] [[sim:text done]]',
    });
    const question = await openQuestion(taskId as string);
    expect(question).toMatchObject({
      request_id: expect.stringMatching(/^perm-/),
      slot_id: 'slot-0',
      tool_name: 'Write',
      input: { file_path: expect.stringMatching(/mcp-allowed\.txt$/), content: 'over mcp' },
    });
    const answered = await callOk(server.client, 'pool_answer_permission', {
      request_id: question.request_id,
      decision: 'allow',
    });
    expect(answered).toEqual({ request_id: question.request_id, answered: true });
    expect(await finished(taskId as string)).toMatchObject({ state: 'completed', output: 'done' });
    expect(readFileSync(join(cwd, 'mcp-allowed.txt'), 'utf8')).toBe('over mcp');
    const again = await callError(server.client, 'pool_answer_permission', {
      request_id: question.request_id,
      decision: 'allow',
    });
    expect(again.code).toBe('permission_request_not_found');
  });

  it('denies with the message the agent reads', async () => {
    const { task_id: taskId } = await callOk(server.client, 'pool_submit', {
      prompt: 'write [[sim:ask Write mcp-denied.txt "no"]]',
    });
    const question = await openQuestion(taskId as string);
    await callOk(server.client, 'pool_answer_permission', {
      request_id: question.request_id,
      decision: 'deny',
      message: 'not today',
    });
    const done = await finished(taskId as string);
    expect(done).toMatchObject({
      state: 'completed',
      permission_denials: [expect.objectContaining({ tool_name: 'Write' })],
    });
    expect(existsSync(join(cwd, 'mcp-denied.txt'))).toBe(false);
  });
});
