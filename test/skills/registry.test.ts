import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_SKILLS, SkillError, SkillRegistry, type Skill } from '../../src/skills/index.js';

function skill(overrides: Partial<Skill> = {}): Skill {
  return {
    name: 'greet',
    description: 'Say hello',
    prompt: 'Hello {who}',
    arguments: [{ name: 'who', description: 'who to greet', required: true }],
    scope: 'task',
    ...overrides,
  };
}

function registerError(registry: SkillRegistry, s: unknown): SkillError {
  try {
    registry.register(s as Skill);
  } catch (error) {
    expect(error).toBeInstanceOf(SkillError);
    return error as SkillError;
  }
  throw new Error('expected register to fail');
}

describe('SkillRegistry.register validation', () => {
  const registry = new SkillRegistry();

  it.each([
    [{ name: 'Bad Name' }, "invalid skill 'Bad Name': name 'Bad Name' must match ^[a-z][a-z0-9_-]*$"],
    [{ name: '' }, 'invalid skill: name must not be empty'],
    [{ prompt: '   ' }, "invalid skill 'greet': prompt must not be empty"],
    [{ prompt: 'Hi {who} from {place}' }, "invalid skill 'greet': prompt uses undeclared placeholder '{place}'"],
    [{ prompt: 'Hi {who} {a.b}' }, "invalid skill 'greet': prompt uses undeclared placeholder '{a.b}'"],
    [
      {
        arguments: [
          { name: 'who', description: '', required: true },
          { name: 'who', description: '', required: false },
        ],
      },
      "invalid skill 'greet': arguments[1].name 'who' is declared twice",
    ],
    [
      { prompt: 'Hi', arguments: [{ name: '1st', description: '', required: true }] },
      "invalid skill 'greet': arguments[0].name '1st' must be an identifier (letters, digits and '_', not starting with a digit)",
    ],
    [
      { prompt: 'Hi', arguments: [{ name: '_previous_output', description: '', required: false }] },
      "invalid skill 'greet': arguments[0].name '_previous_output' is reserved",
    ],
    [{ scope: 'everywhere' }, "invalid skill 'greet': scope must be one of task, coordinator, chain"],
    [{ config: { maxTurns: 0 } }, "invalid skill 'greet': config.maxTurns must be a positive integer"],
    [
      { config: { permissionMode: 'yolo' } },
      "invalid skill 'greet': config.permissionMode must be one of default, acceptEdits, bypassPermissions, dontAsk, plan, auto",
    ],
    [{ config: { modle: 'x' } }, "invalid skill 'greet': config.modle is not a known field"],
  ])('rejects %j', (overrides, message) => {
    const error = registerError(registry, skill(overrides as Partial<Skill>));
    expect(error.code).toBe('invalid_definition');
    expect(error.message).toBe(message);
  });

  it('reports every problem at once', () => {
    const error = registerError(registry, { ...skill({ prompt: '' }), arguments: [{ description: 'x' }] });
    expect(error.problems).toEqual(['prompt must not be empty', 'arguments[0].name is required']);
  });

  it('accepts chain placeholders, _previous_output and shell variables', () => {
    const stored = registry.register(
      skill({ prompt: 'Hi {who} {_previous_output} {previous_output} {steps.plan.files} ${HOME}' }),
    );
    expect(stored.prompt).toContain('{steps.plan.files}');
  });
});

describe('SkillRegistry', () => {
  it('stores, gets, lists by scope and source, removes, and renders', () => {
    const registry = new SkillRegistry();
    registry.register(skill({ name: 'zeta' }), 'project');
    registry.register(skill({ name: 'alpha', scope: 'chain' }), 'global');
    registry.register(skill({ name: 'mid' }));
    expect(registry.list().map((e) => e.skill.name)).toEqual(['alpha', 'mid', 'zeta']);
    expect(registry.list({ scope: 'task' }).map((e) => e.skill.name)).toEqual(['mid', 'zeta']);
    expect(registry.list({ source: 'runtime' }).map((e) => e.skill.name)).toEqual(['mid']);
    expect(registry.entry('zeta')?.source).toBe('project');
    expect(registry.has('alpha')).toBe(true);
    expect(registry.render('alpha', { who: 'you' })).toBe('Hello you');
    expect(registry.remove('alpha')).toBe(true);
    expect(registry.remove('alpha')).toBe(false);
    expect(registry.get('alpha')).toBeUndefined();
    expect(registry.size).toBe(2);
  });

  it('replaces a skill registered again under the same name', () => {
    const registry = new SkillRegistry();
    registry.register(skill(), 'builtin');
    registry.register(skill({ prompt: 'Hey {who}' }), 'project');
    expect(registry.render('greet', { who: 'a' })).toBe('Hey a');
    expect(registry.entry('greet')?.source).toBe('project');
  });

  it('stores a frozen copy', () => {
    const registry = new SkillRegistry();
    const original = skill();
    const stored = registry.register(original);
    original.prompt = 'changed {who}';
    expect(registry.get('greet')?.prompt).toBe('Hello {who}');
    expect(Object.isFrozen(stored)).toBe(true);
  });

  it('render of an unknown skill is not_found', () => {
    const registry = new SkillRegistry();
    expect(() => registry.render('nope')).toThrowError(
      expect.objectContaining({ code: 'not_found', message: "skill 'nope' not found" }),
    );
  });
});

describe('built-in skills', () => {
  const registry = SkillRegistry.withBuiltins();

  it('has the expected skills, all from source builtin', () => {
    expect(registry.list().map((e) => e.skill.name)).toEqual([
      'chain_implement_issue',
      'chain_watcher',
      'code_review',
      'create_pr',
      'fix_failures',
      'implement',
      'issue_triage',
      'issue_watcher',
      'loop_monitor',
      'plan',
      'plan_then_execute',
      'pool_dashboard',
      'pre_push',
      'rebase_onto_main',
      'refactor',
      'summarize',
      'write_tests',
    ]);
    expect(registry.list({ source: 'builtin' })).toHaveLength(BUILTIN_SKILLS.length);
    expect(registry.list({ scope: 'coordinator' }).map((e) => e.skill.name)).toEqual([
      'chain_watcher',
      'issue_triage',
      'issue_watcher',
      'loop_monitor',
      'pool_dashboard',
    ]);
    expect(registry.list({ scope: 'chain' }).map((e) => e.skill.name)).toEqual([
      'chain_implement_issue',
      'plan_then_execute',
    ]);
  });

  it.each([
    ['code_review', { target: 'src/a.ts' }, 'src/a.ts'],
    ['implement', { description: 'add a flag' }, 'add a flag'],
    ['write_tests', { target: 'the parser' }, 'the parser'],
    ['refactor', { target: 'mod.ts', goal: 'smaller functions' }, 'smaller functions'],
    ['summarize', { target: 'README' }, 'README'],
    ['fix_failures', { command: 'npm test' }, 'Run npm test'],
    ['plan', { task: 'ship it' }, 'ship it'],
    ['pre_push', {}, 'formatter'],
    ['create_pr', { title: 'Add X', body: 'Adds X.', issue: '#12' }, 'Issue it resolves (if any): #12'],
    ['rebase_onto_main', {}, 'Rebase'],
    ['issue_watcher', { repo: 'acme/app' }, 'gh issue list --repo acme/app'],
    ['loop_monitor', { repo: 'acme/app', filters: '--author @me' }, 'loop_monitor_state_acme/app'],
    ['pool_dashboard', {}, 'pool_status'],
    ['chain_watcher', { chain_id: 'chain-1' }, 'only chain-1'],
    ['issue_triage', { repo: 'acme/app' }, '--state open'],
    ['plan_then_execute', { task: 'add caching' }, 'two phases: add caching'],
    ['chain_implement_issue', { issue: '42' }, 'gh issue view 42'],
  ])('%s renders', (name, args, expected) => {
    const text = registry.render(name, args);
    expect(text).toContain(expected);
    expect(text).not.toMatch(/(?<!\$)\{[A-Za-z_]\w*\}/);
  });

  it('require their arguments', () => {
    expect(() => registry.render('refactor', { target: 'x' })).toThrowError(
      "missing required argument 'goal' for skill 'refactor'",
    );
  });
});

describe('SkillRegistry.loadDirectory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'skills-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeValidSet(): Promise<void> {
    await writeFile(
      path.join(dir, 'lint.json'),
      JSON.stringify({
        name: 'lint',
        description: 'Run the linter',
        prompt: 'Lint {path}',
        arguments: [{ name: 'path', description: 'where', required: false, default: '.' }],
        config: { max_turns: 5, allowedTools: ['Bash'] },
      }),
    );
    await writeFile(
      path.join(dir, 'docs.yaml'),
      [
        'description: Write docs',
        'scope: chain',
        'argumentHint: <module>',
        'prompt: |',
        '  Document {module}.',
        'arguments:',
        '  - name: module',
        '    required: true',
        '    description: the module',
        '  - name: depth',
        '    default: 2',
      ].join('\n'),
    );
    await mkdir(path.join(dir, 'deploy'));
    await writeFile(
      path.join(dir, 'deploy', 'SKILL.md'),
      [
        '---',
        'name: deploy',
        'description: Deploy the service',
        'argument-hint: <env>',
        'allowed-tools: Bash(git:*), Read',
        'license: MIT',
        'metadata:',
        '  arguments:',
        '    - name: env',
        '      description: target environment',
        '      required: true',
        '  config:',
        '    effort: high',
        '---',
        '',
        'Deploy to {env} using ${CLAUDE_SKILL_DIR}/deploy.sh.',
        '',
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'README.md'), '# not a skill');
    await mkdir(path.join(dir, 'empty-folder'));
  }

  it('loads JSON, YAML and SKILL.md skills', async () => {
    await writeValidSet();
    const registry = new SkillRegistry();
    const loaded = await registry.loadDirectory(dir);
    expect(loaded.map((s) => s.name)).toEqual(['deploy', 'docs', 'lint']);
    expect(registry.entry('lint')?.source).toBe('directory');
    expect(registry.get('lint')?.config).toEqual({ maxTurns: 5, allowedTools: ['Bash'] });
    expect(registry.render('lint')).toBe('Lint .');

    const docs = registry.get('docs');
    expect(docs?.scope).toBe('chain');
    expect(docs?.argumentHint).toBe('<module>');
    expect(docs?.arguments).toEqual([
      { name: 'module', description: 'the module', required: true },
      { name: 'depth', description: '', required: false, default: '2' },
    ]);
    expect(registry.render('docs', { module: 'api' })).toBe('Document api.\n');

    const deploy = registry.get('deploy');
    expect(deploy?.argumentHint).toBe('<env>');
    expect(deploy?.config).toEqual({ effort: 'high', allowedTools: ['Bash(git:*)', 'Read'] });
    expect(deploy?.skillDir).toBe(path.join(dir, 'deploy'));
    expect(registry.render('deploy', { env: 'prod' })).toBe(
      `Deploy to prod using ${path.join(dir, 'deploy')}/deploy.sh.`,
    );
  });

  it('reads space-separated allowed-tools and ignores unknown metadata keys', async () => {
    await mkdir(path.join(dir, 'tidy'));
    await writeFile(
      path.join(dir, 'tidy', 'SKILL.md'),
      '---\ndescription: Tidy\nallowed-tools: Bash(git diff:*) Read\nmetadata:\n  author: someone\n  version: "1"\n---\nTidy up.\n',
    );
    const registry = new SkillRegistry();
    await registry.loadDirectory(dir);
    expect(registry.get('tidy')?.config).toEqual({ allowedTools: ['Bash(git diff:*)', 'Read'] });
    expect(registry.render('tidy')).toBe('Tidy up.');
  });

  it('uses the source it is given', async () => {
    await writeValidSet();
    const registry = new SkillRegistry();
    await registry.loadDirectory(dir, 'project');
    expect(registry.list({ source: 'project' })).toHaveLength(3);
  });

  it('names the file from the file name when name is absent', async () => {
    await writeFile(path.join(dir, 'hello.yml'), 'prompt: Hello\n');
    const registry = new SkillRegistry();
    await registry.loadDirectory(dir);
    expect(registry.has('hello')).toBe(true);
  });

  it('rejects an invalid file, naming it, and registers nothing', async () => {
    await writeValidSet();
    const bad = path.join(dir, 'foo.yaml');
    await writeFile(
      bad,
      ['name: foo', 'prompt: Do {a}', 'arguments:', '  - name: a', '  - description: no name'].join('\n'),
    );
    const registry = new SkillRegistry();
    const error = await registry.loadDirectory(dir).then(
      () => undefined,
      (e: unknown) => e as SkillError,
    );
    expect(error).toBeInstanceOf(SkillError);
    expect(error?.code).toBe('invalid_definition');
    expect(error?.message).toBe(`${bad}: arguments[1].name is required`);
    expect(registry.size).toBe(0);
  });

  it('reports problems of several files, including syntax errors and SKILL.md problems', async () => {
    await writeFile(path.join(dir, 'a.json'), '{ "name": "a", ');
    await writeFile(path.join(dir, 'b.yaml'), 'name: b\nprompt: [unclosed\n');
    await mkdir(path.join(dir, 'c'));
    await writeFile(path.join(dir, 'c', 'SKILL.md'), '---\nname: c\nmetadata:\n  arguments: nope\n---\nUse {x}\n');
    await mkdir(path.join(dir, 'd'));
    await writeFile(path.join(dir, 'd', 'SKILL.md'), 'no frontmatter');
    const error = await new SkillRegistry().loadDirectory(dir).catch((e: unknown) => e as SkillError);
    expect(error).toBeInstanceOf(SkillError);
    const problems = (error as SkillError).problems;
    expect(problems).toHaveLength(5);
    expect(problems[0]).toMatch(new RegExp(`^${path.join(dir, 'a.json')}: invalid JSON: `));
    expect(problems[1]).toMatch(new RegExp(`^${path.join(dir, 'b.yaml')}: invalid YAML: `));
    expect(problems[2]).toBe(`${path.join(dir, 'c', 'SKILL.md')}: metadata.arguments must be a list`);
    expect(problems[3]).toBe(`${path.join(dir, 'c', 'SKILL.md')}: body uses undeclared placeholder '{x}'`);
    expect(problems[4]).toBe(`${path.join(dir, 'd', 'SKILL.md')}: must start with a '---' YAML frontmatter block`);
  });

  it('rejects two files defining the same name', async () => {
    await writeFile(path.join(dir, 'one.json'), JSON.stringify({ name: 'same', prompt: 'x' }));
    await writeFile(path.join(dir, 'two.yaml'), 'name: same\nprompt: y\n');
    const registry = new SkillRegistry();
    await expect(registry.loadDirectory(dir)).rejects.toThrowError(
      `${path.join(dir, 'two.yaml')}: name 'same' is already defined in ${path.join(dir, 'one.json')}`,
    );
    expect(registry.size).toBe(0);
  });

  it('rejects unknown fields in JSON/YAML files', async () => {
    await writeFile(path.join(dir, 'x.yaml'), 'name: x\npromtp: hi\n');
    await expect(new SkillRegistry().loadDirectory(dir)).rejects.toThrowError(
      `${path.join(dir, 'x.yaml')}: promtp is not a known field; ${path.join(dir, 'x.yaml')}: prompt is required`,
    );
  });

  it('fails with not_found for a missing directory', async () => {
    const missing = path.join(dir, 'nope');
    await expect(new SkillRegistry().loadDirectory(missing)).rejects.toMatchObject({
      code: 'not_found',
      message: `skill directory '${missing}' not found`,
    });
  });
});
