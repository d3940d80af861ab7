/**
 * Printing task results for people (text on stdout, a summary on stderr) and for programs (`--json`).
 */
import type { TaskResult } from '../../../machines/types.js';
import { wireResult } from '../../mcp/wire.js';
import { err, out } from '../common.js';
import { formatUsd } from '../progress.js';

/**
 * Why a run failed, in a few words: the pool's error code (`timeout`, `crashed`, …) for failures of the pool,
 * else (the agent's own result said it failed) the CLI's error
 * subtype (`error_max_turns`, …), else the first line of the error text (an API error is reported by the CLI
 * with subtype `success`, so the subtype says nothing there).
 */
export function failureReason(result: TaskResult): string {
  const agentReported = ['max_turns', 'max_budget', 'agent_error', 'api_error'].includes(result.failure?.kind ?? '');
  if (result.errorCode && !agentReported) return result.errorCode;
  if (result.subtype && result.subtype !== 'success') return result.subtype;
  const line = result.output.trim().split('\n')[0]?.trim() ?? '';
  if (line === '') return 'error';
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

/** One line about a result: `ok · $0.0010 · 1 turn(s) · 0.12s · sonnet`, or `FAILED (<reason>) · …`. */
export function resultSummary(result: TaskResult): string {
  const status = result.success ? 'ok' : `FAILED (${failureReason(result)})`;
  const parts = [
    status,
    formatUsd(result.costMicrodollars),
    `${result.turnsUsed} turn(s)`,
    `${(result.elapsedMs / 1000).toFixed(2)}s`,
  ];
  if (result.model) parts.push(result.model);
  if (result.budgetExceeded) parts.push('over its budget');
  return parts.join(' · ');
}

/** Details of a failed run, for stderr. */
export function failureDetails(result: TaskResult): string[] {
  if (result.success) return [];
  const lines: string[] = [];
  if (result.failedCommand) lines.push(`  command: ${result.failedCommand}`);
  if (result.exitCode !== undefined) lines.push(`  exit code: ${result.exitCode}`);
  if (result.signal) lines.push(`  signal: ${result.signal}`);
  if (result.stderr) lines.push(`  stderr: ${result.stderr.trim().split('\n').slice(-5).join('\n          ')}`);
  return lines;
}

/** Prints one result: its output on stdout, the summary (and failure details) on stderr unless quiet. */
export function printResult(result: TaskResult, options: { quiet?: boolean; label?: string }): void {
  const label = options.label ? `${options.label} ` : '';
  if (!options.quiet) {
    err(`${label}${resultSummary(result)}`);
    for (const line of failureDetails(result)) err(line);
  }
  out(result.output);
}

/** The result as JSON (the MCP wire format). */
export function resultJson(result: TaskResult): Record<string, unknown> {
  return wireResult(result);
}
