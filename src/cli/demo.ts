/**
 * The demo: four slots on the simulated agent work through a dozen tasks, and every step is printed.
 * Needs no credentials and no network.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulatedClaude } from '../agent/simulated/path.js';
import { Pool } from '../pool.js';
import type { TaskResult } from '../../machines/types.js';

/** The demo's prompts: ordinary work with scripted delays and costs, plus a failure and a crash. */
export const DEMO_PROMPTS: readonly string[] = [
  'Summarise the README [[sim:delay 300]] [[sim:cost 0.012]] [[sim:chunks 3]]',
  'List the public API [[sim:delay 500]] [[sim:cost 0.020]]',
  'Review src/pool.ts [[sim:delay 700]] [[sim:cost 0.031]] [[sim:turns 2]]',
  'Write a haiku about queues [[sim:delay 200]] [[sim:cost 0.004]]',
  'Explain the budget ledger [[sim:delay 400]] [[sim:cost 0.015]]',
  'Draft release notes [[sim:delay 600]] [[sim:cost 0.022]]',
  'Find dead code [[sim:delay 300]] [[sim:error max-turns]]',
  'Check the changelog [[sim:delay 250]] [[sim:cost 0.008]]',
  'Rename a variable [[sim:delay 350]] [[sim:crash]]',
  'Suggest test cases [[sim:delay 450]] [[sim:cost 0.017]]',
  'Summarise open issues [[sim:delay 300]] [[sim:cost 0.011]]',
  'Translate the error messages [[sim:delay 500]] [[sim:cost 0.019]]',
];

/** Options of the demo. */
export interface DemoOptions {
  slots?: number;
  /** Where lines go (default: stdout). */
  write?: (line: string) => void;
}

const usd = (micro: number) => `$${(micro / 1e6).toFixed(4)}`;

/** Runs the demo and resolves with the results, in prompt order. */
export async function runDemo(options: DemoOptions = {}): Promise<TaskResult[]> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const stateDir = await mkdtemp(join(tmpdir(), 'claude-pool-demo-'));
  const started = Date.now();
  const stamp = () => `+${((Date.now() - started) / 1000).toFixed(2)}s`.padStart(8);
  const pool = await Pool.builder({ binary: simulatedClaude, env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir } })
    .slots(options.slots ?? 4)
    .config({ budgetMicrodollars: 1_000_000, permissionMode: 'plan' })
    .build();
  const short = new Map<string, string>();
  const subscription = pool.records.taskChanged$.subscribe(({ previous, current }) => {
    if (previous?.state === current.state) return;
    const label = short.get(current.id) ?? current.prompt.replace(/\[\[sim:[^\]]*\]\]/g, '').trim();
    short.set(current.id, label);
    const where = current.slotId ? ` on ${current.slotId}` : '';
    const result = current.result;
    const detail = result
      ? ` ${result.success ? 'ok' : 'FAILED'} ${usd(result.costMicrodollars)} ${result.turnsUsed} turn(s)` +
        (result.success ? '' : ` — ${result.output.split('\n')[0].slice(0, 70)}`)
      : '';
    write(`${stamp()}  ${current.state.padEnd(9)} ${label.padEnd(30)}${where}${detail}`);
  });
  try {
    write(`claude-pool demo: ${pool.slots().length} slots, ${DEMO_PROMPTS.length} tasks, simulated agent`);
    const results = await pool.fanOut([...DEMO_PROMPTS]);
    const status = pool.status();
    const summary = await pool.drain();
    write('');
    write(
      `done in ${((Date.now() - started) / 1000).toFixed(2)}s: ${status.completedTasks} completed, ` +
        `${status.failedTasks} failed, spent ${usd(summary.totalCostMicrodollars)} of ${usd(status.budgetMicrodollars ?? 0)}`,
    );
    for (const slot of pool.slots()) {
      write(`  ${slot.id}: ${slot.tasksCompleted} task(s), ${usd(slot.costMicrodollars)}, ${slot.state}`);
    }
    return results;
  } finally {
    subscription.unsubscribe();
    await rm(stateDir, { recursive: true, force: true });
  }
}
