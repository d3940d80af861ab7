/**
 * What the builder hands the runtime: the settings given to it, and what it prepared before the pool starts.
 */
import type { InspectionEvent } from 'xstate';
import type { SlotSpec } from '../../machines/pool.js';
import type { PoolConfig, SlotConfig, SlotId } from '../../machines/types.js';
import type { WarmSlotOptions } from '../agent/session-runner.js';
import type { AgentRunner, ClaudeOptions } from '../agent/types.js';
import type { PoolConfigInput } from '../config.js';
import type { InterruptedRunPolicy, RestorePlan } from '../restore.js';
import type { SkillRegistry } from '../skills/registry.js';
import type { PoolStore } from '../store/types.js';
import type { WorkflowRegistry } from '../workflows/registry.js';
import type { WorktreeManager } from '../worktree.js';
import type { PermissionOptions } from './permissions.js';

/** Settings of the builder that are not part of `PoolConfig`. */
export interface BuildSettings {
  claude: ClaudeOptions;
  slotCount: number;
  config: PoolConfigInput;
  slotConfigs: SlotConfig[];
  store?: PoolStore;
  runner?: AgentRunner;
  inspect?: (event: InspectionEvent) => void;
  autoDispatch: boolean;
  cancelGraceMs: number;
  restartDelayMs: number;
  /** The random source of the rate-limit backoff's jitter (default `Math.random`). */
  random?: () => number;
  skills?: SkillRegistry;
  workflows?: WorkflowRegistry;
  interruptedRuns: InterruptedRunPolicy;
  /** How many finished tasks and chains stay in memory and in snapshots. */
  recentWindow: number;
  /** How the pool answers its agents' tool-permission questions (none: the permission mode decides). */
  permissions?: PermissionOptions;
  /** The same, per slot (asked before the pool's). */
  slotPermissions: Map<SlotId, PermissionOptions>;
  /** Whether slots keep their process between tasks, and for how long an idle one is kept. */
  warmSlots: WarmSlotOptions;
}

/** What the builder prepared before the pool starts: config, store, registries, worktrees, first slots. */
export interface BuildResources {
  config: PoolConfig;
  store: PoolStore;
  /** What the store held when the pool started. */
  restore: RestorePlan;
  skills: SkillRegistry;
  workflows: WorkflowRegistry;
  worktrees?: WorktreeManager;
  /** Why there is no worktree manager (not a git repository, …). */
  worktreesUnavailable?: string;
  slots: SlotSpec[];
}
