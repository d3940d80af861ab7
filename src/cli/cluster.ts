/**
 * The CLI's side of a cluster (`--redis URL --queue NAME`): check the two settings, join a built pool to the
 * cluster (the budget is then the cluster's ledger, not the local pool's), and print the cluster's status.
 */
import type { ClusterNode, ClusterStatus } from '../cluster/index.js';
import type { Pool } from '../pool/pool.js';
import type { TaskFront } from '../pool/task-front.js';
import type { ChainFront } from '../pool/chain-front.js';
import { usdToMicrodollars } from '../../machines/budget.js';
import { out } from './common.js';
import { formatUsd } from './progress.js';
import { SettingsError, type PoolSettings } from './settings.js';

/** Where a node joins: both settings, checked; `undefined` without `redis`. */
export interface ClusterTarget {
  redis: string;
  queue: string;
  budgetMicrodollars?: number;
}

/** Reads `redis` and `queue` from the settings (a `SettingsError` when only one is given or one is invalid). */
export function clusterTarget(settings: PoolSettings): ClusterTarget | undefined {
  if (settings.redis === undefined && settings.queue === undefined) return undefined;
  const problems: string[] = [];
  if (settings.redis === undefined) problems.push("queue: --queue needs --redis (the cluster's Redis server)");
  else if (!/^rediss?:\/\/[^\s]+$/.test(settings.redis)) {
    problems.push(`redis: must be a redis:// or rediss:// URL, got ${JSON.stringify(settings.redis)}`);
  }
  if (settings.queue === undefined) problems.push("redis: --redis needs --queue (the name of the cluster's queue)");
  else if (!/^[A-Za-z0-9_.-]+$/.test(settings.queue)) {
    problems.push(`queue: must be letters, digits, '.', '_' or '-', got ${JSON.stringify(settings.queue)}`);
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return {
    redis: settings.redis!,
    queue: settings.queue!,
    budgetMicrodollars: settings.budgetUsd === undefined ? undefined : usdToMicrodollars(settings.budgetUsd),
  };
}

/** The settings a cluster node builds its local pool with: the budget belongs to the cluster's ledger. */
export function localPoolSettings(settings: PoolSettings): PoolSettings {
  return { ...settings, budgetUsd: undefined };
}

/** Joins a built pool to the cluster (`work: false` for a node that only looks). */
export async function joinCluster(pool: Pool, target: ClusterTarget, work = true): Promise<ClusterNode> {
  const { ClusterNode } = await import('../cluster/index.js');
  return ClusterNode.join(pool, { ...target, work });
}

/**
 * The task and chain fronts a served node gives its MCP and REST clients: the cluster's queue, budget and
 * slots, for tasks and for chains, skills and workflows alike; and the cluster, for their status.
 */
export async function clusterFronts(
  node: ClusterNode,
): Promise<{ tasks: TaskFront; chains: ChainFront; cluster: ClusterNode }> {
  const { clusterChainFront, clusterTaskFront } = await import('../cluster/index.js');
  return { tasks: clusterTaskFront(node), chains: clusterChainFront(node), cluster: node };
}

/** Prints every node, its slots and the shared budget. */
export function printClusterStatus(status: ClusterStatus): void {
  const { budget } = status;
  out(`cluster ${status.queue}: ${status.nodes.length} node(s), ${status.waiting} queued, ${status.active} running`);
  for (const node of status.nodes) {
    const busy = node.slots.filter((slot) => slot.state === 'busy').length;
    out(`  ${node.nodeId} (${node.host}, pid ${node.pid}): ${node.slots.length} slots, ${busy} busy`);
    for (const slot of node.slots) {
      out(`    ${slot.id.padEnd(8)} ${slot.state.padEnd(8)} ${slot.currentTask ?? ''}`.trimEnd());
    }
  }
  out(
    `budget: spent ${formatUsd(budget.spentMicrodollars)}, reserved ${formatUsd(budget.reservedMicrodollars)}` +
      (budget.limitMicrodollars !== undefined ? ` of ${formatUsd(budget.limitMicrodollars)}` : ', no limit'),
  );
}
