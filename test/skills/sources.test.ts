import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BUILTIN_SKILLS,
  GLOBAL_SKILLS_DIR_ENV,
  SkillRegistry,
  defaultGlobalSkillsDir,
  ejectSkill,
  loadSkillSources,
  parseSkillMarkdown,
  parseSkillObject,
  saveSkill,
  shellCommandRunner,
  skillToMarkdown,
  type Skill,
} from '../../src/skills/index.js';

let root: string;
let globalDir: string;
let projectDir: string;

async function writeSkill(dir: string, name: string, body: string, front = ''): Promise<void> {
  await mkdir(path.join(dir, name), { recursive: true });
  await writeFile(
    path.join(dir, name, 'SKILL.md'),
    `---\nname: ${name}\ndescription: from ${path.basename(dir)}\n${front}---\n\n${body}\n`,
  );
}

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'skill-sources-'));
  globalDir = path.join(root, 'global');
  projectDir = path.join(root, 'project');
  await mkdir(globalDir);
  await mkdir(projectDir);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('skill sources', () => {
  it('loads builtin < global < project, later sources replacing earlier ones by name', async () => {
    await writeSkill(globalDir, 'summarize', 'Global summary of $ARGUMENTS');
    await writeSkill(globalDir, 'shared', 'Global shared');
    await writeSkill(globalDir, 'only-global', 'Only global');
    await writeSkill(projectDir, 'shared', 'Project shared');
    const { registry, loaded } = await loadSkillSources({ globalDir, projectDir });
    expect(registry.entry('code_review')?.source).toBe('builtin');
    expect(registry.entry('summarize')?.source).toBe('global');
    expect(registry.entry('only-global')?.source).toBe('global');
    expect(registry.entry('shared')).toMatchObject({ source: 'project', skill: { prompt: 'Project shared' } });
    expect(loaded).toEqual([
      { source: 'builtin', count: BUILTIN_SKILLS.length },
      { source: 'global', dir: globalDir, count: 3 },
      { source: 'project', dir: projectDir, count: 1 },
    ]);
    registry.register({ ...(registry.get('shared') as Skill), prompt: 'Runtime shared' }, 'runtime');
    expect(registry.entry('shared')).toMatchObject({ source: 'runtime', skill: { prompt: 'Runtime shared' } });
  });

  it('--no-builtins, --no-global-skills and --no-project-skills leave their source out', async () => {
    await writeSkill(globalDir, 'g', 'G');
    await writeSkill(projectDir, 'p', 'P');
    const none = await loadSkillSources({ builtins: false, global: false, project: false, globalDir, projectDir });
    expect(none.registry.size).toBe(0);
    const noBuiltins = await loadSkillSources({ builtins: false, globalDir, projectDir });
    expect(noBuiltins.registry.list().map((e) => e.skill.name)).toEqual(['g', 'p']);
    const noGlobal = await loadSkillSources({ global: false, globalDir, projectDir });
    expect(noGlobal.registry.has('g')).toBe(false);
    expect(noGlobal.registry.has('p')).toBe(true);
    const noProject = await loadSkillSources({ project: false, globalDir, projectDir });
    expect(noProject.registry.has('g')).toBe(true);
    expect(noProject.registry.has('p')).toBe(false);
  });

  it('--disable-skill removes names after loading; an unknown name is an error', async () => {
    await writeSkill(projectDir, 'p', 'P');
    const { registry } = await loadSkillSources({ globalDir, projectDir, disable: ['code_review', 'p'] });
    expect(registry.has('code_review')).toBe(false);
    expect(registry.has('p')).toBe(false);
    expect(registry.has('implement')).toBe(true);
    await expect(loadSkillSources({ globalDir, projectDir, disable: ['nope', 'code_review'] })).rejects.toMatchObject({
      code: 'not_found',
      message: "cannot disable unknown skill 'nope'",
    });
  });

  it('a missing folder loads nothing; an invalid one fails naming the file', async () => {
    const { loaded } = await loadSkillSources({ globalDir: path.join(root, 'absent'), projectDir });
    expect(loaded[1]).toEqual({ source: 'global', dir: path.join(root, 'absent'), count: 0, missing: true });
    await writeSkill(projectDir, 'bad', 'Uses {nothing}');
    await expect(loadSkillSources({ globalDir, projectDir })).rejects.toThrow(
      /bad\/SKILL\.md: body uses undeclared placeholder '\{nothing\}'/,
    );
  });

  it('the global folder is ~/.claude-pool/skills unless the environment overrides it', () => {
    expect(defaultGlobalSkillsDir({ HOME: '/home/x' })).toMatch(/\.claude-pool[/\\]skills$/);
    expect(defaultGlobalSkillsDir({ [GLOBAL_SKILLS_DIR_ENV]: '/tmp/g' })).toBe('/tmp/g');
  });

  it('infers the scope from cps- names when none is given', async () => {
    await writeSkill(projectDir, 'cps-coordinator-status', 'Status');
    await writeSkill(projectDir, 'cps-chain-release', 'Release');
    await writeSkill(projectDir, 'cps-chain-explicit', 'Explicit', 'metadata:\n  scope: task\n');
    await writeSkill(projectDir, 'cps-other', 'Other');
    const { registry } = await loadSkillSources({ builtins: false, global: false, projectDir });
    expect(registry.get('cps-coordinator-status')?.scope).toBe('coordinator');
    expect(registry.get('cps-chain-release')?.scope).toBe('chain');
    expect(registry.get('cps-chain-explicit')?.scope).toBe('task');
    expect(registry.get('cps-other')?.scope).toBe('task');
    const parsed = parseSkillObject({ name: 'cps-coordinator-x', prompt: 'x' });
    expect(parsed.ok && parsed.value.scope).toBe('coordinator');
  });

  it('shell commands run only when the registry has a runner', async () => {
    await writeSkill(projectDir, 'where', 'Folder: !`pwd` Fails: !`echo oops >&2; exit 3` Missing: !`exit 4`');
    const off = await loadSkillSources({ builtins: false, global: false, projectDir });
    expect(off.registry.render('where')).toBe('Folder: !`pwd` Fails: !`echo oops >&2; exit 3` Missing: !`exit 4`');
    const on = await loadSkillSources({ builtins: false, global: false, projectDir, runCommand: shellCommandRunner() });
    expect(on.registry.render('where')).toBe(
      `Folder: ${path.join(projectDir, 'where')} Fails: [command failed: oops] Missing: [command failed: exit code 4]`,
    );
  });

  it('announces registrations and removals', () => {
    const registry = new SkillRegistry();
    const changes: string[] = [];
    const stop = registry.onChange((c) =>
      changes.push(c.type === 'registered' ? `+${c.entry.skill.name}:${c.entry.source}` : `-${c.name}`),
    );
    registry.register({ name: 'a', description: '', prompt: 'A', arguments: [], scope: 'task' });
    registry.remove('a');
    registry.remove('a');
    stop();
    registry.register({ name: 'b', description: '', prompt: 'B', arguments: [], scope: 'task' });
    expect(changes).toEqual(['+a:runtime', '-a']);
  });
});

describe('saving skills as SKILL.md', () => {
  const rich: Skill = {
    name: 'deploy',
    description: 'Deploy "the" service: carefully',
    prompt: 'Deploy to {env} with ${CLAUDE_SKILL_DIR}/run.sh # $0',
    arguments: [
      { name: 'env', description: 'Target: prod or staging', required: true },
      { name: 'dry', description: 'Dry run', required: false, default: 'yes' },
    ],
    config: { model: 'sonnet', maxTurns: 5, allowedTools: ['Bash(git:*)', 'Read'] },
    argumentHint: '<env>',
    scope: 'coordinator',
  };

  it('writes SKILL.md text that parses back to the same skill', () => {
    const text = skillToMarkdown(rich);
    expect(text.startsWith('---\nname: "deploy"\ndescription: "Deploy \\"the\\" service: carefully"\n')).toBe(true);
    expect(text.endsWith('---\n\nDeploy to {env} with ${CLAUDE_SKILL_DIR}/run.sh # $0\n')).toBe(true);
    const parsed = parseSkillMarkdown(text, { skillDir: '/x' });
    expect(parsed).toEqual({ ok: true, value: { ...rich, skillDir: '/x' } });
    const plain: Skill = { name: 'p', description: 'd', prompt: 'Do it', arguments: [], scope: 'task' };
    expect(skillToMarkdown(plain)).toBe('---\nname: "p"\ndescription: "d"\n---\n\nDo it\n');
  });

  it('save writes <dir>/<name>/SKILL.md, re-registers it as project, and a fresh load reads it back', async () => {
    const registry = new SkillRegistry({ projectDir });
    registry.register(rich, 'runtime');
    const saved = await saveSkill(registry, 'deploy');
    expect(saved.path).toBe(path.join(projectDir, 'deploy', 'SKILL.md'));
    expect(registry.entry('deploy')).toMatchObject({
      source: 'project',
      skill: { skillDir: path.join(projectDir, 'deploy') },
    });
    expect(await readFile(saved.path, 'utf8')).toBe(skillToMarkdown(rich));
    const { registry: reloaded } = await loadSkillSources({ builtins: false, global: false, projectDir });
    expect(reloaded.get('deploy')).toEqual({ ...rich, skillDir: path.join(projectDir, 'deploy') });
    expect(reloaded.render('deploy', { env: 'prod' })).toBe(
      `Deploy to prod with ${path.join(projectDir, 'deploy')}/run.sh # prod`,
    );
  });

  it('save into another folder; errors for unknown names and a missing folder', async () => {
    const registry = SkillRegistry.withBuiltins();
    const other = path.join(root, 'other');
    const saved = await saveSkill(registry, 'summarize', { dir: other });
    expect(saved.path).toBe(path.join(other, 'summarize', 'SKILL.md'));
    await expect(saveSkill(registry, 'nope', { dir: other })).rejects.toMatchObject({ code: 'not_found' });
    await expect(saveSkill(registry, 'implement')).rejects.toMatchObject({ code: 'no_directory' });
  });

  it('eject copies a built-in only, which then overrides it from the project folder', async () => {
    const registry = SkillRegistry.withBuiltins({ projectDir });
    registry.register({ name: 'mine', description: '', prompt: 'M', arguments: [], scope: 'task' }, 'runtime');
    const ejected = await ejectSkill(registry, 'code_review');
    expect(ejected.path).toBe(path.join(projectDir, 'code_review', 'SKILL.md'));
    expect(registry.entry('code_review')?.source).toBe('project');
    await expect(ejectSkill(registry, 'code_review')).rejects.toMatchObject({ code: 'not_builtin' });
    await expect(ejectSkill(registry, 'mine')).rejects.toThrow(
      'not a builtin skill: mine (only builtins can be ejected; it comes from runtime)',
    );
    const { registry: reloaded } = await loadSkillSources({ global: false, projectDir });
    expect(reloaded.entry('code_review')?.source).toBe('project');
    const builtin = BUILTIN_SKILLS.find((s) => s.name === 'code_review') as Skill;
    expect(reloaded.get('code_review')).toEqual({ ...builtin, skillDir: path.join(projectDir, 'code_review') });
  });
});
