/**
 * Session metrics: counts, spend and timing over the pool's task records (reference §2.12, §3.22).
 *
 * Pure: the records, the session start and the current time come in as arguments.
 */
import type { TaskRecord } from '../machines/types.js';

/** Which tasks `sessionMetrics` looks at; omitted fields match everything. */
export interface MetricsFilter {
  /** Only tasks created at or after this time (Unix ms). */
  sinceMs?: number;
  /** Only tasks created at or before this time (Unix ms). */
  untilMs?: number;
  /** Only tasks with at least one of these tags (an empty list matches everything). */
  tags?: string[];
  /** Only tasks whose result ran on exactly this model (tasks without a result are left out). */
  model?: string;
}

/** Totals of one model, as in `SessionMetrics.modelBreakdown`. */
export interface ModelMetrics {
  /** The model the results report. */
  model: string;
  /** Tasks with a result on this model (any outcome). */
  taskCount: number;
  /** What those tasks spent, in microdollars. */
  totalCostMicrodollars: number;
  /** `totalCostMicrodollars / taskCount`, rounded down. */
  avgCostMicrodollars: number;
  /** Mean `elapsedMs` of those tasks, rounded down. */
  avgElapsedMs: number;
  /** Sum of `turnsUsed` of those tasks. */
  totalTurns: number;
}

/** What the pool did in this session. */
export interface SessionMetrics {
  /** Tasks that passed the filter. */
  totalTasks: number;
  /** Completed tasks, PendingReview included (a result exists and succeeded). */
  completedTasks: number;
  failedTasks: number;
  cancelledTasks: number;
  runningTasks: number;
  pendingTasks: number;
  /** Spend of every task with a result, failed ones included, in microdollars. */
  totalSpendMicrodollars: number;
  /**
   * `totalSpendMicrodollars / completedTasks`, rounded down: the spend per completed task, so the cost of
   * failed runs is spread over the completed ones (as in the reference). 0 when nothing completed.
   */
  avgCostMicrodollars: number;
  /** The most one task spent. */
  maxCostMicrodollars: number;
  /** Mean turns of the completed tasks (a fraction); 0 when nothing completed. */
  avgTurns: number;
  /** Mean elapsed time of the completed tasks (those with elapsedMs > 0), rounded down; 0 when none. */
  avgElapsedMs: number;
  minElapsedMs: number;
  maxElapsedMs: number;
  /** The middle elapsed time; for an even count the mean of the two middle ones, rounded down. */
  medianElapsedMs: number;
  /** Model → number of tasks with a result on that model. */
  tasksByModel: Record<string, number>;
  /** One entry per model, most expensive first. */
  modelBreakdown: ModelMetrics[];
  /** When the session (the pool) started, Unix ms. */
  sessionStartMs: number;
  /** How long the session has lasted so far. */
  sessionDurationMs: number;
}

/** True when the record passes the filter. */
export function matchesMetricsFilter(task: TaskRecord, filter: MetricsFilter = {}): boolean {
  const created = task.createdAtMs ?? 0;
  if (filter.sinceMs !== undefined && created < filter.sinceMs) return false;
  if (filter.untilMs !== undefined && created > filter.untilMs) return false;
  if (filter.tags !== undefined && filter.tags.length > 0 && !filter.tags.some((tag) => task.tags.includes(tag))) {
    return false;
  }
  if (filter.model !== undefined && task.result?.model !== filter.model) return false;
  return true;
}

interface ModelAccumulator {
  count: number;
  cost: number;
  elapsed: number;
  turns: number;
}

/**
 * Computes the session metrics of these task records (reference §3.22).
 *
 * Chain records (`kind: 'chain'`) are left out: each step of a chain is a task of its own and is counted
 * there, so counting the chain too would count its spend twice.
 */
export function computeSessionMetrics(
  tasks: readonly TaskRecord[],
  filter: MetricsFilter | undefined,
  sessionStartMs: number,
  nowMs: number,
): SessionMetrics {
  const selected = tasks.filter((task) => task.kind !== 'chain' && matchesMetricsFilter(task, filter));
  const count = (...states: TaskRecord['state'][]) => selected.filter((task) => states.includes(task.state)).length;

  let totalSpend = 0;
  let maxCost = 0;
  let completedWithResult = 0;
  let turns = 0;
  const elapsed: number[] = [];
  const byModel = new Map<string, ModelAccumulator>();

  for (const task of selected) {
    const result = task.result;
    if (!result) continue;
    totalSpend += result.costMicrodollars;
    maxCost = Math.max(maxCost, result.costMicrodollars);
    if (task.state === 'completed' || task.state === 'pending_review') {
      completedWithResult += 1;
      turns += result.turnsUsed;
      if (result.elapsedMs > 0) elapsed.push(result.elapsedMs);
    }
    if (result.model !== undefined && result.model !== '') {
      const entry = byModel.get(result.model) ?? { count: 0, cost: 0, elapsed: 0, turns: 0 };
      entry.count += 1;
      entry.cost += result.costMicrodollars;
      entry.elapsed += result.elapsedMs;
      entry.turns += result.turnsUsed;
      byModel.set(result.model, entry);
    }
  }

  const sorted = [...elapsed].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length === 0
      ? 0
      : sorted.length % 2 === 1
        ? sorted[middle]
        : Math.floor((sorted[middle - 1] + sorted[middle]) / 2);

  const tasksByModel: Record<string, number> = {};
  const modelBreakdown: ModelMetrics[] = [];
  for (const [model, entry] of byModel) {
    tasksByModel[model] = entry.count;
    modelBreakdown.push({
      model,
      taskCount: entry.count,
      totalCostMicrodollars: entry.cost,
      avgCostMicrodollars: Math.floor(entry.cost / entry.count),
      avgElapsedMs: Math.floor(entry.elapsed / entry.count),
      totalTurns: entry.turns,
    });
  }
  modelBreakdown.sort(
    (a, b) => b.totalCostMicrodollars - a.totalCostMicrodollars || (a.model < b.model ? -1 : a.model > b.model ? 1 : 0),
  );

  return {
    totalTasks: selected.length,
    completedTasks: count('completed', 'pending_review'),
    failedTasks: count('failed'),
    cancelledTasks: count('cancelled'),
    runningTasks: count('running'),
    pendingTasks: count('pending'),
    totalSpendMicrodollars: totalSpend,
    avgCostMicrodollars: completedWithResult > 0 ? Math.floor(totalSpend / completedWithResult) : 0,
    maxCostMicrodollars: maxCost,
    avgTurns: completedWithResult > 0 ? turns / completedWithResult : 0,
    avgElapsedMs: sorted.length > 0 ? Math.floor(sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length) : 0,
    minElapsedMs: sorted.length > 0 ? sorted[0] : 0,
    maxElapsedMs: sorted.length > 0 ? sorted[sorted.length - 1] : 0,
    medianElapsedMs: median,
    tasksByModel,
    modelBreakdown,
    sessionStartMs,
    sessionDurationMs: Math.max(0, nowMs - sessionStartMs),
  };
}
