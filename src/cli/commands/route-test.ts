/**
 * `claude-pool route-test <cases.json>`: route every case of a file (without running the work) and print
 * the accuracy table, or the report as JSON.
 */
import { readFile } from 'node:fs/promises';
import { wireObject } from '../../mcp/wire.js';
import {
  RouteTestCaseError,
  formatRouteTestReport,
  parseRouteTestCases,
  type RouteTestCase,
} from '../../routing/harness.js';
import { out, outJson, type OutputOptions, type PoolCommandOptions } from '../common.js';
import { EXIT } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { withPoolSession } from '../session.js';
import { SettingsError } from '../settings.js';

/** Reads and validates a cases file; a missing file, bad JSON or a bad case is a `SettingsError`. */
async function readCases(file: string): Promise<RouteTestCase[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SettingsError([`route-test: cannot read ${file}: ${(error as Error).message}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SettingsError([`route-test: ${file} is not valid JSON: ${(error as Error).message}`]);
  }
  try {
    return parseRouteTestCases(value);
  } catch (error) {
    if (error instanceof RouteTestCaseError) throw new SettingsError([`${file}: ${error.message}`]);
    throw error;
  }
}

/**
 * Runs `route-test`: the table on stdout (or one JSON document with `--json`). Exit 0 when every routed
 * case matched, 1 when a case was wrong or failed to route.
 */
export async function routeTestAction(
  state: CliState,
  file: string,
  options: PoolCommandOptions & OutputOptions,
): Promise<void> {
  state.json = options.json === true;
  const cases = await readCases(file);
  state.exitCode = await withPoolSession(options, async ({ pool, progress }) => {
    const { runRouteTest } = await import('../../routing/harness.js');
    const report = await runRouteTest(pool, cases, {
      onOutcome: (outcome, index) =>
        progress.note(
          `[${index + 1}/${cases.length}] ${outcome.label}: ${outcome.error ? 'error' : outcome.pass ? 'pass' : 'fail'}`,
        ),
    });
    progress.stop();
    if (options.json) outJson(wireObject(report));
    else out(formatRouteTestReport(report));
    return report.correct === report.total ? EXIT.ok : EXIT.taskFailed;
  });
}
