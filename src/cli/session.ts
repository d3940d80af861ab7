/**
 * A command's session with a pool: build it from the settings, show progress, handle Ctrl-C, and always
 * drain and clean up at the end.
 */
import type { Pool } from '../pool/index.js';
import {
  onInterrupt,
  settingsFromOptions,
  type InterruptWatch,
  type OutputOptions,
  type PoolCommandOptions,
} from './common.js';
import { EXIT } from './exit-codes.js';
import { buildPool } from './pool-factory.js';
import { PoolProgress, progressModeFor } from './progress.js';

/** What a command's work gets. */
export interface PoolSession {
  pool: Pool;
  progress: PoolProgress;
  interrupts: InterruptWatch;
  /** `simulated` or the claude binary. */
  agent: string;
}

/**
 * Runs `work` with a pool built from the options; resolves with its exit code (130 when interrupted).
 * Errors from building the pool or from `work` propagate (after the pool has been drained).
 */
export async function withPoolSession(
  options: PoolCommandOptions & OutputOptions,
  work: (session: PoolSession) => Promise<number>,
): Promise<number> {
  const { settings } = settingsFromOptions(options);
  const built = await buildPool(settings);
  const { pool, agent } = built;
  const mode = progressModeFor(process.stderr, options);
  const title = `claude-pool · ${pool.slots().length} slots · ${agent === 'simulated' ? 'simulated agent' : agent}`;
  const progress = new PoolProgress(pool, process.stderr, mode, title).start();
  const interrupts = onInterrupt(pool, (text) => progress.note(text));
  try {
    const code = await work({ pool, progress, interrupts, agent });
    return interrupts.interrupted ? EXIT.interrupted : code;
  } catch (error) {
    if (interrupts.interrupted) return EXIT.interrupted;
    throw error;
  } finally {
    progress.stop();
    await pool.drain({ queued: 'cancel' }).catch(() => undefined);
    interrupts.dispose();
    await built.cleanup();
  }
}
