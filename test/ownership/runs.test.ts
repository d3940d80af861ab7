/**
 * Runs the pool ends itself: a timeout interrupts first so what the run spent is booked, cancel and timeout end
 * the agent's whole tree, and a prompt too long for the command line goes on stdin.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FAILED_COMMAND_MAX_CHARS, PROMPT_ARGV_MAX_BYTES } from '../../src/agent/claude-cli.js';
import { cleanupPools, readPid, simPool, waitForPid } from '../support/sim-pool.js';
import { isAlive, killAll, waitUntilGone } from './support.js';

const leftovers: number[] = [];
afterEach(async () => {
  await cleanupPools();
  killAll(leftovers.splice(0));
});

const pidDir = (): string => mkdtempSync(join(tmpdir(), 'claude-pool-pids-'));

describe('timeouts', () => {
  it('a timed-out run that had paid for a model call books that cost', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false).config({ budgetMicrodollars: 1_000_000 }));
    // Three calls of $0.01 each, ten seconds apart: the timeout comes after the first.
    const result = await pool.run('pay [[sim:cost 0.03]] [[sim:turns 3]] [[sim:turn-delay 10000]]', {
      config: { timeoutSecs: 1 },
    });
    expect(result).toMatchObject({ success: false, errorCode: 'timeout', costMicrodollars: 10_000 });
    expect(result.output).toContain('timed out after 1000 ms');
    // The CLI was interrupted (SIGINT gives exit 0 and an error result), not terminated (143, no result).
    expect(result.exitCode).toBe(0);
    expect(pool.status()).toMatchObject({ totalSpendMicrodollars: 10_000, reservedMicrodollars: 0 });
    expect(pool.slots()[0].costMicrodollars).toBe(10_000);
  });

  it('a timeout ends the child an agent started in a process group of its own', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const dir = pidDir();
    const running = pool.run(`slow [[sim:pidfile ${dir}/agent]] [[sim:child ${dir}/child]] [[sim:hang]]`, {
      config: { timeoutSecs: 1 },
    });
    const child = await waitForPid(join(dir, 'child'));
    leftovers.push(child);
    expect(isAlive(child)).toBe(true);
    const result = await running;
    expect(result.errorCode).toBe('timeout');
    await waitUntilGone([child, readPid(join(dir, 'agent')) ?? 0], 3000);
  });
});

describe('cancel', () => {
  it('ends the agent and the child it started in a process group of its own', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const dir = pidDir();
    const id = await pool.submit(`forever [[sim:pidfile ${dir}/agent]] [[sim:child ${dir}/child]] [[sim:hang]]`);
    const child = await waitForPid(join(dir, 'child'));
    const agent = await waitForPid(join(dir, 'agent'));
    leftovers.push(child, agent);
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    await waitUntilGone([agent, child], 3000);
  });
});

describe('large prompts', () => {
  it('a 1 MB prompt runs (it goes to the agent on stdin)', async () => {
    const pool = await simPool((b) => b.slots(1));
    const prompt = `${'x'.repeat(1024 * 1024)} [[sim:text big prompt read]] [[sim:echo-args]]`;
    const result = await pool.run(prompt);
    expect(result.success).toBe(true);
    expect(result.output.split('\n')[0]).toBe('big prompt read');
    // Not on the command line.
    expect(result.output.length).toBeLessThan(2_000);
    expect(result.output).not.toContain('xxxx');
    expect(pool.slots()[0].state).toBe('idle');
  });

  it('a failed run shows at most a few KB of its command', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    // Just under the stdin threshold: the prompt is on the command line, and the command is cut for display.
    const onArgv = await pool.run(`${'y'.repeat(PROMPT_ARGV_MAX_BYTES - 100)} [[sim:crash]]`);
    expect(onArgv.errorCode).toBe('crashed');
    expect(onArgv.failedCommand?.length).toBeLessThan(FAILED_COMMAND_MAX_CHARS + 100);
    expect(onArgv.failedCommand).toMatch(/…\[\d+ characters cut\]…/);
    const onStdin = await pool.run(`${'z'.repeat(1024 * 1024)} [[sim:crash]]`);
    expect(onStdin.errorCode).toBe('crashed');
    expect(onStdin.failedCommand?.length).toBeLessThan(FAILED_COMMAND_MAX_CHARS);
    expect(onStdin.failedCommand).toContain(`prompt (${1024 * 1024 + 14} bytes on stdin)`);
  });

  it('a system prompt too long for the command line goes in a file, and the slot stays usable', async () => {
    const pool = await simPool((b) => b.slots(1));
    const systemPrompt = `${'s'.repeat(300 * 1024)} end of the system prompt`;
    const result = await pool.run('show it [[sim:echo-system]]', { config: { systemPrompt } });
    expect(result.success).toBe(true);
    const echoed = JSON.parse(result.output.split('sim-echo-system: ')[1]) as { systemPrompt: string };
    expect(echoed.systemPrompt).toBe(systemPrompt);
    expect(pool.slots()[0].state).toBe('idle');
    expect((await pool.run('next [[sim:text next]]')).output).toBe('next');
  });

  it('an MCP config too long for the command line goes in a file', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const mcpServers = { big: { command: 'server', args: ['a'.repeat(200 * 1024)] } };
    const result = await pool.run('with tools [[sim:echo-args]]', { config: { mcpServers } });
    expect(result.success).toBe(true);
    const argv = JSON.parse(result.output.split('sim-echo-args: ')[1]) as string[];
    const file = argv[argv.indexOf('--mcp-config') + 1];
    expect(file).toMatch(/mcp-config\.json$/);
    // The file was the run's alone: it is gone once the run is over.
    expect(existsSync(file)).toBe(false);
  });

  it('a command line the system still refuses fails the task, not the slot', async () => {
    const pool = await simPool((b) => b.slots(1));
    const jsonSchema = { type: 'object', description: 'd'.repeat(200 * 1024) };
    const result = await pool.run('structured', { config: { jsonSchema } });
    expect(result).toMatchObject({ success: false, errorCode: 'spawn_failed' });
    expect(result.output).toContain('E2BIG');
    expect(result.failedCommand?.length).toBeLessThan(FAILED_COMMAND_MAX_CHARS + 100);
    expect(pool.slots()[0].state).toBe('idle');
    expect((await pool.run('next [[sim:text next]]')).output).toBe('next');
  });
});
