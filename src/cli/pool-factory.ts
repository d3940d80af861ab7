/**
 * Building a pool from resolved settings: the agent (claude or the simulated one), the pool config, and
 * extra skills and workflows.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usdToMicrodollars } from '../../machines/budget.js';
import { simulatedClaude } from '../agent/simulated/path.js';
import type { McpServers } from '../../machines/types.js';
import type { ClaudeOptions } from '../agent/types.js';
import type { PoolConfigInput } from '../config.js';
import { Pool } from '../pool/index.js';
import { shellCommandRunner } from '../skills/commands.js';
import type { SkillRegistry } from '../skills/registry.js';
import { loadSkillSources } from '../skills/sources.js';
import { WorkflowRegistry } from '../workflows/registry.js';
import { SettingsError, resolveClaudeBinary, type PoolSettings } from './settings.js';

/** A pool built for a command, with what it needs cleaned up. */
export interface BuiltPool {
  pool: Pool;
  /** `simulated`, or the path of the claude binary. */
  agent: string;
  /** Removes temporary files (the simulated agent's state). Call after the pool has drained. */
  cleanup(): Promise<void>;
}

/** Options of {@link buildPool}. */
export interface BuildPoolOptions {
  env?: Readonly<Record<string, string | undefined>>;
  /** How long a cancelled run may take to exit before it is killed (default 1000 ms). */
  cancelGraceMs?: number;
  /** Enable the supervisor (restarts errored slots); start it with `pool.startSupervisor()`. */
  supervisor?: boolean;
  /** MCP servers every slot run gets (`--mcp-config`). */
  mcpServers?: McpServers;
  /** Slot runs use only those MCP servers (`--strict-mcp-config`, default true). */
  strictMcpConfig?: boolean;
  /** Which skill sources to load, and whether skill shell commands run (`serve` flags). */
  skills?: SkillLoadOptions;
}

/** The skill flags of `serve`: `--no-builtins`, `--no-global-skills`, `--no-project-skills`, `--disable-skill`, `--allow-skill-commands`. */
export interface SkillLoadOptions {
  /** Register the built-in skills (default true). */
  builtins?: boolean;
  /** Load the global folder, `~/.claude-pool/skills` or `$CLAUDE_POOL_GLOBAL_SKILLS_DIR` (default true). */
  global?: boolean;
  /** Load the project folder, `--skills-dir` or `.claude-pool/skills` (default true). */
  project?: boolean;
  /** Skill names removed after loading. */
  disable?: readonly string[];
  /** Run `` !`cmd` `` markers of skill templates on this host (default false). */
  shellCommands?: boolean;
}

/** The pool config the settings give. */
export function poolConfigFromSettings(settings: PoolSettings): PoolConfigInput {
  return {
    model: settings.model,
    effort: settings.effort,
    systemPrompt: settings.systemPrompt,
    permissionMode: settings.permissionMode,
    budgetMicrodollars: settings.budgetUsd === undefined ? undefined : usdToMicrodollars(settings.budgetUsd),
    worktreeIsolation: settings.worktree,
    scaling: { minSlots: settings.minSlots, maxSlots: settings.maxSlots },
    backpressure: {
      minConcurrency: settings.minConcurrency,
      decreaseFactor: settings.decreaseFactor,
      increaseStep: settings.increaseStep,
      retryLimit: settings.rateLimitRetries,
      backoffBaseMs: settings.backoffBaseMs,
      backoffMaxMs: settings.backoffMaxMs,
    },
  };
}

/** Default project folders, loaded when they exist and no folder was given. */
const DEFAULT_SKILLS_DIR = join('.claude-pool', 'skills');
const DEFAULT_WORKFLOWS_DIR = join('.claude-pool', 'workflows');

/**
 * Loads the skills and workflows. Skills: built-ins, then the global folder, then the project folder (the
 * given one, else `.claude-pool/skills` in the working directory), then the disabled names are removed; the
 * project folder is where save and eject write. Workflows: built-ins, then the given folder (else
 * `.claude-pool/workflows` when it exists). Errors are `SettingsError`s.
 */
export async function loadRegistries(
  settings: PoolSettings,
  workingDir: string,
  options: SkillLoadOptions = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<{ skills: SkillRegistry; workflows: WorkflowRegistry }> {
  const problems: string[] = [];
  let skills: SkillRegistry;
  try {
    skills = (
      await loadSkillSources({
        builtins: options.builtins,
        global: options.global,
        project: options.project,
        projectDir: settings.skillsDir ?? join(workingDir, DEFAULT_SKILLS_DIR),
        disable: options.disable,
        runCommand: options.shellCommands ? shellCommandRunner({ cwd: workingDir }) : undefined,
        env,
      })
    ).registry;
  } catch (error) {
    throw new SettingsError([`skills: ${(error as Error).message}`]);
  }
  const workflows = WorkflowRegistry.withBuiltins(skills);
  const workflowsDir =
    settings.workflowsDir ??
    (existsSync(join(workingDir, DEFAULT_WORKFLOWS_DIR)) ? join(workingDir, DEFAULT_WORKFLOWS_DIR) : undefined);
  if (workflowsDir) {
    await workflows.loadDirectory(workflowsDir).catch((error: Error) => problems.push(`workflows: ${error.message}`));
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return { skills, workflows };
}

/**
 * Builds and starts a pool from settings. Throws `SettingsError` when the agent, a folder or a definition
 * is invalid, and the pool's own errors (`InvalidInput`, `WorktreeError`) when it cannot start.
 */
export async function buildPool(settings: PoolSettings, options: BuildPoolOptions = {}): Promise<BuiltPool> {
  const env = options.env ?? process.env;
  const workingDir = settings.workingDir ?? process.cwd();
  const claude: ClaudeOptions = { workingDir };
  let stateDir: string | undefined;
  let agent: string;
  if (settings.simulated) {
    stateDir = await mkdtemp(join(tmpdir(), 'claude-pool-sim-'));
    claude.binary = simulatedClaude;
    claude.env = { CLAUDE_POOL_SIM_STATE_DIR: stateDir };
    agent = 'simulated';
  } else {
    claude.binary = resolveClaudeBinary(settings.binary, env);
    agent = claude.binary;
  }
  const cleanup = async () => {
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  };
  try {
    const { skills, workflows } = await loadRegistries(settings, workingDir, options.skills, env);
    const builder = Pool.builder(claude);
    if (settings.permissionTimeoutSecs !== undefined) {
      builder.permissions({ answerTimeoutMs: settings.permissionTimeoutSecs * 1000 });
    }
    if (settings.warmSlots !== undefined) builder.warmSlots(settings.warmSlots);
    const pool = await builder
      .slots(settings.slots)
      .config({
        ...poolConfigFromSettings(settings),
        ...(options.supervisor ? { supervisorEnabled: true } : {}),
        ...(options.mcpServers ? { mcpServers: options.mcpServers } : {}),
        ...(options.strictMcpConfig === undefined ? {} : { strictMcpConfig: options.strictMcpConfig }),
      })
      .skills(skills)
      .workflows(workflows)
      .cancelGraceMs(options.cancelGraceMs ?? 3000)
      .build();
    return { pool, agent, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
