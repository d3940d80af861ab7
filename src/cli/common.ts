/**
 * What the CLI commands share: the pool options, turning them into settings, output helpers and the
 * Ctrl-C handling.
 */
import { Option, type Command } from 'commander';
import type { Pool } from '../pool/index.js';
import { EXIT } from './exit-codes.js';
import { resolveSettings, type ResolvedSettings, type SettingKey } from './settings.js';

/** Options every pool-building command accepts, as commander parses them. */
export interface PoolCommandOptions {
  config?: string;
  slots?: string;
  model?: string;
  effort?: string;
  budgetUsd?: string;
  systemPrompt?: string;
  permissionMode?: string;
  minSlots?: string;
  maxSlots?: string;
  worktree?: boolean;
  workingDir?: string;
  binary?: string;
  simulated?: boolean;
  skillsDir?: string;
  workflowsDir?: string;
  minConcurrency?: string;
  decreaseFactor?: string;
  increaseStep?: string;
  rateLimitRetries?: string;
  backoffBaseMs?: string;
  backoffMaxMs?: string;
  permissionTimeoutSecs?: string;
  warmSlots?: boolean;
  redis?: string;
  queue?: string;
}

/** Output options. */
export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

/**
 * Adds the pool options. No commander defaults are set, so that a flag that was not given leaves the value
 * to the config file, the environment or the default (in that order).
 */
export function addPoolOptions(command: Command): Command {
  return command
    .option('--config <path>', 'config file (default: claude-pool.config.json or .toml in the current directory)')
    .option('-n, --slots <n>', 'initial slot count (default: 2)')
    .option('-m, --model <model>', 'default model (e.g. sonnet, opus, haiku)')
    .option('-e, --effort <level>', 'default effort: low, medium, high, xhigh, max (min = low)')
    .option('-b, --budget-usd <usd>', 'pool budget in USD (default: none)')
    .option('-s, --system-prompt <text>', 'base system prompt of every slot')
    .option(
      '-p, --permission-mode <mode>',
      'default, acceptEdits, bypassPermissions, dontAsk, plan, auto (default: plan)',
    )
    .option('--min-slots <n>', 'fewest slots scaling may leave (default: 1)')
    .option('--max-slots <n>', 'most slots scaling may create (default: 16)')
    .option('-w, --worktree', 'give every slot its own git worktree')
    .addOption(new Option('--no-worktree', 'no per-slot worktrees (overrides the config file)').hideHelp())
    .option('--working-dir <dir>', 'where tasks run (default: the current directory)')
    .option('--binary <path>', 'the claude executable (default: claude on PATH)')
    .option('--simulated', 'use the built-in simulated agent instead of claude (no credentials, no cost)')
    .option('--skills-dir <dir>', 'extra skills folder (default: .claude-pool/skills when it exists)')
    .option('--workflows-dir <dir>', 'extra workflows folder (default: .claude-pool/workflows when it exists)')
    .option('--min-concurrency <n>', 'back-pressure: fewest runs the concurrency limit goes down to (default: 1)')
    .option('--decrease-factor <x>', 'back-pressure: API pressure multiplies the limit by this, 0..1 (default: 0.5)')
    .option('--increase-step <x>', 'back-pressure: a successful run adds this to the limit (default: 1)')
    .option('--rate-limit-retries <n>', 'back-pressure: re-queues of a rate-limited task before it fails (default: 5)')
    .option('--backoff-base-ms <ms>', 'back-pressure: backoff before the first retry, doubling (default: 1000)')
    .option('--backoff-max-ms <ms>', 'back-pressure: longest backoff (default: 60000)')
    .option(
      '--permission-timeout-secs <secs>',
      "ask the pool's clients before agents use tools (pool_answer_permission); deny after this many seconds",
    )
    .option('--warm-slots', "keep each slot's agent process between tasks with the same settings")
    .addOption(new Option('--no-warm-slots', 'start a fresh agent process for every task').hideHelp())
    .option('--redis <url>', 'join the cluster on this Redis server (redis://host:port; with --queue)')
    .option('--queue <name>', "the cluster's queue name: nodes with the same Redis and queue form one pool");
}

/** Adds `--json` and `-q/--quiet`. */
export function addOutputOptions(command: Command): Command {
  return command
    .option('--json', 'print one JSON document on stdout (no progress)')
    .option('-q, --quiet', 'no progress output on stderr');
}

/** Resolves the settings from the command's options, the config file and the environment. */
export function settingsFromOptions(options: PoolCommandOptions): ResolvedSettings {
  const flags: Partial<Record<SettingKey, string | boolean | undefined>> = {
    slots: options.slots,
    model: options.model,
    effort: options.effort,
    budgetUsd: options.budgetUsd,
    systemPrompt: options.systemPrompt,
    permissionMode: options.permissionMode,
    minSlots: options.minSlots,
    maxSlots: options.maxSlots,
    worktree: options.worktree,
    workingDir: options.workingDir,
    binary: options.binary,
    simulated: options.simulated,
    skillsDir: options.skillsDir,
    workflowsDir: options.workflowsDir,
    minConcurrency: options.minConcurrency,
    decreaseFactor: options.decreaseFactor,
    increaseStep: options.increaseStep,
    rateLimitRetries: options.rateLimitRetries,
    backoffBaseMs: options.backoffBaseMs,
    backoffMaxMs: options.backoffMaxMs,
    permissionTimeoutSecs: options.permissionTimeoutSecs,
    warmSlots: options.warmSlots,
    redis: options.redis,
    queue: options.queue,
  };
  return resolveSettings({ flags, configPath: options.config });
}

/** Writes a line to stdout. */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes a line to stderr. */
export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** Writes a JSON document to stdout. */
export function outJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** What {@link onInterrupt} returns. */
export interface InterruptWatch {
  /** True once SIGINT or SIGTERM arrived. */
  readonly interrupted: boolean;
  /** Removes the signal handlers. */
  dispose(): void;
}

/**
 * Ctrl-C handling for commands that run work: the first SIGINT (or SIGTERM) drains the pool gracefully
 * (queued tasks are cancelled, running ones finish); the second kills the running tasks and exits with 130.
 */
export function onInterrupt(pool: Pool, notify: (text: string) => void): InterruptWatch {
  let count = 0;
  const handler = () => {
    count += 1;
    if (count === 1) {
      notify('interrupted: draining (running tasks finish, queued tasks are cancelled); Ctrl-C again to stop now');
      void pool.drain({ queued: 'cancel' }).catch(() => undefined);
      return;
    }
    if (count === 2) {
      notify('stopping now: killing running tasks');
      void killRunning(pool).finally(() => process.exit(EXIT.interrupted));
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get interrupted() {
      return count > 0;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Cancels every running task (killing its process), giving up after 2 s. */
async function killRunning(pool: Pool): Promise<void> {
  const running = [...pool.snapshot().tasks.values()].filter(
    (task) => task.state === 'running' && task.kind === 'task',
  );
  const cancels = Promise.all(running.map((task) => pool.cancel(task.id).catch(() => undefined)));
  await Promise.race([cancels, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
}
