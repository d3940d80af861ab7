/**
 * Draining: the supervisor stops taking work, cancels (or finishes) what is queued, lets chains end, and
 * cancels running work when the drain's timeout runs out (a delayed event in the statechart). Here we only
 * wait for it to reach Stopped, then clean up worktrees and add up the totals.
 */
import { filter, firstValueFrom } from 'rxjs';
import type { DrainSummary } from '../../machines/types.js';
import { InvalidInput } from '../errors.js';
import type { DrainOptions } from './options.js';
import type { PoolRuntime } from './runtime.js';

/** Drains the pool; see `Pool.drain`. */
export async function drain(rt: PoolRuntime, options: DrainOptions = {}): Promise<DrainSummary> {
  const queued = options.queued ?? 'cancel';
  if (queued !== 'cancel' && queued !== 'finish') {
    throw new InvalidInput(`queued must be 'cancel' or 'finish', got ${JSON.stringify(queued)}`);
  }
  const { timeoutMs } = options;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
    throw new InvalidInput(`timeoutMs must be a number >= 0, got ${JSON.stringify(timeoutMs)}`);
  }
  rt.actor.send({ type: 'DRAIN', queued, timeoutMs });
  await firstValueFrom(rt.supervisorStates().pipe(filter((snapshot) => snapshot.matches('stopped'))));
  await rt.waitForSlots((slots) => slots.every((slot) => slot.state === 'stopped'));
  await Promise.all([...rt.liveRuns.values()]);
  // Processes kept warm between tasks end with the pool.
  await (rt.runner as { closeAll?: () => Promise<void> }).closeAll?.();
  try {
    await rt.worktrees?.cleanupAll();
  } catch (error) {
    // The pool has stopped either way; what could not be removed is reported, not thrown.
    process.emitWarning(`drain could not remove every worktree: ${String(error)}`, 'ClaudePoolWarning');
    rt.storeErrors.push(error);
  }
  await rt.projection.flush();
  let totalCostMicrodollars = rt.retiredTotals.costMicrodollars;
  let totalTasksCompleted = rt.retiredTotals.tasksCompleted;
  for (const slot of rt.projection.slots.values()) {
    totalCostMicrodollars += slot.costMicrodollars;
    totalTasksCompleted += slot.tasksCompleted;
  }
  return { totalCostMicrodollars, totalTasksCompleted, cancelledTasks: [...rt.context().drainCancelled] };
}
