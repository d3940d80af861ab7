/**
 * `claude-pool demo`: the simulated-agent demo (fan-out, chain, review) with live progress; with `--ui`, the
 * pool's live web page is served while it runs (the demo waits a moment for a page to connect, and the page
 * stays up a while after the demo so that the final state can be looked at).
 */
import { filter, firstValueFrom, of, timeout } from 'rxjs';
import { wireObject } from '../../mcp/wire.js';
import type { UiServing } from '../../ui/serve.js';
import { err, outJson } from '../common.js';
import { runDemoReport } from '../demo.js';
import { EXIT } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { progressModeFor } from '../progress.js';
import { SettingsError } from '../settings.js';

/** Options of `demo`. */
export interface DemoCommandOptions {
  slots: string;
  json?: boolean;
  ui?: boolean;
  uiPort?: string;
  uiLinger?: string;
  uiWait?: string;
  uiPace?: string;
}

function whole(flag: string, raw: string | undefined, fallback: number, max: number, problems: string[]): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || value > max)
    problems.push(`${flag}: expected an integer from 0 to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

/** Resolves after `ms`, or at once on SIGINT/SIGTERM. */
function lingerFor(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** Runs `demo` (always on the simulated agent). */
export async function demoAction(state: CliState, options: DemoCommandOptions): Promise<void> {
  state.json = options.json === true;
  const slots = Number(options.slots);
  const problems: string[] = [];
  if (!Number.isInteger(slots) || slots < 1 || slots > 16) {
    problems.push(`--slots: expected an integer from 1 to 16, got ${JSON.stringify(options.slots)}`);
  }
  const uiPort = whole('--ui-port', options.uiPort, 3100, 65535, problems);
  const lingerSeconds = whole('--ui-linger', options.uiLinger, 60, 86_400, problems);
  const waitSeconds = whole('--ui-wait', options.uiWait, 10, 3600, problems);
  const pace = options.uiPace === undefined ? 4 : Number(options.uiPace);
  if (!Number.isFinite(pace) || pace < 0.1 || pace > 100)
    problems.push(`--ui-pace: expected a number from 0.1 to 100, got ${JSON.stringify(options.uiPace)}`);
  if (!options.ui && (options.uiPort ?? options.uiLinger ?? options.uiWait ?? options.uiPace) !== undefined) {
    problems.push('--ui-port, --ui-linger, --ui-wait and --ui-pace need --ui');
  }
  if (problems.length > 0) throw new SettingsError(problems);
  let serving: UiServing | undefined;
  try {
    const report = await runDemoReport({
      slots,
      mode: progressModeFor(process.stdout, { json: options.json }),
      ...(options.ui
        ? {
            pace,
            onPool: async (pool) => {
              const { serveUi } = await import('../../ui/serve.js');
              serving = await serveUi(pool, { port: uiPort }).catch((error: unknown) => {
                throw new SettingsError([
                  `--ui: cannot serve the page on 127.0.0.1:${uiPort}: ${error instanceof Error ? error.message : String(error)}`,
                ]);
              });
              err(`live page: ${serving.pageUrl}`);
              if (waitSeconds > 0) {
                err(`waiting up to ${waitSeconds} s for the page to connect…`);
                await firstValueFrom(
                  serving.readers$.pipe(
                    filter((count) => count > 0),
                    timeout({ first: waitSeconds * 1000, with: () => of(0) }),
                  ),
                );
              }
            },
          }
        : {}),
    });
    if (options.json) {
      outJson({
        fan_out: report.fanOut.map((r) => wireObject(r)),
        chain: wireObject(report.chain),
        review: wireObject(report.review),
        total_cost_microdollars: report.totalCostMicrodollars,
        elapsed_ms: report.elapsedMs,
      });
    }
    if (serving && lingerSeconds > 0) {
      err(`the page stays up at ${serving.pageUrl} for ${lingerSeconds} s (Ctrl-C to stop now)`);
      await lingerFor(lingerSeconds * 1000);
    }
  } finally {
    await serving?.close();
  }
  state.exitCode = EXIT.ok;
}
