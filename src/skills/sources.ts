/**
 * Loading skills from their sources, in priority order: built-ins < global folder < project folder
 * (< runtime additions, registered later). A later source replaces an earlier skill of the same name.
 */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { BUILTIN_SKILLS } from './builtins.js';
import { SkillRegistry } from './registry.js';
import { SkillError, type SkillCommandRunner, type SkillSource } from './skill.js';

/** The environment variable that overrides the global skills folder. */
export const GLOBAL_SKILLS_DIR_ENV = 'CLAUDE_POOL_GLOBAL_SKILLS_DIR';

/** The global skills folder: `$CLAUDE_POOL_GLOBAL_SKILLS_DIR`, else `~/.claude-pool/skills`. */
export function defaultGlobalSkillsDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const override = env[GLOBAL_SKILLS_DIR_ENV];
  return override !== undefined && override !== '' ? override : path.join(homedir(), '.claude-pool', 'skills');
}

/** Options of {@link loadSkillSources}. */
export interface SkillSourceOptions {
  /** Register the built-in skills (default true; `--no-builtins` turns it off). */
  builtins?: boolean;
  /** Load the global folder (default true; `--no-global-skills` turns it off). */
  global?: boolean;
  /** The global folder (default {@link defaultGlobalSkillsDir}). A missing folder loads nothing. */
  globalDir?: string;
  /** Load the project folder (default true; `--no-project-skills` turns it off). */
  project?: boolean;
  /** The project folder (`--skills-dir`, default `.claude-pool/skills`). A missing folder loads nothing. */
  projectDir?: string;
  /** Names removed after loading (`--disable-skill`). A name no source defined is an error. */
  disable?: readonly string[];
  /** Runs `` !`cmd` `` markers; absent = shell commands off. */
  runCommand?: SkillCommandRunner;
  /** Where the global folder default is read from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** What one source contributed. */
export interface LoadedSkillSource {
  source: SkillSource;
  /** The folder read (absent for built-ins). */
  dir?: string;
  /** Skills registered from it. */
  count: number;
  /** True when the folder did not exist (nothing loaded). */
  missing?: boolean;
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Builds a registry from the sources: built-ins, then the global folder, then the project folder (each
 * folder all or nothing), then removes the disabled names. Invalid definitions and unknown disabled names
 * throw `SkillError` (`invalid_definition` / `not_found`). The project folder becomes the registry's
 * `projectDir` (where save and eject write).
 */
export async function loadSkillSources(
  options: SkillSourceOptions = {},
): Promise<{ registry: SkillRegistry; loaded: LoadedSkillSource[] }> {
  const registry = new SkillRegistry({ runCommand: options.runCommand, projectDir: options.projectDir });
  const loaded: LoadedSkillSource[] = [];
  if (options.builtins !== false) {
    for (const skill of BUILTIN_SKILLS) registry.register(skill, 'builtin');
    loaded.push({ source: 'builtin', count: BUILTIN_SKILLS.length });
  }
  const folders: [SkillSource, boolean, string | undefined][] = [
    ['global', options.global !== false, options.globalDir ?? defaultGlobalSkillsDir(options.env)],
    ['project', options.project !== false, options.projectDir],
  ];
  for (const [source, enabled, dir] of folders) {
    if (!enabled || dir === undefined) continue;
    if (!(await isDirectory(dir))) {
      loaded.push({ source, dir, count: 0, missing: true });
      continue;
    }
    const skills = await registry.loadDirectory(dir, source);
    loaded.push({ source, dir, count: skills.length });
  }
  const unknown = (options.disable ?? []).filter((name) => !registry.has(name));
  if (unknown.length > 0) {
    throw new SkillError(
      'not_found',
      `cannot disable unknown skill${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')}`,
    );
  }
  for (const name of options.disable ?? []) registry.remove(name);
  return { registry, loaded };
}
