import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SkillRegistry } from '../../src/skills/index.js';
import { WorkflowError, WorkflowRegistry, type Workflow } from '../../src/workflows/index.js';

function workflow(overrides: Partial<Workflow> = {}): Workflow {
  return {
    name: 'flow',
    description: 'A flow',
    arguments: [{ name: 'target', description: 'what', required: true }],
    steps: [
      {
        name: 'review',
        action: { type: 'skill', skill: 'code_review', arguments: { target: '{target}' } },
        outputVars: { verdict: 'verdict' },
      },
      { name: 'fix', action: { type: 'prompt', prompt: 'Fix {target}: {previous_output} {steps.review.verdict}' } },
    ],
    ...overrides,
  };
}

function registerError(registry: WorkflowRegistry, w: unknown): WorkflowError {
  try {
    registry.register(w as Workflow);
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowError);
    return error as WorkflowError;
  }
  throw new Error('expected register to fail');
}

describe('WorkflowRegistry.register validation', () => {
  const registry = new WorkflowRegistry(SkillRegistry.withBuiltins());
  const prompt = (name: string, text: string) => ({ name, action: { type: 'prompt' as const, prompt: text } });

  it.each<[Partial<Workflow>, string]>([
    [{ name: 'Flow' }, "invalid workflow 'Flow': name 'Flow' must match ^[a-z][a-z0-9_-]*$"],
    [{ steps: [] }, "invalid workflow 'flow': steps must not be empty"],
    [
      { steps: [prompt('a', 'x'), prompt('a', 'y')] },
      "invalid workflow 'flow': steps[1].name 'a' is already used by steps[0]",
    ],
    [
      { steps: [prompt('do-it', 'x')] },
      "invalid workflow 'flow': steps[0].name 'do-it' must be an identifier (letters, digits and '_', not starting with a digit)",
    ],
    [
      { steps: [{ ...prompt('a', 'x'), failurePolicy: { retries: -1 } }] },
      "invalid workflow 'flow': steps[0].failurePolicy.retries must be a non-negative integer",
    ],
    [
      { steps: [{ ...prompt('a', 'x'), failurePolicy: { retries: 1.5 } }] },
      "invalid workflow 'flow': steps[0].failurePolicy.retries must be a non-negative integer",
    ],
    [
      { steps: [{ name: 'a', action: { type: 'skill', skill: 'nope' } }] },
      "invalid workflow 'flow': steps[0].action.skill 'nope' is not a registered skill",
    ],
    [
      { steps: [{ name: 'a', action: { type: 'skill', skill: 'code_review', arguments: { taret: 'x' } } }] },
      "invalid workflow 'flow': steps[0].action.arguments.taret is not an argument of skill 'code_review' (valid arguments: target); " +
        "steps[0].action.arguments is missing required argument 'target' of skill 'code_review'",
    ],
    [
      { steps: [prompt('a', 'Do {thing}')] },
      "invalid workflow 'flow': steps[0].action.prompt uses undeclared placeholder '{thing}'",
    ],
    [
      { steps: [prompt('a', 'Oops {error}')] },
      "invalid workflow 'flow': steps[0].action.prompt uses undeclared placeholder '{error}'",
    ],
    [
      { steps: [prompt('a', 'x'), prompt('b', 'Use {steps.a.files}')] },
      "invalid workflow 'flow': steps[1].action.prompt references '{steps.a.files}' but no earlier step 'a' declares output variable 'files'",
    ],
    [
      {
        steps: [
          { ...prompt('a', 'x'), failurePolicy: { retries: 0, recoveryPrompt: 'Recover {target} {error} {what}' } },
        ],
      },
      "invalid workflow 'flow': steps[0].failurePolicy.recoveryPrompt uses undeclared placeholder '{what}'",
    ],
    [
      { arguments: [{ name: 'error', description: '', required: false }], steps: [prompt('a', 'x')] },
      "invalid workflow 'flow': arguments[0].name 'error' is reserved",
    ],
  ])('rejects %j', (overrides, message) => {
    const error = registerError(registry, workflow(overrides));
    expect(error.code).toBe('invalid_definition');
    expect(error.message).toBe(message);
  });

  it('accepts a valid workflow with chain placeholders', () => {
    expect(registry.register(workflow()).steps).toHaveLength(2);
  });

  it('does not check skill steps without a skill registry', () => {
    const loose = new WorkflowRegistry();
    expect(() =>
      loose.register(workflow({ steps: [{ name: 'a', action: { type: 'skill', skill: 'anything' } }] })),
    ).not.toThrow();
  });
});

describe('WorkflowRegistry', () => {
  it('gets, lists sorted, removes and instantiates', () => {
    const registry = new WorkflowRegistry();
    registry.register(workflow({ name: 'zz' }));
    registry.register(workflow({ name: 'aa' }));
    expect(registry.list().map((w) => w.name)).toEqual(['aa', 'zz']);
    expect(registry.get('aa')?.description).toBe('A flow');
    expect(registry.has('zz')).toBe(true);
    expect(registry.instantiate('aa', { target: 'x.ts' })[1].action).toEqual({
      type: 'prompt',
      prompt: 'Fix x.ts: {previous_output} {steps.review.verdict}',
    });
    expect(registry.remove('aa')).toBe(true);
    expect(registry.remove('aa')).toBe(false);
    expect(registry.size).toBe(1);
  });

  it('instantiate of an unknown workflow is not_found', () => {
    const error = (() => {
      try {
        new WorkflowRegistry().instantiate('ghost');
      } catch (e) {
        return e as WorkflowError;
      }
    })();
    expect(error?.code).toBe('not_found');
    expect(error?.message).toBe("workflow 'ghost' not found");
  });

  it('withBuiltins leaves out the workflows whose skills the registry lacks', () => {
    expect(WorkflowRegistry.withBuiltins(new SkillRegistry()).list()).toEqual([]);
  });
});

describe('WorkflowRegistry.loadDirectory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'workflows-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeValidSet(): Promise<void> {
    await writeFile(path.join(dir, 'audit.json'), JSON.stringify(workflow({ name: 'audit' })));
    await writeFile(
      path.join(dir, 'release.yaml'),
      [
        'description: Cut a release',
        'arguments:',
        '  - name: version',
        '    required: true',
        'steps:',
        '  - name: notes',
        '    prompt: Write release notes for {version}.',
        '    config:',
        '      max_turns: 4',
        '  - name: tag',
        '    skill: fix_failures',
        '    arguments:',
        '      command: git tag v{version}',
        '    failure_policy:',
        '      retries: 2',
        '      recovery_prompt: "Tagging {version} failed: {error}"',
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'notes.txt'), 'ignored');
  }

  it('loads JSON and YAML workflows, including shorthands and snake_case', async () => {
    await writeValidSet();
    const registry = new WorkflowRegistry(SkillRegistry.withBuiltins());
    const loaded = await registry.loadDirectory(dir);
    expect(loaded.map((w) => w.name)).toEqual(['audit', 'release']);
    expect(registry.instantiate('release', { version: '1.2.0' })).toEqual([
      { name: 'notes', action: { type: 'prompt', prompt: 'Write release notes for 1.2.0.' }, config: { maxTurns: 4 } },
      {
        name: 'tag',
        action: { type: 'skill', skill: 'fix_failures', arguments: { command: 'git tag v1.2.0' } },
        failurePolicy: { retries: 2, recoveryPrompt: 'Tagging 1.2.0 failed: {error}' },
      },
    ]);
  });

  it('rejects an invalid file, naming it and the field, and registers nothing', async () => {
    await writeValidSet();
    const bad = path.join(dir, 'broken.yaml');
    await writeFile(
      bad,
      ['name: broken', 'steps:', '  - prompt: hi', '  - name: b', '    skill: code_review'].join('\n'),
    );
    const registry = new WorkflowRegistry(SkillRegistry.withBuiltins());
    const error = await registry.loadDirectory(dir).catch((e: unknown) => e as WorkflowError);
    expect(error).toBeInstanceOf(WorkflowError);
    expect((error as WorkflowError).code).toBe('invalid_definition');
    expect((error as WorkflowError).problems).toEqual([
      `${bad}: steps[0].name is required`,
      `${bad}: steps[1].arguments is missing required argument 'target' of skill 'code_review'`,
    ]);
    expect(registry.size).toBe(0);
  });

  it('rejects a step with two actions and a syntax error', async () => {
    await writeFile(path.join(dir, 'a.yaml'), 'steps:\n  - name: a\n    prompt: x\n    skill: plan\n');
    await writeFile(path.join(dir, 'b.json'), '[');
    const error = await new WorkflowRegistry().loadDirectory(dir).catch((e: unknown) => e as WorkflowError);
    expect((error as WorkflowError).problems[0]).toBe(
      `${path.join(dir, 'a.yaml')}: steps[0] must have exactly one of action, prompt or skill`,
    );
    expect((error as WorkflowError).problems[1]).toMatch(/b\.json: invalid JSON: /);
  });

  it('fails with not_found for a missing directory', async () => {
    const missing = path.join(dir, 'nope');
    await expect(new WorkflowRegistry().loadDirectory(missing)).rejects.toMatchObject({
      code: 'not_found',
      message: `workflow directory '${missing}' not found`,
    });
  });
});
