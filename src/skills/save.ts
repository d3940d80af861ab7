/**
 * Writing skills as SKILL.md folders (`pool_skill_save`, `pool_skill_eject`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { SkillRegistry } from './registry.js';
import { SkillError, type Skill } from './skill.js';

/**
 * A skill as SKILL.md text: YAML frontmatter (`name`, `description`, `argument-hint` when set, and a
 * `metadata` block with `scope` when not `task`, `arguments` and `config` when there are any), a blank line,
 * the prompt and a trailing newline. `parseSkillMarkdown` reads it back to the same skill.
 */
export function skillToMarkdown(skill: Skill): string {
  const front: Record<string, unknown> = { name: skill.name, description: skill.description };
  if (skill.argumentHint !== undefined) front['argument-hint'] = skill.argumentHint;
  const metadata: Record<string, unknown> = {};
  if (skill.scope !== 'task') metadata.scope = skill.scope;
  if (skill.arguments.length > 0) {
    metadata.arguments = skill.arguments.map((a) => ({
      name: a.name,
      description: a.description,
      required: a.required,
      ...(a.default !== undefined ? { default: a.default } : {}),
    }));
  }
  if (skill.config !== undefined && Object.keys(skill.config).length > 0)
    metadata.config = structuredClone(skill.config);
  if (Object.keys(metadata).length > 0) front.metadata = metadata;
  const yaml = stringify(front, { lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' });
  return `---\n${yaml}---\n\n${skill.prompt.trim()}\n`;
}

/** Where a skill was written, and the skill as registered from there. */
export interface SavedSkill {
  /** The SKILL.md file. */
  path: string;
  skill: Skill;
}

/** Options of {@link saveSkill} and {@link ejectSkill}. */
export interface SaveSkillOptions {
  /** The skills folder to write into (default: the registry's `projectDir`). */
  dir?: string;
}

function targetDir(registry: SkillRegistry, options: SaveSkillOptions): string {
  const dir = options.dir ?? registry.projectDir;
  if (dir === undefined) throw new SkillError('no_directory', 'no skills directory to write to: pass a directory');
  return path.resolve(dir);
}

async function write(registry: SkillRegistry, skill: Skill, dir: string): Promise<SavedSkill> {
  const folder = path.join(dir, skill.name);
  const file = path.join(folder, 'SKILL.md');
  await mkdir(folder, { recursive: true });
  await writeFile(file, skillToMarkdown(skill), 'utf8');
  const registered = registry.register({ ...skill, skillDir: folder }, 'project');
  return { path: file, skill: registered };
}

/**
 * Writes a registered skill to `<dir>/<name>/SKILL.md` (creating folders, replacing an existing file) and
 * registers it again with source `project` and that folder as its `skillDir`. Unknown name: `not_found`.
 */
export async function saveSkill(
  registry: SkillRegistry,
  name: string,
  options: SaveSkillOptions = {},
): Promise<SavedSkill> {
  const entry = registry.entry(name);
  if (entry === undefined) throw new SkillError('not_found', `skill '${name}' not found`);
  return write(registry, entry.skill, targetDir(registry, options));
}

/**
 * Like {@link saveSkill}, for built-in skills only: the copy on disk can then be edited and overrides the
 * built-in. Any other skill is `not_builtin`.
 */
export async function ejectSkill(
  registry: SkillRegistry,
  name: string,
  options: SaveSkillOptions = {},
): Promise<SavedSkill> {
  const entry = registry.entry(name);
  if (entry === undefined) throw new SkillError('not_found', `skill '${name}' not found`);
  if (entry.source !== 'builtin') {
    throw new SkillError(
      'not_builtin',
      `not a builtin skill: ${name} (only builtins can be ejected; it comes from ${entry.source})`,
    );
  }
  return write(registry, entry.skill, targetDir(registry, options));
}
