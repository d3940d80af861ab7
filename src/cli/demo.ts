/**
 * The demo: four slots on the simulated agent do a fan-out of a dozen tasks, a three-step chain with output
 * variables, and a task that goes through review (rejected once, then approved), with live progress.
 * Needs no credentials and no network, and takes a few seconds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import type { ChainResult, ChainStep, TaskId, TaskRecord, TaskResult, TaskState } from '../../machines/types.js';
import { simulatedClaude } from '../agent/simulated/path.js';
import { Pool } from '../pool/index.js';
import { PoolProgress, formatUsd, type ProgressMode, type TextStream } from './progress.js';

/** The demo's prompts: ordinary work with scripted delays and costs, plus a failure and a crash. */
export const DEMO_PROMPTS: readonly string[] = [
  'Summarise the README [[sim:delay 150]] [[sim:cost 0.012]] [[sim:chunks 3]]',
  'List the public API [[sim:delay 250]] [[sim:cost 0.020]]',
  'Review src/pool.ts [[sim:delay 350]] [[sim:cost 0.031]] [[sim:turns 2]]',
  'Write a haiku about queues [[sim:delay 100]] [[sim:cost 0.004]]',
  'Explain the budget ledger [[sim:delay 200]] [[sim:cost 0.015]]',
  'Draft release notes [[sim:delay 300]] [[sim:cost 0.022]]',
  'Find dead code [[sim:delay 150]] [[sim:error max-turns]]',
  'Check the changelog [[sim:delay 125]] [[sim:cost 0.008]]',
  'Rename a variable [[sim:delay 175]] [[sim:crash]]',
  'Suggest test cases [[sim:delay 225]] [[sim:cost 0.017]]',
  'Summarise open issues [[sim:delay 150]] [[sim:cost 0.011]]',
  'Translate the error messages [[sim:delay 250]] [[sim:cost 0.019]]',
];

/** The demo's chain: plan (JSON output with variables) → implement (uses them) → review. */
export const DEMO_CHAIN: readonly ChainStep[] = [
  {
    name: 'plan',
    action: {
      type: 'prompt',
      prompt:
        'Plan a --dry-run flag [[sim:delay 150]] [[sim:cost 0.006]] [[sim:json {"files":2,"first":"src/cli/main.ts"}]]',
    },
    outputVars: { files: 'files', first: 'first' },
  },
  {
    name: 'implement',
    action: {
      type: 'prompt',
      prompt:
        'Change {steps.plan.files} files starting with {steps.plan.first} [[sim:delay 200]] [[sim:cost 0.014]] [[sim:chunks 2]]',
    },
    failurePolicy: { retries: 1 },
  },
  {
    name: 'review',
    action: { type: 'prompt', prompt: 'Review this change: {previous_output} [[sim:delay 150]] [[sim:cost 0.005]]' },
  },
];

/** The demo's reviewed task. */
export const DEMO_REVIEW_PROMPT = 'Write the upgrade guide [[sim:delay 150]] [[sim:cost 0.009]]';

/** Options of the demo. */
export interface DemoOptions {
  slots?: number;
  /** Where plain lines go (default: stdout); implies plain progress. */
  write?: (line: string) => void;
  /** `live` (log-update panel), `plain` (one line per change) or `off`. Default: live on a TTY, else plain. */
  mode?: ProgressMode;
  /** The stream progress goes to (default: stdout). */
  stream?: TextStream;
  /** Multiplies the scripted agent delays (default 1): a slower demo is easier to follow on the live page. */
  pace?: number;
  /** Called with the pool once it is built, before any work is submitted (e.g. to serve the live page). */
  onPool?: (pool: Pool) => Promise<void> | void;
}

/** Everything the demo did. */
export interface DemoReport {
  fanOut: TaskResult[];
  chain: ChainResult;
  review: { taskId: TaskId; rejections: number; state: TaskState };
  totalCostMicrodollars: number;
  elapsedMs: number;
}

/** A prompt with its `[[sim:delay N]]` directives multiplied by `pace`. */
export function pacedPrompt(prompt: string, pace: number): string {
  if (pace === 1) return prompt;
  return prompt.replace(
    /\[\[sim:delay (\d+)\]\]/g,
    (_, ms: string) => `[[sim:delay ${Math.round(Number(ms) * pace)}]]`,
  );
}

function pacedChain(steps: readonly ChainStep[], pace: number): ChainStep[] {
  return steps.map((step) =>
    step.action.type === 'prompt'
      ? { ...step, action: { ...step.action, prompt: pacedPrompt(step.action.prompt, pace) } }
      : step,
  );
}

/** Resolves with the task's record once it is in one of `states` with more than `after` rejections. */
async function waitForState(pool: Pool, id: TaskId, states: readonly TaskState[], after = -1): Promise<TaskRecord> {
  const matches = (task: TaskRecord) => states.includes(task.state) && task.rejectionCount > after;
  const current = await pool.task(id);
  if (matches(current)) return current;
  return firstValueFrom(pool.task$(id).pipe(filter(matches)));
}

/** Runs the whole demo and reports what happened. */
export async function runDemoReport(options: DemoOptions = {}): Promise<DemoReport> {
  const stream: TextStream =
    options.stream ??
    (options.write
      ? {
          write: (text: string) =>
            text
              .split('\n')
              .filter((l) => l !== '')
              .forEach((l) => options.write?.(l)),
          isTTY: false,
        }
      : process.stdout);
  const mode: ProgressMode = options.mode ?? (options.write ? 'plain' : stream.isTTY ? 'live' : 'plain');
  const stateDir = await mkdtemp(join(tmpdir(), 'claude-pool-demo-'));
  const started = Date.now();
  const pool = await Pool.builder({
    binary: simulatedClaude,
    env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir },
    workingDir: stateDir,
  })
    .slots(options.slots ?? 4)
    .config({ budgetMicrodollars: 1_000_000, permissionMode: 'plan' })
    .build();
  const progress = new PoolProgress(
    pool,
    stream,
    mode,
    `claude-pool demo · ${pool.slots().length} slots · simulated agent`,
  ).start();
  try {
    await options.onPool?.(pool);
    progress.note(
      `1/3 fan-out: ${DEMO_PROMPTS.length} prompts on ${pool.slots().length} slots (one fails, one crashes)`,
    );
    const pace = options.pace ?? 1;
    const fanOut = await pool.fanOut(DEMO_PROMPTS.map((prompt) => pacedPrompt(prompt, pace)));

    progress.note(`2/3 chain: ${DEMO_CHAIN.map((s) => s.name).join(' → ')} (output variables, {previous_output})`);
    const chainId = await pool.submitChain(pacedChain(DEMO_CHAIN, pace), { isolation: 'none', tags: ['demo'] });
    const chain = await pool.waitForChain(chainId);

    progress.note('3/3 review: a task waits for approval, is rejected once with feedback, then approved');
    const reviewId = await pool.submitWithReview(pacedPrompt(DEMO_REVIEW_PROMPT, pace), undefined, ['demo'], 2);
    await waitForState(pool, reviewId, ['pending_review']);
    progress.note(`  rejecting ${reviewId}: "Add a section on the new budget flags"`);
    await pool.rejectResult(reviewId, 'Add a section on the new budget flags');
    await waitForState(pool, reviewId, ['pending_review', 'failed', 'cancelled'], 0);
    progress.note(`  approving ${reviewId}`);
    await pool.approveResult(reviewId);
    const reviewed = await pool.task(reviewId);

    const status = pool.status();
    const summary = await pool.drain();
    progress.stop();
    const elapsedMs = Date.now() - started;
    // With progress off (--json, --quiet) nothing but the caller's own output may reach the stream.
    if (mode !== 'off') {
      const write = (line: string) => stream.write(`${line}\n`);
      write('');
      write(
        `done in ${(elapsedMs / 1000).toFixed(2)}s: fan-out ${fanOut.filter((r) => r.success).length}/${fanOut.length} ok, ` +
          `chain ${chain.success ? 'completed' : 'failed'} (${chain.steps.length} steps), ` +
          `review ${reviewed.state} after ${reviewed.rejectionCount} rejection(s); ` +
          `spent ${formatUsd(summary.totalCostMicrodollars)} of ${formatUsd(status.budgetMicrodollars ?? 0)}`,
      );
      write(`  chain final output: ${chain.finalOutput.split('\n')[0].slice(0, 100)}`);
      for (const slot of pool.slots()) {
        write(`  ${slot.id}: ${slot.tasksCompleted} task(s), ${formatUsd(slot.costMicrodollars)}, ${slot.state}`);
      }
    }
    return {
      fanOut,
      chain,
      review: { taskId: reviewId, rejections: reviewed.rejectionCount, state: reviewed.state },
      totalCostMicrodollars: summary.totalCostMicrodollars,
      elapsedMs,
    };
  } finally {
    progress.stop();
    await pool.drain({ timeoutMs: 1000 }).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
  }
}

/** Runs the demo and resolves with the fan-out results, in prompt order. */
export async function runDemo(options: DemoOptions = {}): Promise<TaskResult[]> {
  return (await runDemoReport(options)).fanOut;
}
