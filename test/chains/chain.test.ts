import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChainStep } from '../../machines/types.js';
import { InvalidInput, TaskNotFound } from '../../src/errors.js';
import { cleanupPools, eventually, makeGitRepo, processExists, simPool, waitForPid } from '../support/sim-pool.js';

afterEach(cleanupPools);

const prompt = (name: string, text: string, extra: Partial<ChainStep> = {}): ChainStep => ({
  name,
  action: { type: 'prompt', prompt: text },
  ...extra,
});

describe('chains', () => {
  it('runs three steps in order, passing {previous_output} and output vars', async () => {
    const pool = await simPool((b) => b.slots(2));
    const id = await pool.submitChain(
      [
        prompt('plan', 'Plan it [[sim:json {"file":"src/a.ts","count":3,"meta":{"ok":true}}]] [[sim:cost 0.01]]', {
          outputVars: { file: 'file', meta: 'meta', all: '.', missing: 'nope.deeper' },
        }),
        prompt('build', 'Build {steps.plan.file} with {steps.plan.meta} [[sim:echo-args]] [[sim:cost 0.02]]'),
        prompt('report', 'Report on: {previous_output} [[sim:text final report]]'),
      ],
      { isolation: 'none', tags: ['release'] },
    );
    expect(id).toMatch(/^chain-/);
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    expect(result.steps.map((s) => [s.name, s.success, s.skipped])).toEqual([
      ['plan', true, false],
      ['build', true, false],
      ['report', true, false],
    ]);
    // The second step's prompt had the variables expanded before it reached the agent.
    expect(result.steps[1].output).toContain('Build src/a.ts with {"ok":true}');
    expect(result.finalOutput).toBe('final report');
    expect(result.totalCostMicrodollars).toBe(result.steps.reduce((sum, s) => sum + s.costMicrodollars, 0));
    expect(result.steps[0].costMicrodollars).toBe(10_000);
    expect(pool.chainWarnings(id)).toEqual(["step 'plan': output var 'missing' not found at 'nope.deeper'"]);
    const record = await pool.task(id);
    expect(record).toMatchObject({ state: 'completed', kind: 'chain', tags: ['release'] });
    expect(JSON.parse((await pool.result(id))?.output ?? '')).toEqual(result);
    const progress = pool.chainProgress(id);
    expect(progress).toMatchObject({ status: 'completed', totalSteps: 3, currentStep: undefined });
    expect(progress.completedSteps).toHaveLength(3);
    expect(pool.listChainProgress().map((p) => p.chainId)).toEqual([id]);
    // Every attempt is a task of its own, tagged with the chain id.
    expect(await pool.listTasks({ tags: [id] })).toHaveLength(3);
  });

  it('retries a failing step, then succeeds; the step records its retries and the cost of every attempt', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitChain(
      [
        prompt('flaky', 'Build [[sim:fail-times 2 build-a 500]] [[sim:cost 0.01]] [[sim:text built]]', {
          failurePolicy: { retries: 2 },
        }),
      ],
      { isolation: 'none' },
    );
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    expect(result.steps[0]).toMatchObject({ output: 'built', retriesUsed: 2, success: true });
    expect(await pool.listTasks({ tags: [id] })).toHaveLength(3);
  });

  it('runs the recovery prompt after the last failed attempt instead of failing', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitChain(
      [
        prompt('first', 'Start [[sim:text started]]'),
        prompt('fragile', 'Do it [[sim:crash "disk full"]]', {
          failurePolicy: {
            retries: 1,
            recoveryPrompt: 'Recover after {error} from {previous_output} [[sim:echo-args]]',
          },
        }),
        prompt('last', 'Finish [[sim:text finished]]'),
      ],
      { isolation: 'none' },
    );
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    expect(result.steps[1].output).toContain('disk full');
    expect(result.steps[1].output).toContain('from started');
    expect(result.finalOutput).toBe('finished');
  });

  it('stops at a step that fails for good, with the partial result', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitChain(
      [
        prompt('one', 'ok [[sim:text one done]] [[sim:cost 0.01]]'),
        prompt('two', 'broken [[sim:error max-turns]]'),
        prompt('three', 'never'),
      ],
      { isolation: 'none' },
    );
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(false);
    expect(result.steps.map((s) => [s.name, s.success])).toEqual([
      ['one', true],
      ['two', false],
    ]);
    expect(result.steps[1].output).toContain('Reached maximum number of turns');
    expect(result.finalOutput).toContain('Reached maximum number of turns');
    expect((await pool.task(id)).state).toBe('failed');
    expect(pool.chainProgress(id).status).toBe('failed');
    expect(await pool.listTasks({ tags: [id] })).toHaveLength(2);
  });

  it('shows live partial output while a step streams', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitChain(
      [prompt('stream', 'Talk [[sim:text "alpha beta gamma delta epsilon"]] [[sim:chunks 5]] [[sim:chunk-delay 150]]')],
      { isolation: 'none' },
    );
    let partial = '';
    await eventually(() => {
      const progress = pool.chainProgress(id);
      partial = progress.currentStepPartialOutput ?? '';
      return (
        progress.status === 'running' && partial.length > 0 && partial.length < 'alpha beta gamma delta epsilon'.length
      );
    });
    expect('alpha beta gamma delta epsilon'.startsWith(partial)).toBe(true);
    expect(pool.chainProgress(id)).toMatchObject({ currentStep: 0, currentStepName: 'stream' });
    expect(pool.chainProgress(id).currentStepStartedAt).toBeLessThanOrEqual(Date.now());
    const result = await pool.waitForChain(id);
    expect(result.finalOutput).toBe('alpha beta gamma delta epsilon');
  });

  it('cancel between steps lets the running step finish, keeps it, and skips the rest', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitChain(
      [prompt('a', 'first [[sim:delay 300]] [[sim:text kept]]'), prompt('b', 'second'), prompt('c', 'third')],
      { isolation: 'none' },
    );
    await eventually(() => pool.chainProgress(id).currentStepName === 'a');
    await pool.cancelChain(id);
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(false);
    expect(result.steps.map((s) => [s.name, s.success, s.skipped])).toEqual([
      ['a', true, false],
      ['b', false, true],
      ['c', false, true],
    ]);
    expect(result.steps[0].output).toBe('kept');
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(pool.chainProgress(id).status).toBe('cancelled');
    await pool.cancelChain(id); // no-op once finished
    await expect(pool.cancelChain('chain-unknown')).rejects.toBeInstanceOf(TaskNotFound);
  });

  it('immediate cancel kills the running step', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const pidFile = join(mkdtempSync(join(tmpdir(), 'claude-pool-pid-')), 'pid');
    const id = await pool.submitChain(
      [prompt('a', `hang [[sim:pidfile ${pidFile}]] [[sim:hang]]`), prompt('b', 'never')],
      {
        isolation: 'none',
      },
    );
    const pid = await waitForPid(pidFile);
    await pool.cancelChain(id, { immediate: true });
    await eventually(() => !processExists(pid));
    const result = await pool.waitForChain(id);
    expect(result.steps.map((s) => [s.name, s.skipped])).toEqual([
      ['a', true],
      ['b', true],
    ]);
    expect((await pool.task(id)).state).toBe('cancelled');
    const [stepTask] = await pool.listTasks({ tags: [id] });
    expect(stepTask.state).toBe('cancelled');
  });

  it('rejects invalid steps with a typed error and submits nothing', async () => {
    const pool = await simPool((b) => b.slots(1));
    await expect(pool.submitChain([])).rejects.toThrow('a chain needs a non-empty list of steps');
    await expect(pool.submitChain([prompt('a', 'x'), prompt('a', 'y')])).rejects.toThrow(/used by an earlier step/);
    await expect(pool.submitChain([{ name: 's', action: { type: 'skill', skill: 'no_such_skill' } }])).rejects.toThrow(
      /skill 'no_such_skill' not found/,
    );
    await expect(pool.submitChain([prompt('a', 'x')], { isolation: 'bogus' as never })).rejects.toBeInstanceOf(
      InvalidInput,
    );
    expect(pool.listChainProgress()).toEqual([]);
    expect(() => pool.chainProgress('chain-nope')).toThrow(TaskNotFound);
  });

  it('fans out chains: every valid chain runs, a bad one is reported in its place', async () => {
    const pool = await simPool((b) => b.slots(2));
    const outcomes = await pool.fanOutChains(
      [[prompt('a', 'one [[sim:text 1]]')], [], [prompt('b', 'two [[sim:text 2]]')]],
      { isolation: 'none' },
    );
    expect(outcomes).toHaveLength(3);
    expect(outcomes[1]).toEqual({
      error: { code: 'invalid_input', message: 'a chain needs a non-empty list of steps' },
    });
    const ids = outcomes.flatMap((o) => ('chainId' in o ? [o.chainId] : []));
    const results = await Promise.all(ids.map((id) => pool.waitForChain(id)));
    expect(results.map((r) => r.finalOutput)).toEqual(['1', '2']);
  });
});

describe('chain isolation', () => {
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });

  it('worktree: a step writes into the chain worktree, not the main checkout; nothing is left afterwards', async () => {
    const repo = makeGitRepo();
    const pool = await simPool((b) => b.slots(1), repo);
    const id = await pool.submitChain([
      prompt('write', 'Write [[sim:write notes.txt "from the chain"]]'),
      prompt('look', 'Look [[sim:delay 400]]'),
    ]);
    const worktree = join(repo, '.claude', 'pool-worktrees', 'chains', id);
    await eventually(() => pool.chainProgress(id).currentStepName === 'look');
    expect(readFileSync(join(worktree, 'notes.txt'), 'utf8')).toBe('from the chain');
    expect(existsSync(join(repo, 'notes.txt'))).toBe(false);
    expect(git(worktree, 'rev-parse', '--abbrev-ref', 'HEAD').trim()).toContain(id);
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    expect(existsSync(worktree)).toBe(false);
    expect(git(repo, 'worktree', 'list')).not.toContain(id);
    expect(git(repo, 'branch', '--list')).not.toContain(id);
    expect(git(repo, 'status', '--porcelain')).toBe('');
  });

  it('clone: the chain runs in a local clone that is removed afterwards, also after a failure', async () => {
    const repo = makeGitRepo();
    const pool = await simPool((b) => b.slots(1), repo);
    const id = await pool.submitChain(
      [prompt('write', 'Write [[sim:write out.txt cloned]]'), prompt('fail', 'Fail [[sim:delay 300]] [[sim:crash]]')],
      { isolation: 'clone' },
    );
    const clone = join(repo, '.claude', 'pool-worktrees', 'clones', id);
    await eventually(() => pool.chainProgress(id).currentStepName === 'fail');
    expect(readFileSync(join(clone, 'out.txt'), 'utf8')).toBe('cloned');
    expect(existsSync(join(clone, '.git'))).toBe(true);
    expect(existsSync(join(repo, 'out.txt'))).toBe(false);
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(false);
    expect(existsSync(clone)).toBe(false);
  });

  it('drain cancels a running chain and removes its worktree', async () => {
    const repo = makeGitRepo();
    const pool = await simPool((b) => b.slots(1), repo);
    const id = await pool.submitChain([prompt('slow', 'Slow [[sim:delay 300]]'), prompt('next', 'never')]);
    const worktree = join(repo, '.claude', 'pool-worktrees', 'chains', id);
    await eventually(() => existsSync(worktree) && pool.chainProgress(id).currentStepName === 'slow');
    await pool.drain();
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(existsSync(worktree)).toBe(false);
    expect(git(repo, 'worktree', 'list').trim().split('\n')).toHaveLength(1);
  });

  it('falls back to the shared directory with a warning when the directory is not a git repository', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitChain([prompt('a', 'work [[sim:text done]]')], { isolation: 'worktree' });
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    expect(pool.chainWarnings(id)[0]).toMatch(/worktree isolation unavailable \(.* is not inside a git work tree\)/);
  });

  it('worktree isolation for slots is an error outside a git repository, and gives each slot a worktree inside one', async () => {
    const { Pool } = await import('../../src/pool/index.js');
    const notRepo = mkdtempSync(join(tmpdir(), 'claude-pool-plain-'));
    await expect(
      Pool.builder({ workingDir: notRepo }).config({ worktreeIsolation: true }).build(),
    ).rejects.toMatchObject({ code: 'not_a_git_repo' });

    const repo = makeGitRepo();
    const pool = await simPool((b) => b.slots(2).config({ worktreeIsolation: true }), repo);
    const [first, second] = pool.slots();
    expect(first.worktreePath).toBe(join(repo, '.claude', 'pool-worktrees', 'slot-0'));
    expect(second.worktreePath).toBe(join(repo, '.claude', 'pool-worktrees', 'slot-1'));
    await pool.run('write [[sim:write slot.txt mine]]');
    expect(readFileSync(join(first.worktreePath ?? '', 'slot.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(repo, 'slot.txt'))).toBe(false);
    await pool.scaleUp(1);
    expect(existsSync(join(repo, '.claude', 'pool-worktrees', 'slot-2'))).toBe(true);
    await pool.drain();
    expect(existsSync(first.worktreePath ?? '')).toBe(false);
    expect(git(repo, 'worktree', 'list').trim().split('\n')).toHaveLength(1);
    expect(git(repo, 'branch', '--list')).not.toContain('claude-pool/');
  });
});
