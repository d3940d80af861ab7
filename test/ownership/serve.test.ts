/**
 * `claude-pool serve` stops in time and leaves nothing behind when its MCP client goes away, as the official SDK
 * client does it (stdin closed; SIGTERM after 2 s; SIGKILL after 4 s).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_MAIN, cleanEnv, requireBuild } from '../mcp/support.js';
import { eventually, readPid } from '../support/sim-pool.js';
import { isAlive, killAll, waitUntilGone } from './support.js';

const leftovers: number[] = [];
const dirs: string[] = [];
afterEach(() => {
  killAll(leftovers.splice(0));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function serve(): Promise<{
  client: Client;
  transport: StdioClientTransport;
  cwd: string;
  stderr: () => string;
}> {
  requireBuild();
  const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-serve-'));
  dirs.push(cwd);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI_MAIN, 'serve', '--simulated', '-n', '2'],
    cwd,
    env: cleanEnv(),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'claude-pool-ownership', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, cwd, stderr: () => stderr };
}

describe('serve, when its client goes away during a run', () => {
  it('cancels the run (its cost booked), ends the agent and its child, and exits within 2 s', async () => {
    const { client, transport, cwd, stderr } = await serve();
    const server = transport.pid as number;
    leftovers.push(server);
    // Three calls of $0.01, ten seconds apart; the file is written in the first call's tool round, once it is paid.
    const prompt =
      `pay [[sim:pidfile ${cwd}/agent]] [[sim:child ${cwd}/child]] [[sim:write paid.txt yes]] ` +
      '[[sim:cost 0.03]] [[sim:turns 3]] [[sim:turn-delay 10000]]';
    await client.callTool({ name: 'pool_submit', arguments: { prompt } });
    await eventually(() => existsSync(join(cwd, 'paid.txt')), 10_000);
    const agent = readPid(join(cwd, 'agent')) as number;
    const child = readPid(join(cwd, 'child')) as number;
    leftovers.push(agent, child);
    expect(isAlive(agent) && isAlive(child)).toBe(true);

    const started = Date.now();
    await client.close(); // ends stdin; SIGTERM only if the server is still there 2 s later
    const took = Date.now() - started;
    expect(took).toBeLessThan(2000);
    expect(isAlive(server)).toBe(false);
    await waitUntilGone([agent, child], 3000);
    expect(stderr()).toContain('client disconnected');
    expect(stderr()).toContain('spent $0.0100');
  });

  it('SIGTERM, then a second one while it stops: the server and the agents are gone within 3 s', async () => {
    const { transport, client, cwd, stderr } = await serve();
    const server = transport.pid as number;
    leftovers.push(server);
    await client.callTool({
      name: 'pool_submit',
      arguments: { prompt: `hang [[sim:pidfile ${cwd}/agent]] [[sim:child ${cwd}/child]] [[sim:hang]]` },
    });
    await eventually(() => readPid(join(cwd, 'child')) !== undefined && readPid(join(cwd, 'agent')) !== undefined);
    const pids = [readPid(join(cwd, 'agent')) as number, readPid(join(cwd, 'child')) as number];
    leftovers.push(...pids);
    process.kill(server, 'SIGTERM');
    await eventually(() => stderr().includes('interrupted: stopping the pool') || !isAlive(server));
    if (isAlive(server)) process.kill(server, 'SIGTERM');
    await waitUntilGone([server, ...pids], 3000);
    await client.close();
  });
});
