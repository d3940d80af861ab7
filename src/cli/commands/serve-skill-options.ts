/**
 * The skill flags of `claude-pool serve`: which skill sources load, which skills are removed, and whether
 * skill templates may run shell commands on the host.
 */
import type { Command } from 'commander';
import type { SkillLoadOptions } from '../pool-factory.js';

/** The skill flags as commander parses them (`--no-x` gives `x: false`). */
export interface ServeSkillOptions {
  builtins?: boolean;
  globalSkills?: boolean;
  projectSkills?: boolean;
  disableSkill?: string[];
  allowSkillCommands?: boolean;
}

/** Adds `--no-builtins`, `--no-global-skills`, `--no-project-skills`, `--disable-skill` and `--allow-skill-commands`. */
export function addServeSkillOptions(command: Command): Command {
  return command
    .option('--no-builtins', 'start without the built-in skills')
    .option('--no-global-skills', 'do not load ~/.claude-pool/skills (or $CLAUDE_POOL_GLOBAL_SKILLS_DIR)')
    .option('--no-project-skills', 'do not load the project skills folder (--skills-dir, default .claude-pool/skills)')
    .option('--disable-skill <names...>', 'remove these skills after loading (comma-separated or repeated)')
    .option(
      '--allow-skill-commands',
      'let skill templates run !`cmd` shell commands on this host when rendered (off by default: anyone who can add a skill could run commands)',
    );
}

/** The skill load options the flags give. */
export function skillLoadOptionsFrom(options: ServeSkillOptions): SkillLoadOptions {
  const disable = (options.disableSkill ?? [])
    .flatMap((entry) => entry.split(','))
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return {
    builtins: options.builtins !== false,
    global: options.globalSkills !== false,
    project: options.projectSkills !== false,
    disable,
    shellCommands: options.allowSkillCommands === true,
  };
}
