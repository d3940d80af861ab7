/**
 * The command line's pool process (`claude-pool run`) takes its agents with it, however it ends.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_MAIN, cleanEnv, requireBuild } from '../mcp/support.js';
import { eventually } from '../support/sim-pool.js';
import { killAll, waitForPid, waitUntilGone } from './support.js';

const leftovers: number[] = [];
afterEach(() => killAll(leftovers.splice(0)));

/** Starts `claude-pool run` on a hanging agent that started a child of its own; resolves once both run. */
async function runHanging() {
  requireBuild();
  const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-cli-'));
  const prompt = `hang [[sim:pidfile ${cwd}/agent]] [[sim:child ${cwd}/child]] [[sim:hang]]`;
  const cli = spawn(process.execPath, [CLI_MAIN, 'run', '--simulated', prompt], {
    cwd,
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  cli.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    cli.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const pids = [await waitForPid(join(cwd, 'agent'), 10_000), await waitForPid(join(cwd, 'child'), 10_000)];
  leftovers.push(cli.pid as number, ...pids);
  return { cli, ended, pids, stderr: () => stderr };
}

describe('claude-pool run', () => {
  it("SIGKILLed: its agent and the agent's child are gone within 3 s", async () => {
    const { cli, ended, pids } = await runHanging();
    cli.kill('SIGKILL');
    await ended;
    await waitUntilGone(pids, 3000);
  });

  it('a second Ctrl-C stops at once (exit 130), and the agent goes too', async () => {
    const { cli, ended, pids, stderr } = await runHanging();
    cli.kill('SIGINT');
    await eventually(() => stderr().includes('Ctrl-C again to stop now'));
    cli.kill('SIGINT');
    expect((await ended).code).toBe(130);
    await waitUntilGone(pids, 3000);
  });
});
