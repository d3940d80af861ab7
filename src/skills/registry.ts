/**
 * The skill registry: validated skills by name, with where each came from.
 */
import { BUILTIN_SKILLS } from './builtins.js';
import { parseDefinitionText, parseSkillMarkdown, parseSkillObject } from './definition.js';
import { readDefinitionDirectory } from './files.js';
import {
  SkillError,
  renderSkill,
  type RegisteredSkill,
  type Skill,
  type SkillCommandRunner,
  type SkillDefinition,
  type SkillScope,
  type SkillSource,
} from './skill.js';

/** Filter for {@link SkillRegistry.list}. */
export interface SkillListFilter {
  scope?: SkillScope;
  source?: SkillSource;
}

/** Options of a {@link SkillRegistry}. */
export interface SkillRegistryOptions {
  /**
   * Runs `` !`cmd` `` markers when rendering. Absent (the default): markers stay literal text. See
   * `shellCommandRunner` for the host-shell runner.
   */
  runCommand?: SkillCommandRunner;
  /** The project skills folder: where `pool_skill_save` / `pool_skill_eject` write by default. */
  projectDir?: string;
}

/** What changed in a registry: a skill was added or replaced (`registered`), or removed. */
export type SkillChange = { type: 'registered'; entry: RegisteredSkill } | { type: 'removed'; name: string };

/** Freezes an object and everything reachable from it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Skills by name. Registering a name again replaces the earlier skill (so later sources override earlier
 * ones: builtin → global → project → runtime). Stored skills are validated, normalised, frozen copies.
 */
export class SkillRegistry {
  private readonly skills = new Map<string, RegisteredSkill>();
  private readonly listeners = new Set<(change: SkillChange) => void>();
  /** Runs `` !`cmd` `` markers; `undefined` when shell commands are off. */
  readonly runCommand?: SkillCommandRunner;
  /** The project skills folder, when known. */
  projectDir?: string;

  constructor(options: SkillRegistryOptions = {}) {
    this.runCommand = options.runCommand;
    this.projectDir = options.projectDir;
  }

  /** A registry holding the built-in skills (source `builtin`). */
  static withBuiltins(options: SkillRegistryOptions = {}): SkillRegistry {
    const registry = new SkillRegistry(options);
    for (const skill of BUILTIN_SKILLS) registry.register(skill, 'builtin');
    return registry;
  }

  /**
   * Validates and stores a skill, replacing any skill of the same name, and returns the stored copy. A
   * skill without a scope gets the one its name implies (`cps-coordinator…`, `cps-chain…`, else `task`).
   * Throws `SkillError` `invalid_definition` listing every problem, e.g.
   * `invalid skill 'x': prompt uses undeclared placeholder '{foo}'`.
   */
  register(skill: SkillDefinition, source: SkillSource = 'runtime'): Skill {
    const parsed = parseSkillObject(skill, { allowSkillDir: true });
    if (!parsed.ok) {
      const label =
        typeof skill?.name === 'string' && skill.name !== '' ? `invalid skill '${skill.name}'` : 'invalid skill';
      throw new SkillError('invalid_definition', `${label}: ${parsed.problems.join('; ')}`, parsed.problems);
    }
    const stored = deepFreeze(parsed.value);
    const entry = deepFreeze({ skill: stored, source });
    this.skills.set(stored.name, entry);
    this.emit({ type: 'registered', entry });
    return stored;
  }

  /**
   * Calls `listener` after every registration and removal (for example to keep MCP prompts in step).
   * Returns a function that stops the calls.
   */
  onChange(listener: (change: SkillChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: SkillChange): void {
    for (const listener of [...this.listeners]) listener(change);
  }

  /** The skill of that name, if any. */
  get(name: string): Skill | undefined {
    return this.skills.get(name)?.skill;
  }

  /** The skill of that name with its source, if any. */
  entry(name: string): RegisteredSkill | undefined {
    return this.skills.get(name);
  }

  /** True when a skill of that name is registered. */
  has(name: string): boolean {
    return this.skills.has(name);
  }

  /** Registered skills matching the filter, sorted by name. */
  list(filter: SkillListFilter = {}): RegisteredSkill[] {
    return [...this.skills.values()]
      .filter(
        (e) =>
          (filter.scope === undefined || e.skill.scope === filter.scope) &&
          (filter.source === undefined || e.source === filter.source),
      )
      .sort((a, b) => (a.skill.name < b.skill.name ? -1 : a.skill.name > b.skill.name ? 1 : 0));
  }

  /** Removes a skill; true when it existed. */
  remove(name: string): boolean {
    const removed = this.skills.delete(name);
    if (removed) this.emit({ type: 'removed', name });
    return removed;
  }

  /** Number of registered skills. */
  get size(): number {
    return this.skills.size;
  }

  /**
   * Renders a registered skill (see `renderSkill`), running `` !`cmd` `` markers when the registry was given
   * a command runner. An unknown name is `SkillError` `not_found`.
   */
  render(name: string, args: Readonly<Record<string, string>> = {}): string {
    const skill = this.get(name);
    if (skill === undefined) throw new SkillError('not_found', `skill '${name}' not found`);
    return renderSkill(skill, args, { runCommand: this.runCommand });
  }

  /**
   * Loads every skill of a directory, in sorted name order: `*.json`, `*.yaml` and `*.yml` files (one skill
   * each, named after the file when `name` is absent) and subfolders holding a `SKILL.md` (named after the
   * folder when the frontmatter has no `name`). Other entries are ignored.
   *
   * All or nothing: when any file is invalid, or two files define the same name, nothing is registered and
   * one `SkillError` `invalid_definition` names every file and problem (`skills/foo.yaml: arguments[1].name
   * is required`). A missing directory is `not_found`. Returns the registered skills.
   */
  async loadDirectory(dir: string, source: SkillSource = 'directory'): Promise<Skill[]> {
    const read = await readDefinitionDirectory(dir, 'SKILL.md');
    if ('problem' in read) {
      const why = read.problem === 'missing' ? 'not found' : 'is not a directory';
      throw new SkillError('not_found', `skill directory '${dir}' ${why}`);
    }
    const problems: string[] = [];
    const found: { file: string; skill: Skill }[] = [];
    for (const entry of read.files) {
      let result;
      if (entry.kind === 'markdown') {
        result = parseSkillMarkdown(entry.text, { defaultName: entry.stem, skillDir: entry.folder });
      } else {
        const parsed = parseDefinitionText(entry.file, entry.text);
        result =
          'error' in parsed
            ? { ok: false as const, problems: [parsed.error] }
            : parseSkillObject(parsed.value, { defaultName: entry.stem });
      }
      if (!result.ok) {
        problems.push(...result.problems.map((p) => `${entry.file}: ${p}`));
        continue;
      }
      const earlier = found.find((f) => f.skill.name === result.value.name);
      if (earlier !== undefined) {
        problems.push(`${entry.file}: name '${result.value.name}' is already defined in ${earlier.file}`);
        continue;
      }
      found.push({ file: entry.file, skill: result.value });
    }
    if (problems.length > 0) throw new SkillError('invalid_definition', problems.join('; '), problems);
    return found.map((f) => this.register(f.skill, source));
  }
}
