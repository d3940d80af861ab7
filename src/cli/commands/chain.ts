/**
 * `claude-pool chain <file>`: run a chain of steps from a JSON or YAML file.
 */
import type { ChainIsolation, ChainOptions } from '../../../machines/types.js';
import { wireObject } from '../../mcp/wire.js';
import { readChainFile } from '../chain-file.js';
import { err, out, outJson, type OutputOptions, type PoolCommandOptions } from '../common.js';
import { EXIT } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { formatUsd } from '../progress.js';
import { withPoolSession } from '../session.js';
import { SettingsError } from '../settings.js';

const ISOLATIONS: readonly ChainIsolation[] = ['none', 'worktree', 'clone'];

/** Options of `chain`. */
export interface ChainCommandOptions extends PoolCommandOptions, OutputOptions {
  isolation?: string;
  tag?: string[];
}

/** Runs `chain`: each step's output on stdout (or one JSON document with `--json`); exit 1 when it failed. */
export async function chainAction(state: CliState, file: string, options: ChainCommandOptions): Promise<void> {
  state.json = options.json === true;
  if (options.isolation !== undefined && !ISOLATIONS.includes(options.isolation as ChainIsolation)) {
    throw new SettingsError([
      `--isolation: expected one of ${ISOLATIONS.join(', ')}, got ${JSON.stringify(options.isolation)}`,
    ]);
  }
  const chain = await readChainFile(file);
  const chainOptions: ChainOptions = {
    ...chain.options,
    ...(options.isolation ? { isolation: options.isolation as ChainIsolation } : {}),
    ...(options.tag ? { tags: [...(chain.options.tags ?? []), ...options.tag] } : {}),
  };
  state.exitCode = await withPoolSession(options, async ({ pool, progress }) => {
    const id = await pool.submitChain(chain.steps, chainOptions);
    progress.note(`chain ${id}: ${chain.steps.length} step(s)`);
    const result = await pool.waitForChain(id);
    const final = pool.chainProgress(id);
    const warnings = pool.chainWarnings(id);
    progress.stop();
    if (options.json) {
      outJson({ chain_id: id, status: final.status, ...wireObject(result), warnings });
    } else {
      result.steps.forEach((step, index) => {
        const status = step.skipped ? 'skipped' : step.success ? 'ok' : 'FAILED';
        const retries =
          step.retriesUsed > 0 ? ` · ${step.retriesUsed} retr${step.retriesUsed === 1 ? 'y' : 'ies'}` : '';
        out(
          `=== step ${index + 1}/${chain.steps.length} ${step.name}: ${status} · ${formatUsd(step.costMicrodollars)}${retries}`,
        );
        if (!step.skipped) out(step.output);
      });
      if (!options.quiet) {
        for (const warning of warnings) err(`warning: ${warning}`);
        err(`chain ${final.status} · ${formatUsd(result.totalCostMicrodollars)} · ${id}`);
      }
    }
    return result.success ? EXIT.ok : EXIT.taskFailed;
  });
}
