/**
 * Building a pool from resolved settings: the agent (claude or the simulated one), the pool config, and
 * extra skills and workflows.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { usdToMicrodollars } from '../../machines/budget.js';
import { simulatedClaude } from '../agent/simulated/path.js';
import type { McpServers } from '../../machines/types.js';
import type { ClaudeOptions } from '../agent/types.js';
import type { PoolConfigInput } from '../config.js';
import { Pool } from '../pool/index.js';
import { SkillRegistry } from '../skills/registry.js';
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
  /** Which skills to load (default: built-ins and the project folder, no global folder). */
  skillSources?: SkillSources;
  /** MCP servers every slot run gets (`--mcp-config`). */
  mcpServers?: McpServers;
  /** Slot runs use only those MCP servers (`--strict-mcp-config`, default true). */
  strictMcpConfig?: boolean;
}

/** Which skills a pool starts with (the server's `--no-builtins`, `--no-project-skills`, … flags). */
export interface SkillSources {
  /** The built-in skills (and the built-in workflows, which use them). Default true. */
  builtins?: boolean;
  /** The project folder (`--skills-dir`, else `.claude-pool/skills`). Default true. */
  project?: boolean;
  /** `~/.claude-pool/skills` (source `global`). Default false. */
  global?: boolean;
  /** Skills removed by name after loading. An unknown name is an error. */
  disable?: readonly string[];
  /** The home directory of the global folder (default: the user's). */
  home?: string;
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
  };
}

/** Default project folders, loaded when they exist and no folder was given. */
const DEFAULT_SKILLS_DIR = join('.claude-pool', 'skills');
const DEFAULT_WORKFLOWS_DIR = join('.claude-pool', 'workflows');

/**
 * Loads the skills and workflows: built-ins, then the given folders (or `.claude-pool/skills` and
 * `.claude-pool/workflows` in the working directory when they exist). Errors are `SettingsError`s.
 */
export async function loadRegistries(
  settings: PoolSettings,
  workingDir: string,
  sources: SkillSources = {},
): Promise<{ skills: SkillRegistry; workflows: WorkflowRegistry }> {
  const builtins = sources.builtins ?? true;
  const skills = builtins ? SkillRegistry.withBuiltins() : new SkillRegistry();
  const problems: string[] = [];
  const globalDir = join(sources.home ?? homedir(), DEFAULT_SKILLS_DIR);
  if (sources.global && existsSync(globalDir)) {
    await skills.loadDirectory(globalDir, 'global').catch((error: Error) => problems.push(`global skills: ${error.message}`));
  }
  const skillsDir =
    sources.project === false
      ? undefined
      : (settings.skillsDir ?? (existsSync(join(workingDir, DEFAULT_SKILLS_DIR)) ? join(workingDir, DEFAULT_SKILLS_DIR) : undefined));
  if (skillsDir) {
    await skills.loadDirectory(skillsDir, 'project').catch((error: Error) => problems.push(`skills: ${error.message}`));
  }
  const workflows = builtins ? WorkflowRegistry.withBuiltins(skills) : new WorkflowRegistry(skills);
  const workflowsDir =
    settings.workflowsDir ?? (existsSync(join(workingDir, DEFAULT_WORKFLOWS_DIR)) ? join(workingDir, DEFAULT_WORKFLOWS_DIR) : undefined);
  if (workflowsDir) {
    await workflows.loadDirectory(workflowsDir).catch((error: Error) => problems.push(`workflows: ${error.message}`));
  }
  for (const name of sources.disable ?? []) {
    if (!skills.remove(name)) problems.push(`--disable-skill: no skill named '${name}'`);
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
    const { skills, workflows } = await loadRegistries(settings, workingDir, options.skillSources);
    const pool = await Pool.builder(claude)
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
