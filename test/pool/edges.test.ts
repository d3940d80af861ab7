/**
 * Edges of the pool's contract: a pool must have a slot to run anything, and the drain summary counts only
 * tasks that completed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput } from '../../src/errors.js';
import { Pool } from '../../src/pool/index.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('slot counts', () => {
  it('refuses a pool without slots, or with fewer than scaling.minSlots', async () => {
    expect(() => Pool.builder().slots(0)).toThrow(InvalidInput);
    expect(() => Pool.builder().slots(-1)).toThrow(InvalidInput);
    expect(() => Pool.builder().slots(1.5)).toThrow(InvalidInput);
    await expect(
      Pool.builder()
        .slots(2)
        .config({ scaling: { minSlots: 3, maxSlots: 4 } })
        .build(),
    ).rejects.toThrow(/2 slots is below min_slots \(3\)/);
  });
});

describe('drain', () => {
  it('counts only completed tasks in totalTasksCompleted, and every run in the cost', async () => {
    const pool = await simPool((b) => b.slots(2));
    const results = await pool.fanOut([
      'ok [[sim:cost 0.01]]',
      'fails [[sim:error max-turns]] [[sim:cost 0.02]]',
      'api [[sim:error api-error 500]]',
      'ok too [[sim:cost 0.03]]',
    ]);
    expect(results.map((r) => r.success)).toEqual([true, false, false, true]);
    const summary = await pool.drain();
    expect(summary.totalTasksCompleted).toBe(2);
    expect(summary.totalCostMicrodollars).toBe(results.reduce((sum, r) => sum + r.costMicrodollars, 0));
  });
});
