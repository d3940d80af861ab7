import { describe, expect, it } from 'vitest';
import { SkillRegistry, renderSkill } from '../../src/skills/index.js';
import {
  BUILTIN_WORKFLOWS,
  WorkflowError,
  WorkflowRegistry,
  instantiateWorkflow,
  type Workflow,
} from '../../src/workflows/index.js';

const flow: Workflow = {
  name: 'ship',
  description: 'Ship a change',
  arguments: [
    { name: 'task', description: 'what', required: true },
    { name: 'branch', description: 'where', required: false, default: 'main' },
    { name: 'note', description: 'extra', required: false },
  ],
  steps: [
    {
      name: 'plan',
      action: { type: 'prompt', prompt: 'Plan {task} on {branch}.{note}' },
      config: { maxTurns: 3 },
      outputVars: { files: 'files' },
    },
    {
      name: 'build',
      action: { type: 'skill', skill: 'implement', arguments: { description: '{task} touching {steps.plan.files}' } },
      failurePolicy: { retries: 2, recoveryPrompt: 'Retry {task}: {error} after {previous_output}' },
    },
    {
      name: 'check',
      action: { type: 'prompt', prompt: 'Check {task} given {previous_output} and {steps.plan.files}' },
    },
  ],
};

function catchError(fn: () => unknown): WorkflowError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error).toBeInstanceOf(Error);
    return error as WorkflowError;
  }
  throw new Error('expected an error');
}

describe('instantiateWorkflow', () => {
  it('replaces arguments in prompts, skill arguments and recovery prompts, leaving chain placeholders', () => {
    const steps = instantiateWorkflow(flow, { task: 'add X' });
    expect(steps).toEqual([
      {
        name: 'plan',
        action: { type: 'prompt', prompt: 'Plan add X on main.' },
        config: { maxTurns: 3 },
        outputVars: { files: 'files' },
      },
      {
        name: 'build',
        action: { type: 'skill', skill: 'implement', arguments: { description: 'add X touching {steps.plan.files}' } },
        failurePolicy: { retries: 2, recoveryPrompt: 'Retry add X: {error} after {previous_output}' },
      },
      {
        name: 'check',
        action: { type: 'prompt', prompt: 'Check add X given {previous_output} and {steps.plan.files}' },
      },
    ]);
  });

  it('uses given values over defaults, in a single pass', () => {
    const steps = instantiateWorkflow(flow, { task: '{branch}', branch: 'dev', note: ' {previous_output}' });
    expect(steps[0].action).toEqual({ type: 'prompt', prompt: 'Plan {branch} on dev. {previous_output}' });
  });

  it('shares no objects with the workflow', () => {
    const steps = instantiateWorkflow(flow, { task: 't' });
    steps[0].config!.maxTurns = 99;
    steps[0].outputVars!.files = 'other';
    expect(flow.steps[0].config?.maxTurns).toBe(3);
    expect(flow.steps[0].outputVars?.files).toBe('files');
  });

  it('rejects a missing required argument with the exact message', () => {
    const error = catchError(() => instantiateWorkflow(flow, {}));
    expect(error.code).toBe('missing_argument');
    expect(error.name).toBe('WorkflowError');
    expect(error.message).toBe("missing required argument 'task' for workflow 'ship'");
  });

  it('rejects unknown arguments', () => {
    const error = catchError(() => instantiateWorkflow(flow, { task: 't', tsak: 'x' }));
    expect(error.code).toBe('unknown_argument');
    expect(error.message).toBe("unknown argument 'tsak' for workflow 'ship' (valid arguments: task, branch, note)");
  });
});

describe('built-in workflows', () => {
  const skills = SkillRegistry.withBuiltins();
  const workflows = WorkflowRegistry.withBuiltins(skills);

  it('are registered and valid against the built-in skills', () => {
    expect(workflows.list().map((w) => w.name)).toEqual([
      'implement_and_test',
      'issue_to_pr',
      'plan_implement_review',
      'refactor_and_test',
      'review_and_fix',
    ]);
    expect(BUILTIN_WORKFLOWS).toHaveLength(5);
  });

  it('plan_implement_review: plan, implement using the plan with a retry and recovery, review', () => {
    const steps = workflows.instantiate('plan_implement_review', { task: 'add caching' });
    expect(steps.map((s) => s.name)).toEqual(['plan', 'implement', 'review']);
    expect(steps[0].action).toEqual({ type: 'skill', skill: 'plan', arguments: { task: 'add caching' } });
    const implement = steps[1];
    expect(implement.action.type).toBe('prompt');
    if (implement.action.type === 'prompt') {
      expect(implement.action.prompt).toContain('Implement this task: add caching');
      expect(implement.action.prompt).toContain('{previous_output}');
    }
    expect(implement.failurePolicy?.retries).toBe(1);
    expect(implement.failurePolicy?.recoveryPrompt).toContain('"add caching"');
    expect(implement.failurePolicy?.recoveryPrompt).toContain('{error}');
    expect(steps[2].action).toMatchObject({ type: 'skill', skill: 'code_review' });
  });

  it('every built-in instantiates, and every skill step renders with the built-in skills', () => {
    const args: Record<string, Record<string, string>> = {
      implement_and_test: { description: 'a flag' },
      issue_to_pr: { issue_url: 'https://example.com/issues/7' },
      plan_implement_review: { task: 'a task' },
      refactor_and_test: { target_file: 'a.ts', refactor_goal: 'clarity' },
      review_and_fix: { review_target: 'b.ts' },
    };
    for (const workflow of workflows.list()) {
      const steps = workflows.instantiate(workflow.name, args[workflow.name]);
      for (const step of steps) {
        const text =
          step.action.type === 'prompt'
            ? step.action.prompt
            : renderSkill(skills.get(step.action.skill)!, step.action.arguments);
        const leftovers = (text.match(/(?<!\$)\{[A-Za-z_][\w.]*\}/g) ?? []).filter((p) => p !== '{previous_output}');
        expect(leftovers, `${workflow.name}.${step.name}`).toEqual([]);
      }
    }
  });

  it('implement_and_test uses the default test command', () => {
    const steps = workflows.instantiate('implement_and_test', { description: 'x' });
    expect(steps[2].action).toEqual({
      type: 'skill',
      skill: 'fix_failures',
      arguments: { command: "the project's test suite" },
    });
    const custom = workflows.instantiate('implement_and_test', { description: 'x', test_command: 'npm test' });
    expect(custom[2].action).toEqual({ type: 'skill', skill: 'fix_failures', arguments: { command: 'npm test' } });
  });

  it('require their arguments', () => {
    expect(() => workflows.instantiate('refactor_and_test', { target_file: 'a' })).toThrowError(
      "missing required argument 'refactor_goal' for workflow 'refactor_and_test'",
    );
    expect(() => workflows.instantiate('issue_to_pr', {})).toThrowError(
      "missing required argument 'issue_url' for workflow 'issue_to_pr'",
    );
  });

  it("take the reference's argument names and accept the earlier ones as aliases", () => {
    const reference = workflows.instantiate('refactor_and_test', { target_file: 'a.ts', refactor_goal: 'clarity' });
    expect(workflows.instantiate('refactor_and_test', { target: 'a.ts', goal: 'clarity' })).toEqual(reference);
    expect(reference[0].action).toEqual({
      type: 'skill',
      skill: 'refactor',
      arguments: { target: 'a.ts', goal: 'clarity' },
    });
    expect(workflows.instantiate('review_and_fix', { target: 'b.ts' })).toEqual(
      workflows.instantiate('review_and_fix', { review_target: 'b.ts' }),
    );
    expect(() => workflows.instantiate('review_and_fix', { target: 'a', review_target: 'b' })).toThrowError(
      "arguments 'target' and 'review_target' of workflow 'review_and_fix' are the same argument ('review_target'); give one",
    );
    expect(() => workflows.instantiate('review_and_fix', { targte: 'a' })).toThrowError(
      "unknown argument 'targte' for workflow 'review_and_fix' (valid arguments: review_target)",
    );
  });

  it('issue_to_pr: analyse, implement (retry 1), write tests, run the checks (retries 2)', () => {
    const steps = workflows.instantiate('issue_to_pr', { issue_url: 'https://example.com/issues/7' });
    expect(
      steps.map((s) => [s.name, s.action.type === 'skill' ? s.action.skill : 'prompt', s.failurePolicy?.retries ?? 0]),
    ).toEqual([
      ['analyze_issue', 'summarize', 0],
      ['implement_solution', 'implement', 1],
      ['write_tests', 'write_tests', 0],
      ['run_checks', 'pre_push', 2],
    ]);
    expect(JSON.stringify(steps)).toContain('the issue https://example.com/issues/7');
    expect(steps[1].failurePolicy?.recoveryPrompt).toContain('{error}');
  });

  it('leaves out built-in workflows whose skills are missing (built-in skills off or disabled)', () => {
    expect(WorkflowRegistry.withBuiltins(new SkillRegistry()).size).toBe(0);
    const partial = SkillRegistry.withBuiltins();
    partial.remove('pre_push');
    expect(
      WorkflowRegistry.withBuiltins(partial)
        .list()
        .map((w) => w.name),
    ).toEqual(['implement_and_test', 'plan_implement_review', 'refactor_and_test', 'review_and_fix']);
  });

  it('aliases are validated in definitions', () => {
    expect(() =>
      new WorkflowRegistry().register({
        name: 'w',
        description: '',
        arguments: [
          { name: 'a', description: '', required: true, aliases: ['b'] },
          { name: 'b', description: '', required: false },
        ],
        steps: [{ name: 's', action: { type: 'prompt', prompt: '{a} {b}' } }],
      }),
    ).toThrowError("invalid workflow 'w': arguments[1].name 'b' is declared twice");
  });
});
