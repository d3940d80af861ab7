import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupPools, makeGitRepo } from '../support/sim-pool.js';
import { cleanupDirs, runCli, startCli, tempDir, waitFor, type CliProcess } from './support.js';

const running: CliProcess[] = [];

afterEach(async () => {
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null) {
      cli.child.kill('SIGTERM');
      await cli.done;
    }
  }
  cleanupDirs();
  await cleanupPools();
});

/** Starts `serve` with HTTP flags and returns the base URL it logged. */
async function startHttp(args: string[], cwd?: string): Promise<{ cli: CliProcess; url: string }> {
  const cli = startCli(['serve', '--simulated', ...args], { keepStdinOpen: true, ...(cwd ? { cwd } : {}) });
  running.push(cli);
  await waitFor(() => /HTTP server ready/.test(cli.stderr()) || cli.child.exitCode !== null);
  const match = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(cli.stderr());
  if (!match) throw new Error(`no URL in: ${cli.stderr()}`);
  return { cli, url: match[1] };
}

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe('serve over HTTP', () => {
  it('serves MCP and REST on one port with a token, and exits 130 on SIGTERM', async () => {
    const { cli, url } = await startHttp(['--http', '--rest', '--port', '0', '--http-token', 'tok-1,tok-2', '-n', '2']);
    expect(cli.stderr()).toMatch(/MCP at http:\/\/127\.0\.0\.1:\d+\/mcp, REST at http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(await (await fetch(`${url}/health`)).text()).toBe('ok');
    expect((await json(`${url}/v1/pool/status`)).status).toBe(401);
    const status = await json(`${url}/v1/pool/status`, { headers: { authorization: 'Bearer tok-2' } });
    expect(status.body).toMatchObject({ total_slots: 2, server_agent: 'simulated' });
    cli.child.kill('SIGTERM');
    const run = await cli.done;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stdout).toBe('');
  });

  it('refuses a non-loopback bind without a token, and bad server flags, with exit code 2', async () => {
    const open = await runCli(['serve', '--simulated', '--http', '--bind', '0.0.0.0']);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('refusing to bind 0.0.0.0 without --http-token');
    const port = await runCli(['serve', '--simulated', '--http', '--port', 'eighty']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be an integer');
    const dir = tempDir();
    writeFileSync(join(dir, 'broken.json'), '{"mcpServers": ');
    const broken = await runCli(['serve', '--simulated', '--mcp-config', join(dir, 'broken.json')]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('invalid JSON in --mcp-config');
    const missing = await runCli(['serve', '--simulated', '--mcp-config', join(dir, 'none.json')]);
    expect(missing.stderr).toContain('failed to read --mcp-config');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const busy = await runCli([
      'serve',
      '--simulated',
      '--http',
      '--port',
      String((taken.address() as AddressInfo).port),
    ]);
    await new Promise((resolve) => taken.close(resolve));
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('cannot serve HTTP on 127.0.0.1');
    expect(busy.stderr).toContain('EADDRINUSE');
    const unknownSkill = await runCli([
      'serve',
      '--simulated',
      '--rest',
      '--rest-port',
      '0',
      '--disable-skill',
      'no_such_skill',
    ]);
    expect(unknownSkill.code).toBe(2);
    expect(unknownSkill.stderr).toContain("cannot disable unknown skill 'no_such_skill'");
  });

  it('passes --mcp-config to the slot runs, honours the skill flags and runs tasks at the git top level', async () => {
    const repo = makeGitRepo();
    const sub = join(repo, 'packages', 'app');
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      join(repo, 'mcp.json'),
      JSON.stringify({ mcpServers: { docs: { command: 'docs-server', args: ['--stdio'] } } }),
    );
    const { url } = await startHttp(
      ['--rest', '--rest-port', '0', '--mcp-config', join(repo, 'mcp.json'), '--no-strict-mcp-config', '--no-builtins'],
      sub,
    );
    const fan = await json(`${url}/v1/tasks/fan-out`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompts: ['[[sim:echo-args]] [[sim:write marker.txt here]]'] }),
    });
    expect(fan.status).toBe(200);
    const output = String((fan.body.results as { output: string }[])[0].output);
    const argv = JSON.parse(/sim-echo-args: (.*)/.exec(output)?.[1] ?? '[]') as string[];
    const configArg = argv[argv.indexOf('--mcp-config') + 1];
    expect(JSON.parse(configArg)).toEqual({ mcpServers: { docs: { command: 'docs-server', args: ['--stdio'] } } });
    expect(argv).not.toContain('--strict-mcp-config');
    expect(existsSync(join(repo, 'marker.txt'))).toBe(true);
    expect(existsSync(join(sub, 'marker.txt'))).toBe(false);
    expect((await json(`${url}/v1/skills`)).body).toMatchObject({ count: 0 });
  });

  it('disables a built-in skill by name', async () => {
    const { url } = await startHttp(['--rest', '--rest-port', '0']);
    const all = (await json(`${url}/v1/skills`)).body.skills as { name: string }[];
    expect(all.length).toBeGreaterThan(1);
    const victim = all[0].name;
    const { url: second } = await startHttp(['--rest', '--rest-port', '0', '--disable-skill', victim]);
    const names = ((await json(`${second}/v1/skills`)).body.skills as { name: string }[]).map((skill) => skill.name);
    expect(names).not.toContain(victim);
    expect(names).toHaveLength(all.length - 1);
  });
});
