/**
 * Shell command injection for skill templates: `` !`cmd` `` replaced by the command's output. This runs
 * arbitrary commands on the host at render time, so it is off unless explicitly enabled (the registry's
 * `shellCommands` option, `claude-pool serve --allow-skill-commands`).
 */
import { execFileSync } from 'node:child_process';
import type { Skill, SkillCommandRunner } from './skill.js';

/** Options of {@link shellCommandRunner}. */
export interface ShellCommandOptions {
  /** Where commands run when the skill has no folder (default: the current directory). */
  cwd?: string;
  /** A command still running after this long is killed (default 30 s). */
  timeoutMs?: number;
}

/** Default time limit of one command. */
export const DEFAULT_SKILL_COMMAND_TIMEOUT_MS = 30_000;

/**
 * A runner that executes `sh -c <cmd>` synchronously, in the skill's folder when it has one, and returns
 * its trimmed stdout. A non-zero exit gives `[command failed: <trimmed stderr>]`; a command that cannot be
 * started or times out gives `[command error: <message>]`.
 */
export function shellCommandRunner(options: ShellCommandOptions = {}): SkillCommandRunner {
  return (command: string, skill: Skill): string => {
    try {
      const stdout = execFileSync('sh', ['-c', command], {
        cwd: skill.skillDir ?? options.cwd ?? process.cwd(),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? DEFAULT_SKILL_COMMAND_TIMEOUT_MS,
        maxBuffer: 10 * 1024 * 1024,
      });
      return stdout.trim();
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & {
        status?: number | null;
        stderr?: string;
        signal?: string | null;
      };
      if (typeof failure.status === 'number' && failure.signal == null) {
        const stderr = (failure.stderr ?? '').trim();
        return `[command failed: ${stderr === '' ? `exit code ${failure.status}` : stderr}]`;
      }
      const reason =
        failure.code === 'ETIMEDOUT' || failure.signal
          ? `timed out or killed (${failure.signal ?? failure.code})`
          : failure.message;
      return `[command error: ${reason}]`;
    }
  };
}
