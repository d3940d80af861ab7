/**
 * The builder: `Pool.builder(claude).slots(n).config(…).slotConfig(…).store(…).build()`. It validates the
 * settings, reads what the store holds, prepares worktrees and the first slots, and starts the pool.
 */
import type { InspectionEvent } from 'xstate';
import type { SlotSpec } from '../../machines/pool.js';
import type { SlotConfig, SlotId } from '../../machines/types.js';
import { DEFAULT_WARM_IDLE_MS, DEFAULT_WARM_SLOTS } from '../agent/session-runner.js';
import type { AgentRunner, ClaudeOptions } from '../agent/types.js';
import { completePoolConfig, validateSlotConfig, type PoolConfigInput } from '../config.js';
import { InvalidInput } from '../errors.js';
import { planRestore, type InterruptedRunPolicy } from '../restore.js';
import { SkillRegistry } from '../skills/registry.js';
import { MemoryStore } from '../store/memory.js';
import type { PoolStore } from '../store/types.js';
import { WorkflowRegistry } from '../workflows/registry.js';
import { WorktreeManager } from '../worktree.js';
import type { BuildResources, BuildSettings } from './build-types.js';
import { Pool } from './pool.js';
import { validatePermissionOptions, type PermissionOptions } from './permissions.js';

/** Builds a pool: `Pool.builder(claude).slots(n).config(…).slotConfig(…).store(…).build()`. */
export class PoolBuilder {
  private readonly settings: BuildSettings;

  constructor(claude: ClaudeOptions = {}) {
    this.settings = {
      claude,
      slotCount: 1,
      config: {},
      slotConfigs: [],
      autoDispatch: true,
      cancelGraceMs: 3000,
      restartDelayMs: 100,
      interruptedRuns: 'fail',
      recentWindow: 1000,
      slotPermissions: new Map(),
      warmSlots: { enabled: DEFAULT_WARM_SLOTS, idleMs: DEFAULT_WARM_IDLE_MS },
    };
  }

  /**
   * Lets the pool answer its agents' tool-permission questions: runs use the CLI's stream-json session with
   * `--permission-prompt-tool stdio`, and each question is answered by the rules, the policy, an
   * `answerPermission` call, or denied at `answerTimeoutMs` (see `PermissionOptions`).
   */
  permissions(options: PermissionOptions): this {
    validatePermissionOptions(options, 'permissions');
    this.settings.permissions = options;
    return this;
  }

  /** Permission rules and policy for one slot's runs (asked before the pool's). */
  slotPermissions(slotId: SlotId, options: PermissionOptions): this {
    validatePermissionOptions(options, `slotPermissions(${slotId})`);
    this.settings.slotPermissions.set(slotId, options);
    return this;
  }

  /**
   * Warm slots: each slot keeps its \`claude\` process between tasks whose process-level settings match, and
   * sends the next prompt as a new user message (\`true\`/\`false\`, or the idle time after which an unused
   * process is closed). Every warm process is closed at \`drain\`.
   */
  warmSlots(enabled: boolean, options: { idleMs?: number } = {}): this {
    const idleMs = options.idleMs ?? this.settings.warmSlots.idleMs;
    if (typeof enabled !== 'boolean')
      throw new InvalidInput(`warmSlots takes true or false, got ${JSON.stringify(enabled)}`);
    if (!(Number.isFinite(idleMs) && idleMs > 0)) {
      throw new InvalidInput(`warmSlots idleMs must be a number > 0, got ${JSON.stringify(idleMs)}`);
    }
    this.settings.warmSlots = { enabled, idleMs };
    return this;
  }

  /** How many slots to start with (default 1; at least 1 and at least `scaling.minSlots`). */
  slots(count: number): this {
    if (!Number.isInteger(count) || count < 1) {
      throw new InvalidInput(`slot count must be an integer >= 1 (a pool without slots can run nothing), got ${count}`);
    }
    this.settings.slotCount = count;
    return this;
  }

  /** The pool config (missing fields take the defaults). */
  config(config: PoolConfigInput): this {
    this.settings.config = config;
    return this;
  }

  /** A slot's config: the first call configures slot-0, the second slot-1, and so on. */
  slotConfig(config: SlotConfig): this {
    validateSlotConfig(config);
    this.settings.slotConfigs.push(config);
    return this;
  }

  /** Where records are kept (default: in memory). */
  store(store: PoolStore): this {
    this.settings.store = store;
    return this;
  }

  /** Runs prompts with this runner instead of the claude CLI. */
  runner(runner: AgentRunner): this {
    this.settings.runner = runner;
    return this;
  }

  /** Receives XState inspection events of every actor (works with `@statelyai/inspect` inspectors). */
  inspect(observer: (event: InspectionEvent) => void): this {
    this.settings.inspect = observer;
    return this;
  }

  /** When false, queued tasks wait until a slot claims them (`claim`). Default true. */
  autoDispatch(enabled: boolean): this {
    this.settings.autoDispatch = enabled;
    return this;
  }

  /** How long a cancelled run may take to exit on its own before it is killed (default 3000 ms). */
  cancelGraceMs(ms: number): this {
    this.settings.cancelGraceMs = ms;
    return this;
  }

  /**
   * The random source of the rate-limit backoff's jitter, returning numbers in [0, 1) (default `Math.random`).
   * The back-pressure settings themselves are in `config({ backpressure })`.
   */
  random(source: () => number): this {
    this.settings.random = source;
    return this;
  }

  /** Delay before the supervisor restarts an errored slot (default 100 ms). */
  restartDelayMs(ms: number): this {
    this.settings.restartDelayMs = ms;
    return this;
  }

  /**
   * How many finished tasks and chains stay in memory, in `snapshot()` and in `chainProgress` after they end
   * (default 1000). Older ones are read from the store; memory stays bounded however many tasks run.
   */
  recentWindow(count: number): this {
    if (!Number.isInteger(count) || count < 0)
      throw new InvalidInput(`recentWindow must be an integer >= 0, got ${count}`);
    this.settings.recentWindow = count;
    return this;
  }

  /** The skills chains and `runSkill` use (default: the built-in skills). */
  skills(registry: SkillRegistry): this {
    this.settings.skills = registry;
    return this;
  }

  /** The workflows `runWorkflow` uses (default: the built-in workflows). */
  workflows(registry: WorkflowRegistry): this {
    this.settings.workflows = registry;
    return this;
  }

  /**
   * What happens, when the pool starts on a store that already holds work, to tasks that were running when
   * the previous pool stopped: `fail` them (default; their side effects may be half done) or `requeue` them.
   * Queued tasks are always queued again, and tasks awaiting review wait again.
   */
  interruptedRuns(policy: InterruptedRunPolicy): this {
    if (policy !== 'fail' && policy !== 'requeue') {
      throw new InvalidInput(`interruptedRuns must be 'fail' or 'requeue', got ${JSON.stringify(policy)}`);
    }
    this.settings.interruptedRuns = policy;
    return this;
  }

  /**
   * Builds and starts the pool. With `worktreeIsolation` the working directory must be a git repository
   * (a `WorktreeError` otherwise) and every slot gets its own worktree.
   */
  async build(): Promise<Pool> {
    const config = completePoolConfig(this.settings.config);
    const count = this.settings.slotCount;
    if (count > config.scaling.maxSlots) {
      throw new InvalidInput(`${count} slots exceeds max_slots (${config.scaling.maxSlots})`);
    }
    if (count < config.scaling.minSlots) {
      throw new InvalidInput(`${count} slots is below min_slots (${config.scaling.minSlots})`);
    }
    const repoDir = this.settings.claude.workingDir ?? process.cwd();
    const store = this.settings.store ?? new MemoryStore();
    const restore = await planRestore(store, this.settings.interruptedRuns, Date.now());
    const skills = this.settings.skills ?? SkillRegistry.withBuiltins();
    const resources: BuildResources = {
      config,
      store,
      restore,
      skills,
      workflows: this.settings.workflows ?? WorkflowRegistry.withBuiltins(skills),
      slots: [],
    };
    if (config.worktreeIsolation || (await WorktreeManager.isGitRepo(repoDir))) {
      resources.worktrees = await WorktreeManager.open(repoDir, { baseDir: config.worktreeBaseDir });
    } else {
      resources.worktreesUnavailable = `${repoDir} is not inside a git work tree`;
    }
    for (let i = 0; i < count; i++) {
      resources.slots.push(await this.slotSpec(i, resources));
    }
    return Pool.start(this.settings, resources);
  }

  private async slotSpec(index: number, resources: BuildResources): Promise<SlotSpec> {
    const id = `slot-${index}`;
    const worktreePath = resources.config.worktreeIsolation ? await resources.worktrees?.createForSlot(id) : undefined;
    const stored = resources.restore.slots.get(id);
    return {
      id,
      config: this.settings.slotConfigs[index] ?? {},
      worktreePath,
      history: stored && {
        tasksCompleted: stored.tasksCompleted,
        costMicrodollars: stored.costMicrodollars,
        restartCount: stored.restartCount,
        sessionId: stored.sessionId,
        sessionCostUsd: stored.sessionCostUsd,
      },
    };
  }
}
