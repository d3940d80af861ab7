/**
 * `claude-pool status`: build a pool from the settings, print the settings (with where each came from) and
 * the pool's status. Useful to check a config file or environment.
 */
import { wireObject } from '../../mcp/wire.js';
import { out, outJson, settingsFromOptions, type PoolCommandOptions } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { buildPool } from '../pool-factory.js';
import type { CliState } from '../program.js';
import { formatUsd } from '../progress.js';
import { SETTING_FIELDS } from '../settings.js';
import { clusterTarget, joinCluster, localPoolSettings, printClusterStatus } from '../cluster.js';

/** Runs `status`: the resolved settings (with their sources) and the status of a pool built from them. */
export async function statusAction(state: CliState, options: PoolCommandOptions & { json?: boolean }): Promise<void> {
  state.json = options.json === true;
  const resolved = settingsFromOptions(options);
  const cluster = clusterTarget(resolved.settings);
  const built = await buildPool(cluster ? localPoolSettings(resolved.settings) : resolved.settings);
  try {
    const { pool, agent } = built;
    if (cluster) {
      // Every node of the cluster, seen by a node that takes no work.
      const node = await joinCluster(pool, cluster, false);
      try {
        const seen = await node.status();
        const clusterStatus = { ...seen, nodes: seen.nodes.filter((other) => other.nodeId !== node.nodeId) };
        if (options.json) outJson({ config_file: resolved.configFile ?? null, cluster: wireObject(clusterStatus) });
        else printClusterStatus(clusterStatus);
      } finally {
        await node.leave();
      }
      state.exitCode = EXIT.ok;
      return;
    }
    const status = pool.status();
    const skills = pool.skills.size;
    const workflows = pool.workflows.size;
    if (options.json) {
      outJson({
        settings: wireObject(resolved.settings),
        sources: wireObject(resolved.sources),
        config_file: resolved.configFile ?? null,
        agent,
        skills,
        workflows,
        status: wireObject(status),
      });
    } else {
      out(`config file: ${resolved.configFile ?? '(none)'}`);
      out(`agent: ${agent}`);
      out('settings:');
      for (const field of SETTING_FIELDS) {
        const value = resolved.settings[field.key];
        if (value === undefined) continue;
        out(`  ${field.key.padEnd(15)} ${String(value).padEnd(24)} (${resolved.sources[field.key]})`);
      }
      out(`skills: ${skills} · workflows: ${workflows}`);
      out(
        `pool: ${status.totalSlots} slots (${status.idleSlots} idle, ${status.busySlots} busy), ` +
          `spent ${formatUsd(status.totalSpendMicrodollars)}` +
          (status.budgetMicrodollars !== undefined ? ` of ${formatUsd(status.budgetMicrodollars)}` : ', no budget'),
      );
    }
  } finally {
    await built.pool.drain().catch(() => undefined);
    await built.cleanup();
  }
  state.exitCode = EXIT.ok;
}
