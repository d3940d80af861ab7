/**
 * Skills: named prompt templates, their validation, loading and rendering.
 */
export {
  SKILL_SCOPES,
  SKILL_SOURCES,
  NO_SKILL_DIR,
  SkillError,
  renderSkill,
  resolveSkillArguments,
  type RegisteredSkill,
  type RenderOptions,
  type Skill,
  type SkillCommandRunner,
  type SkillDefinition,
  type SkillArgument,
  type SkillErrorCode,
  type SkillScope,
  type SkillSource,
} from './skill.js';
export { SkillRegistry, type SkillChange, type SkillListFilter, type SkillRegistryOptions } from './registry.js';
export {
  GLOBAL_SKILLS_DIR_ENV,
  defaultGlobalSkillsDir,
  loadSkillSources,
  type LoadedSkillSource,
  type SkillSourceOptions,
} from './sources.js';
export { ejectSkill, saveSkill, skillToMarkdown, type SaveSkillOptions, type SavedSkill } from './save.js';
export { DEFAULT_SKILL_COMMAND_TIMEOUT_MS, shellCommandRunner, type ShellCommandOptions } from './commands.js';
export { BUILTIN_SKILLS } from './builtins.js';
export {
  IDENTIFIER_PATTERN,
  NAME_PATTERN,
  inferScope,
  parseSkillMarkdown,
  parseSkillObject,
  parseTaskOverrides,
  type ParseResult,
} from './definition.js';
export {
  CHAIN_PREVIOUS_OUTPUT,
  PREVIOUS_OUTPUT_ARG,
  findPlaceholders,
  isChainPlaceholder,
  substitutePlaceholders,
} from './template.js';
