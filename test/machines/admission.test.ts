/**
 * Admission: which requests the pool accepts in each phase and within its budget and scaling bounds.
 */
import { describe, expect, it } from 'vitest';
import { admitScale, admitTask } from '../../machines/admission.js';
import type { BudgetLedger } from '../../machines/budget.js';

const open: BudgetLedger = { spentMicrodollars: 0, reservations: {} };

describe('admitTask', () => {
  it('accepts tasks while running', () => {
    expect(admitTask('running', open, 0, { internal: false })).toBeUndefined();
    expect(admitTask('running', open, 0, { internal: true })).toBeUndefined();
  });
  it('refuses new work while draining, but still admits a running chain’s next step', () => {
    expect(admitTask('draining', open, 0, { internal: false })).toEqual({ code: 'pool_shutdown' });
    expect(admitTask('draining', open, 0, { internal: true })).toBeUndefined();
  });
  it('refuses everything once stopped', () => {
    expect(admitTask('stopped', open, 0, { internal: false })).toEqual({ code: 'pool_shutdown' });
    expect(admitTask('stopped', open, 0, { internal: true })).toEqual({ code: 'pool_shutdown' });
  });
  it('applies the budget: the floor for uncapped tasks, what is left for a cap', () => {
    const low: BudgetLedger = { limitMicrodollars: 1000, spentMicrodollars: 950, reservations: {} };
    expect(admitTask('running', low, 100, { internal: false })).toEqual({
      code: 'budget_exhausted',
      spentMicrodollars: 950,
      limitMicrodollars: 1000,
    });
    expect(admitTask('running', low, 100, { internal: false, capMicrodollars: 50 })).toBeUndefined();
    expect(admitTask('running', low, 0, { internal: true, capMicrodollars: 51 })).toEqual({
      code: 'task_budget_exceeds_remaining',
      taskMicrodollars: 51,
      remainingMicrodollars: 50,
    });
  });
});

describe('admitScale', () => {
  const bounds = { minSlots: 2, maxSlots: 4 };
  it('accepts a target within the bounds, and no change', () => {
    expect(admitScale('running', 2, 4, bounds)).toBeUndefined();
    expect(admitScale('running', 4, 2, bounds)).toBeUndefined();
    expect(admitScale('running', 3, 3, bounds)).toBeUndefined();
  });
  it('refuses growing past the maximum', () => {
    expect(admitScale('running', 4, 5, bounds)).toEqual({
      code: 'scale_limit_exceeded',
      requestedSlots: 5,
      limitSlots: 4,
      bound: 'max',
    });
  });
  it('refuses shrinking below the minimum', () => {
    expect(admitScale('running', 2, 1, bounds)).toEqual({
      code: 'scale_limit_exceeded',
      requestedSlots: 1,
      limitSlots: 2,
      bound: 'min',
    });
  });
  it('lets a pool already outside its bounds move towards them', () => {
    expect(admitScale('running', 8, 6, bounds)).toBeUndefined();
    expect(admitScale('running', 0, 1, bounds)).toBeUndefined();
    expect(admitScale('running', 6, 6, bounds)).toBeUndefined();
    expect(admitScale('running', 1, 1, bounds)).toBeUndefined();
  });
  it('refuses scaling unless the pool runs', () => {
    expect(admitScale('draining', 2, 3, bounds)).toEqual({ code: 'pool_shutdown' });
    expect(admitScale('stopped', 2, 3, bounds)).toEqual({ code: 'pool_shutdown' });
  });
});
