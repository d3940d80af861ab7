/**
 * Exit codes of the `claude-pool` command, and how errors and results map to them.
 */
import { CommanderError } from 'commander';
import type { TaskResult } from '../../machines/types.js';
import { InvalidInput, PoolError } from '../errors.js';
import { SettingsError } from './settings.js';

/** The documented exit codes. */
export const EXIT = {
  /** Everything succeeded. */
  ok: 0,
  /** A task (or chain step) failed. */
  taskFailed: 1,
  /** Bad usage: unknown flag, missing argument, invalid settings or config file, invalid input. */
  usage: 2,
  /** The pool refused or stopped the work: budget exhausted, task budget above what is left, no slot, shut down. */
  pool: 3,
  /** Interrupted with Ctrl-C (SIGINT) or SIGTERM. */
  interrupted: 130,
} as const;

/** Error codes that mean the pool, not the task, is the problem. */
export const POOL_ERROR_CODES: ReadonlySet<string> = new Set([
  'budget_exhausted',
  'task_budget_exceeds_remaining',
  'no_slot_available',
  'pool_shutdown',
  'scale_limit',
]);

/** The exit code for an error that ended a command. */
export function exitCodeForError(error: unknown): number {
  if (error instanceof CommanderError) {
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0
      ? EXIT.ok
      : EXIT.usage;
  }
  if (error instanceof SettingsError || error instanceof InvalidInput) return EXIT.usage;
  // A WorktreeError (e.g. --worktree outside a git repository) is a configuration problem; matched by name so
  // that this module stays light to load.
  if (error instanceof Error && error.name === 'WorktreeError') return EXIT.usage;
  if (error instanceof PoolError && POOL_ERROR_CODES.has(error.code)) return EXIT.pool;
  return EXIT.taskFailed;
}

/** The exit code for finished results: 0 when all succeeded, 3 when a pool error failed one, else 1. */
export function exitCodeForResults(results: readonly TaskResult[]): number {
  if (results.every((r) => r.success)) return EXIT.ok;
  if (results.some((r) => !r.success && r.errorCode !== undefined && POOL_ERROR_CODES.has(r.errorCode)))
    return EXIT.pool;
  return EXIT.taskFailed;
}
