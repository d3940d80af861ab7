import { afterEach, describe, expect, it } from 'vitest';
import { SkillRegistry } from '../../src/skills/registry.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('skills and workflows in the pool', () => {
  it('a skill step renders its template with the arguments and the previous output', async () => {
    const skills = SkillRegistry.withBuiltins();
    skills.register(
      {
        name: 'shout',
        description: 'Repeat loudly',
        prompt: 'Shout {word} [[sim:echo-args]]',
        arguments: [{ name: 'word', description: 'what to shout', required: true }],
        scope: 'task',
      },
      'runtime',
    );
    const pool = await simPool((b) => b.slots(1).skills(skills));
    const id = await pool.submitChain(
      [
        { name: 'first', action: { type: 'prompt', prompt: 'Say [[sim:text hello-world]]' } },
        { name: 'second', action: { type: 'skill', skill: 'shout', arguments: { word: 'HEY' } } },
      ],
      { isolation: 'none' },
    );
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    expect(result.steps[1].output).toContain('Shout HEY');
    expect(result.steps[1].output).toContain('hello-world');
  });

  it('runSkill renders a built-in skill and checks its arguments', async () => {
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.runSkill('summarize', { target: 'README.md [[sim:echo-args]]' });
    expect(result.success).toBe(true);
    expect(result.output).toContain('README.md');
    await expect(pool.runSkill('summarize', {})).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(pool.runSkill('nope', {})).rejects.toMatchObject({ code: 'not_found' });
  });

  it('runs a built-in workflow end to end as a chain', async () => {
    const pool = await simPool((b) => b.slots(2));
    const names = pool.workflows.list().map((w) => w.name);
    expect(names).toContain('plan_implement_review');
    const id = await pool.runWorkflow(
      'plan_implement_review',
      { task: 'add a --json flag [[sim:cost 0.001]]' },
      { isolation: 'none' },
    );
    const result = await pool.waitForChain(id);
    expect(result.success).toBe(true);
    const workflow = pool.workflows.get('plan_implement_review');
    expect(result.steps.map((s) => s.name)).toEqual(workflow?.steps.map((s) => s.name));
    expect(result.totalCostMicrodollars).toBeGreaterThan(0);
    await expect(pool.runWorkflow('plan_implement_review', {})).rejects.toThrow(/missing required argument 'task'/);
    await expect(pool.runWorkflow('no_such_flow', {})).rejects.toThrow("workflow 'no_such_flow' not found");
  });

  it('runs issue_to_pr as a chain: each step renders its skill in order', async () => {
    const pool = await simPool((b) => b.slots(1));
    const issue = 'https://example.com/acme/app/issues/7 [[sim:cost 0.002]]';
    const id = await pool.runWorkflow('issue_to_pr', { issue_url: issue }, { isolation: 'none' });
    const seen: number[] = [];
    pool.chain$(id).subscribe((progress) => seen.push(progress.completedSteps.length));
    const result = await pool.waitForChain(id);
    expect(result.steps.map((s) => [s.name, s.success])).toEqual([
      ['analyze_issue', true],
      ['implement_solution', true],
      ['write_tests', true],
      ['run_checks', true],
    ]);
    // run_checks (pre_push) takes no argument, so it runs at the default cost.
    expect(result.totalCostMicrodollars).toBe(3 * 2_000 + 1_000);
    const tasks = await pool.listTasks({ tags: [id] });
    const prompts = tasks.map((t) => t.prompt);
    expect(prompts[0]).toContain('Summarize the issue https://example.com/acme/app/issues/7');
    expect(prompts.some((p) => p.startsWith('Implement the following: the change that resolves the issue'))).toBe(true);
    expect(prompts.some((p) => p.includes("running the project's checks"))).toBe(true);
    expect(seen.at(-1)).toBe(4);
    // The old argument name still works.
    const again = await pool.runWorkflow(
      'issue_to_pr',
      { issue: 'https://example.com/acme/app/issues/8' },
      { isolation: 'none' },
    );
    expect((await pool.waitForChain(again)).success).toBe(true);
  });
});
