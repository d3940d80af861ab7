import { afterEach, describe, expect, it } from 'vitest';
import { BudgetExhausted, TaskBudgetExceedsRemaining } from '../../src/errors.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('budgets', () => {
  it('refuses new work once the pool budget is spent', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ budgetMicrodollars: 30_000, minTaskReserveMicrodollars: 10_000 }),
    );
    const first = await pool.run('spend it [[sim:cost 0.03]]');
    expect(first.costMicrodollars).toBe(30_000);
    const error = await pool.run('more').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExhausted);
    expect(error).toMatchObject({ code: 'budget_exhausted', spentMicrodollars: 30_000, limitMicrodollars: 30_000 });
    await expect(pool.submit('more')).rejects.toBeInstanceOf(BudgetExhausted);
    expect(pool.status()).toMatchObject({ totalSpendMicrodollars: 30_000, budgetMicrodollars: 30_000 });
  });

  it('rejects a task cap above what remains (amounts shown exactly) and accepts one within it', async () => {
    const pool = await simPool((b) => b.slots(1).config({ budgetMicrodollars: 1_000_000 }));
    await pool.run('spend [[sim:cost 0.25]]');
    const error = await pool.run('big', { config: { maxBudgetUsd: 0.8 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskBudgetExceedsRemaining);
    expect((error as Error).message).toBe('task budget $0.80 exceeds remaining pool budget $0.75');
    const ok = await pool.run('fits [[sim:cost 0.1]]', { config: { maxBudgetUsd: 0.7 } });
    expect(ok.success).toBe(true);
    expect(pool.status().totalSpendMicrodollars).toBe(350_000);
  });

  it('accepts any task cap when the pool has no budget', async () => {
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.run('capped [[sim:cost 0.5]]', { config: { maxBudgetUsd: 1000 } });
    expect(result.success).toBe(true);
  });

  it('passes the task cap to the CLI and flags a run that cost more than its cap', async () => {
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.run('pricey [[sim:cost 0.03]] [[sim:echo-args]]', { config: { maxBudgetUsd: 0.01 } });
    expect(result.success).toBe(false);
    expect(result.subtype).toBe('error_max_budget_usd');
    expect(result.budgetExceeded).toBe(true);
    const within = await pool.run('cheap [[sim:cost 0.005]] [[sim:echo-args]]', { config: { maxBudgetUsd: 0.01 } });
    expect(within.output).toContain('--max-budget-usd');
    expect(within.budgetExceeded).toBeFalsy();
  });

  it('20 concurrent tasks against a budget never overshoot it', async () => {
    const pool = await simPool((b) => b.slots(4).config({ budgetMicrodollars: 100_000 }));
    const prompts = Array.from(
      { length: 20 },
      (_, i) => `task ${i} [[sim:cost 0.01]] [[sim:delay ${20 + (i % 5) * 10}]]`,
    );
    const results = await Promise.all(
      prompts.map((prompt) =>
        pool.run(prompt, { config: { maxBudgetUsd: 0.01 } }).then(
          (result) => ({ ok: result.success, code: result.errorCode }),
          (error: { code: string }) => ({ ok: false, code: error.code }),
        ),
      ),
    );
    const completed = results.filter((r) => r.ok).length;
    expect(completed).toBe(10);
    expect(results.filter((r) => !r.ok).every((r) => r.code === 'budget_exhausted')).toBe(true);
    const status = pool.status();
    expect(status.totalSpendMicrodollars).toBe(100_000);
    expect(status.reservedMicrodollars).toBe(0);
    const slotSpend = pool.slots().reduce((sum, slot) => sum + slot.costMicrodollars, 0);
    expect(slotSpend).toBeLessThanOrEqual(100_000);
  });

  it('uncapped tasks share what is unreserved among the free slots: every slot stays busy, wave after wave', async () => {
    const pool = await simPool((b) => b.slots(4).config({ budgetMicrodollars: 5_000_000 }));
    let running = 0;
    const peaks: number[] = [];
    const subscription = pool.events$.subscribe((event) => {
      if (event.type === 'task.started') peaks.push(++running);
      if (event.type === 'task.finished') running -= 1;
    });
    // Two waves of four: under a fixed share (budget / slots) the second wave would run one task at a time,
    // since after any spend a whole share is never free again.
    const results = await pool.fanOut(Array.from({ length: 8 }, (_, i) => `u${i} [[sim:cost 0.01]] [[sim:delay 150]]`));
    subscription.unsubscribe();
    expect(results.every((r) => r.success)).toBe(true);
    expect(pool.status().totalSpendMicrodollars).toBe(80_000);
    expect(peaks.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(Math.max(...peaks.slice(4))).toBe(4);
    expect(pool.status().reservedMicrodollars).toBe(0);
  });

  it('gives each run what is left when one slot is free, so a 1-slot pool runs task after task', async () => {
    const pool = await simPool((b) => b.slots(1).config({ budgetMicrodollars: 10_000_000 }));
    const first = await pool.run('one [[sim:cost 0.01]] [[sim:echo-args]]');
    expect(first.output).toContain('--max-budget-usd=10');
    const second = await pool.run('two [[sim:cost 0.01]] [[sim:echo-args]]');
    expect(second.success).toBe(true);
    expect(second.output).toContain('--max-budget-usd=9.99');
  });

  it('says BudgetExhausted instead of starting a run below the floor (one model call)', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ budgetMicrodollars: 120_000, minTaskReserveMicrodollars: 50_000 }),
    );
    const results = await pool.fanOut(['a [[sim:cost 0.04]]', 'b [[sim:cost 0.04]]', 'c [[sim:cost 0.04]]']);
    expect(results.map((r) => r.success)).toEqual([true, true, false]);
    expect(results[2].errorCode).toBe('budget_exhausted');
    expect(results[2].costMicrodollars).toBe(0);
    expect(pool.status().totalSpendMicrodollars).toBe(80_000);
    const error = await pool.submit('d').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExhausted);
    expect((error as Error).message).toBe('budget exhausted: spent $0.08 of $0.12');
  });

  it('shows refused amounts exactly, to the microdollar', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ budgetMicrodollars: 30_000, minTaskReserveMicrodollars: 1_000 }),
    );
    await pool.run('spend [[sim:cost 0.011948]]');
    const error = await pool.run('capped', { config: { maxBudgetUsd: 0.025 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskBudgetExceedsRemaining);
    expect((error as Error).message).toBe('task budget $0.025 exceeds remaining pool budget $0.018052');
  });
});
