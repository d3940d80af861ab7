/**
 * `claude-pool demo`: the simulated-agent demo (fan-out, chain, review) with live progress.
 */
import { wireObject } from '../../mcp/wire.js';
import { outJson } from '../common.js';
import { runDemoReport } from '../demo.js';
import { EXIT } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { progressModeFor } from '../progress.js';
import { SettingsError } from '../settings.js';

/** Runs `demo` (always on the simulated agent). */
export async function demoAction(state: CliState, options: { slots: string; json?: boolean }): Promise<void> {
  state.json = options.json === true;
  const slots = Number(options.slots);
  if (!Number.isInteger(slots) || slots < 1 || slots > 16) {
    throw new SettingsError([`--slots: expected an integer from 1 to 16, got ${JSON.stringify(options.slots)}`]);
  }
  const report = await runDemoReport({ slots, mode: progressModeFor(process.stdout, { json: options.json }) });
  if (options.json) {
    outJson({
      fan_out: report.fanOut.map((r) => wireObject(r)),
      chain: wireObject(report.chain),
      review: wireObject(report.review),
      total_cost_microdollars: report.totalCostMicrodollars,
      elapsed_ms: report.elapsedMs,
    });
  }
  state.exitCode = EXIT.ok;
}
