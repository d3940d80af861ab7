/**
 * Restoring a pool from its store after a restart: queued work is queued again, tasks awaiting review wait
 * again, runs the restart interrupted are failed (or queued again, by policy), and the spend already booked
 * still counts against the budget. With a durable store (SQLite) a restart loses nothing.
 */
import type { SlotRecord, TaskRecord } from '../machines/types.js';
import { endLeftoverAgents, type LeftoverReport } from './agent/leftovers.js';
import { SPENT_META_KEY, type PoolStore } from './store/types.js';

/** What to do with a task that was running when the pool stopped: fail it (default) or run it again. */
export type InterruptedRunPolicy = 'fail' | 'requeue';

/** How the pool picks up what its store holds. */
export interface RestorePlan {
  /** Tasks to queue again, oldest first. */
  requeue: TaskRecord[];
  /** Tasks back in PendingReview. */
  review: TaskRecord[];
  /** Records that ended because of the restart (interrupted runs and chains); written back as Failed. */
  interrupted: TaskRecord[];
  /** Finished records, shown as they are. */
  finished: TaskRecord[];
  /** What the stored tasks spent, in microdollars. */
  spentMicrodollars: number;
  /** The stored slot records, by id (their counters and sessions carry over). */
  slots: Map<string, SlotRecord>;
  /** Agent processes a previous owner of the store left running, ended before anything is restored. */
  leftovers?: LeftoverReport;
}

/** Reads the store and decides what each record becomes. */
export async function planRestore(store: PoolStore, running: InterruptedRunPolicy, now: number): Promise<RestorePlan> {
  // Whatever the previous owner left running goes first, so an interrupted run is never running twice.
  const leftovers = store.processes ? endLeftoverAgents(store.processes) : undefined;
  if (leftovers !== undefined && leftovers.killed.length > 0) {
    process.emitWarning(
      `ended ${leftovers.killed.length} agent process(es) a previous owner of the store left running (pids ${leftovers.killed.join(', ')})`,
      'ClaudePoolWarning',
    );
  }
  const plan: RestorePlan = {
    leftovers,
    requeue: [],
    review: [],
    interrupted: [],
    finished: [],
    spentMicrodollars: 0,
    slots: new Map((await store.listSlots()).map((slot) => [slot.id, slot])),
  };
  const tasks = await store.listTasks();
  // A chain cannot pick up where it stopped; the steps it had queued or running go with it.
  const brokenChains = new Set(
    tasks
      .filter((task) => task.kind === 'chain' && (task.state === 'pending' || task.state === 'running'))
      .map((t) => t.id),
  );
  for (const task of tasks) {
    if (task.kind === 'task') plan.spentMicrodollars += task.result?.costMicrodollars ?? 0;
    const unfinished = task.state === 'pending' || task.state === 'running';
    if (unfinished && task.kind === 'task' && task.tags.some((tag) => brokenChains.has(tag))) {
      plan.interrupted.push(interrupted(task, now, 'the step of an interrupted chain'));
      continue;
    }
    switch (task.state) {
      case 'completed':
      case 'failed':
      case 'cancelled':
        plan.finished.push(task);
        break;
      case 'pending_review':
        plan.review.push(task);
        break;
      case 'pending':
        if (task.kind === 'chain') plan.interrupted.push(interrupted(task, now, 'the chain'));
        else plan.requeue.push(task);
        break;
      case 'running':
        if (task.kind === 'task' && running === 'requeue') plan.requeue.push(requeued(task));
        else plan.interrupted.push(interrupted(task, now, task.kind === 'chain' ? 'the chain' : 'the run'));
        break;
    }
  }
  // The ledger also booked runs whose records could not take their cost (cancelled runs): prefer it.
  const booked = Number(await store.getMeta?.(SPENT_META_KEY));
  if (Number.isFinite(booked) && booked > plan.spentMicrodollars) plan.spentMicrodollars = booked;
  return plan;
}

function requeued(task: TaskRecord): TaskRecord {
  const { slotId: _slot, startedAtMs: _started, result: _result, ...rest } = task;
  return { ...rest, state: 'pending' };
}

function interrupted(task: TaskRecord, now: number, what: string): TaskRecord {
  return {
    ...task,
    state: 'failed',
    completedAtMs: now,
    result: {
      output: `${what} was interrupted: the pool stopped while it was ${task.state}`,
      success: false,
      costMicrodollars: task.result?.costMicrodollars ?? 0,
      turnsUsed: 0,
      elapsedMs: 0,
      errorCode: 'interrupted',
      failure: { kind: 'interrupted' },
    },
  };
}
