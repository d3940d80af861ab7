/**
 * Skills: named prompt templates, their validation, loading and rendering.
 */
export {
  SKILL_SCOPES,
  SKILL_SOURCES,
  SkillError,
  renderSkill,
  resolveSkillArguments,
  type RegisteredSkill,
  type Skill,
  type SkillArgument,
  type SkillErrorCode,
  type SkillScope,
  type SkillSource,
} from './skill.js';
export { SkillRegistry, type SkillListFilter } from './registry.js';
export { BUILTIN_SKILLS } from './builtins.js';
export {
  IDENTIFIER_PATTERN,
  NAME_PATTERN,
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
