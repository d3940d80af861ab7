import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput, InvalidTaskState } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory.js';
import { simulatedClaude } from '../../src/agent/simulated/path.js';
import { cleanupPools, eventually, processExists, readPid, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('races and bad input', () => {
  it('an approval that loses a race with a cancel rejects instead of hanging', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitWithReview('draft');
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    const approval = pool.approveResult(id);
    await pool.cancel(id);
    await expect(approval).rejects.toBeInstanceOf(InvalidTaskState);
    expect((await pool.task(id)).state).toBe('cancelled');
  });

  it('a working directory that does not exist is refused up front, and no slot is harmed', async () => {
    const pool = await simPool((b) => b.slots(1));
    await expect(pool.run('x', { workingDir: '/does/not/exist' })).rejects.toBeInstanceOf(InvalidInput);
    await expect(pool.run('x', { workingDir: '/does/not/exist' })).rejects.toThrow('is not an existing directory');
    expect(pool.slots()[0].state).toBe('idle');
    expect((await pool.run('fine [[sim:text ok]]')).output).toBe('ok');
  });

  it('rejects config fields of the wrong type', async () => {
    const pool = await simPool((b) => b.slots(1));
    await expect(pool.run('x', { config: { systemPrompt: 42 as never } })).rejects.toThrow(
      'systemPrompt must be a string',
    );
    await expect(pool.scaleUp(1, { name: 5 as never })).rejects.toThrow('slot config name must be a string');
    expect(pool.slots()).toHaveLength(1);
  });
});

describe('drain', () => {
  it('with queued: finish and a timeout, a hanging chain does not hold the drain past the timeout', async () => {
    const pool = await simPool((b) => b.slots(1));
    const chain = await pool.submitChain([{ name: 'hang', action: { type: 'prompt', prompt: 'wait [[sim:hang]]' } }], {
      isolation: 'none',
    });
    await eventually(() => pool.chainProgress(chain).currentStepName === 'hang');
    const started = Date.now();
    const draining = pool.drain({ queued: 'finish', timeoutMs: 300 });
    expect(pool.status().shutdown).toBe(true);
    await expect(pool.submit('late')).rejects.toMatchObject({ code: 'pool_shutdown' });
    await draining;
    expect(Date.now() - started).toBeLessThan(8_000);
    expect((await pool.task(chain)).state).toBe('cancelled');
  });

  it('counts what slots removed by scale-down did', async () => {
    const pool = await simPool((b) => b.slots(3));
    await pool.fanOut(['a [[sim:cost 0.1]]', 'b [[sim:cost 0.1]]', 'c [[sim:cost 0.1]]']);
    await pool.scaleDown(2);
    const summary = await pool.drain();
    expect(summary).toMatchObject({ totalCostMicrodollars: 300_000, totalTasksCompleted: 3 });
  });

  it('immediate chain cancel resolves only once the step process is gone', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const file = join(mkdtempSync(join(tmpdir(), 'claude-pool-pid-')), 'pid');
    const chain = await pool.submitChain(
      [{ name: 'hang', action: { type: 'prompt', prompt: `wait [[sim:pidfile ${file}]] [[sim:hang]]` } }],
      {
        isolation: 'none',
      },
    );
    await eventually(() => readPid(file) !== undefined);
    await pool.cancelChain(chain, { immediate: true });
    expect(processExists(readPid(file) ?? 0)).toBe(false);
  });
});

describe('restarts', () => {
  it('the cost of a cancelled run survives a restart of the pool on the same store', async () => {
    const store = new MemoryStore();
    const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-cwd-'));
    const first = await simPool((b) => b.slots(1).store(store), cwd);
    // Three calls of $0.01; the file is written in the first call's tool round, once that call is paid.
    const id = await first.submit(
      'long [[sim:write paid.txt yes]] [[sim:cost 0.03]] [[sim:turns 3]] [[sim:turn-delay 10000]]',
    );
    await eventually(() => existsSync(join(cwd, 'paid.txt')));
    await first.cancel(id);
    const spent = first.status().totalSpendMicrodollars;
    expect(spent).toBe(10_000);
    await first.drain();
    const second = await simPool((b) => b.slots(1).store(store));
    expect(second.status().totalSpendMicrodollars).toBe(spent);
  });
});

describe('permission prompts', () => {
  it('a run that dies at a tool-permission prompt is reported as PermissionPromptDetected, naming the tool', async () => {
    const pool = await simPool((b) => b.slots(1));
    const error = await pool
      .run('edit it [[sim:stderr "Allow Bash tool? (y/n)"]] [[sim:crash]]')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'permission_prompt_detected', toolName: 'Bash', slotId: 'slot-0' });
    expect((error as Error).message).toBe(
      'permission prompt detected: Bash. Add it to allowed_tools or use a broader permission mode',
    );
    // An ordinary crash that merely mentions permissions is not one.
    const crash = await pool.run('break [[sim:stderr "EACCES: permission denied"]] [[sim:crash]]');
    expect(crash.errorCode).toBe('crashed');
  });

  it('detection can be switched off', async () => {
    const pool = await simPool((b) => b.slots(1).config({ detectPermissionPrompts: false }));
    const result = await pool.run('edit it [[sim:stderr "Allow Bash tool? (y/n)"]] [[sim:crash]]');
    expect(result.errorCode).toBe('crashed');
  });
});

describe('messages', () => {
  it('messages handed to a run that never started go back to the inbox', async () => {
    const binary = join(mkdtempSync(join(tmpdir(), 'claude-pool-bin-')), 'claude');
    symlinkSync(simulatedClaude, binary);
    const pool = await simPool((b) => b.slots(2), undefined, binary);
    pool.sendMessage('slot-1', 'slot-0', 'first');
    pool.sendMessage('slot-1', 'slot-0', 'second');
    rmSync(binary); // the next run cannot start
    const failed = await pool.run('read your messages');
    expect(failed.errorCode).toBe('spawn_failed');
    expect(pool.peekMessages('slot-0').map((m) => m.content)).toEqual(['first', 'second']);
  });
});
