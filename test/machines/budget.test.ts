/**
 * The budget ledger: admission against what is left, reservations at dispatch, settling, and exact amounts.
 */
import { describe, expect, it } from 'vitest';
import {
  admissionRefusal,
  budgetFailure,
  formatUsd,
  planReservation,
  refusalText,
  remainingMicrodollars,
  reserve,
  reservedTotal,
  settle,
  unreservedMicrodollars,
  usdToMicrodollars,
  type BudgetLedger,
} from '../../machines/budget.js';

const ledger = (over: Partial<BudgetLedger> = {}): BudgetLedger => ({
  spentMicrodollars: 0,
  reservations: {},
  ...over,
});

describe('usdToMicrodollars', () => {
  it('converts dollars to whole microdollars, truncating below one', () => {
    expect(usdToMicrodollars(0.25)).toBe(250_000);
    expect(usdToMicrodollars(1)).toBe(1_000_000);
    expect(usdToMicrodollars(0.0000019)).toBe(1);
    expect(usdToMicrodollars(0.0000009)).toBe(0);
  });
  it('does not lose a microdollar to binary noise', () => {
    expect(usdToMicrodollars(0.021232 - 0.010552)).toBe(10_680);
  });
  it('gives 0 for zero, negative or non-finite amounts', () => {
    expect(usdToMicrodollars(0)).toBe(0);
    expect(usdToMicrodollars(-0)).toBe(0);
    expect(usdToMicrodollars(-1)).toBe(0);
    expect(usdToMicrodollars(Number.NaN)).toBe(0);
    expect(usdToMicrodollars(Number.POSITIVE_INFINITY)).toBe(0);
  });
});

describe('what is left', () => {
  it('sums what running tasks hold', () => {
    expect(reservedTotal(ledger())).toBe(0);
    expect(reservedTotal(ledger({ reservations: { a: 100, b: 250 } }))).toBe(350);
  });
  it('is unlimited without a pool budget', () => {
    expect(remainingMicrodollars(ledger({ spentMicrodollars: 5 }))).toBe(Number.POSITIVE_INFINITY);
    expect(unreservedMicrodollars(ledger({ reservations: { a: 5 } }))).toBe(Number.POSITIVE_INFINITY);
  });
  it('subtracts spend, and reservations for what is unreserved, never below zero', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 300, reservations: { a: 200 } });
    expect(remainingMicrodollars(l)).toBe(700);
    expect(unreservedMicrodollars(l)).toBe(500);
    expect(remainingMicrodollars(ledger({ limitMicrodollars: 100, spentMicrodollars: 150 }))).toBe(0);
    expect(unreservedMicrodollars(ledger({ limitMicrodollars: 100, reservations: { a: 150 } }))).toBe(0);
  });
});

describe('formatUsd', () => {
  it('shows at least two decimals and up to six, exactly', () => {
    expect(formatUsd(800_000)).toBe('$0.80');
    expect(formatUsd(18_052)).toBe('$0.018052');
    expect(formatUsd(1_000_000)).toBe('$1.00');
    expect(formatUsd(12_345_600)).toBe('$12.3456');
    expect(formatUsd(1)).toBe('$0.000001');
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(100_000)).toBe('$0.10');
  });
  it('signs negative amounts', () => {
    expect(formatUsd(-1_500_000)).toBe('-$1.50');
    expect(formatUsd(-250)).toBe('-$0.00025');
  });
});

describe('refusal texts and failures', () => {
  it('words an exhausted budget with exact amounts', () => {
    expect(refusalText({ code: 'budget_exhausted', spentMicrodollars: 30_000, limitMicrodollars: 30_000 })).toBe(
      'budget exhausted: spent $0.03 of $0.03',
    );
  });
  it('words a task cap above what is left', () => {
    expect(
      refusalText({ code: 'task_budget_exceeds_remaining', taskMicrodollars: 800_000, remainingMicrodollars: 750_000 }),
    ).toBe('task budget $0.80 exceeds remaining pool budget $0.75');
  });
  it('turns each refusal into the matching failure', () => {
    expect(budgetFailure({ code: 'budget_exhausted', spentMicrodollars: 1, limitMicrodollars: 2 })).toEqual({
      kind: 'budget_exhausted',
      spentMicrodollars: 1,
      limitMicrodollars: 2,
    });
    expect(
      budgetFailure({ code: 'task_budget_exceeds_remaining', taskMicrodollars: 3, remainingMicrodollars: 2 }),
    ).toEqual({
      kind: 'task_budget_exceeds_remaining',
      taskMicrodollars: 3,
      remainingMicrodollars: 2,
    });
  });
});

describe('admissionRefusal', () => {
  it('accepts anything without a pool budget', () => {
    expect(admissionRefusal(ledger({ spentMicrodollars: 1e9 }), 1e9, 1e9)).toBeUndefined();
  });
  it('accepts a task cap exactly equal to what is left, and refuses one a microdollar above', () => {
    const l = ledger({ limitMicrodollars: 1_000_000, spentMicrodollars: 250_000 });
    expect(admissionRefusal(l, 750_000)).toBeUndefined();
    expect(admissionRefusal(l, 750_001)).toEqual({
      code: 'task_budget_exceeds_remaining',
      taskMicrodollars: 750_001,
      remainingMicrodollars: 750_000,
    });
  });
  it('refuses everything once the budget is spent', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 1000 });
    const exhausted = { code: 'budget_exhausted', spentMicrodollars: 1000, limitMicrodollars: 1000 };
    expect(admissionRefusal(l)).toEqual(exhausted);
    expect(admissionRefusal(l, 1)).toEqual(exhausted);
  });
  it('refuses an uncapped task when less than the floor is left, and accepts it at the floor', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 900 });
    expect(admissionRefusal(l, undefined, 101)).toMatchObject({ code: 'budget_exhausted' });
    expect(admissionRefusal(l, undefined, 100)).toBeUndefined();
  });
  it('lets a capped task in below the floor when its cap fits', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 900 });
    expect(admissionRefusal(l, 50, 500)).toBeUndefined();
  });
  it('accepts an uncapped task with a single microdollar left and no floor', () => {
    expect(admissionRefusal(ledger({ limitMicrodollars: 1000, spentMicrodollars: 999 }))).toBeUndefined();
    expect(admissionRefusal(ledger({ limitMicrodollars: 1000, spentMicrodollars: 999 }), undefined, 0)).toBeUndefined();
  });
});

describe('planReservation', () => {
  it('reserves the cap, or nothing, without a pool budget', () => {
    expect(planReservation(ledger(), { capMicrodollars: 500, freeSlots: 1, floorMicrodollars: 10 })).toEqual({
      kind: 'reserve',
      amount: 500,
    });
    expect(planReservation(ledger(), { freeSlots: 1, floorMicrodollars: 10 })).toEqual({ kind: 'reserve', amount: 0 });
  });
  it('reserves a capped task its cap, even one exactly equal to what is unreserved', () => {
    const l = ledger({ limitMicrodollars: 1000, reservations: { a: 400 } });
    expect(planReservation(l, { capMicrodollars: 600, freeSlots: 3, floorMicrodollars: 0 })).toEqual({
      kind: 'reserve',
      amount: 600,
    });
  });
  it('shares what is unreserved among the free slots for uncapped tasks', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 100 });
    expect(planReservation(l, { freeSlots: 3, floorMicrodollars: 0 })).toEqual({ kind: 'reserve', amount: 300 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({ kind: 'reserve', amount: 900 });
    // A pass that counts no free slot still gives the task everything.
    expect(planReservation(l, { freeSlots: 0, floorMicrodollars: 0 })).toEqual({ kind: 'reserve', amount: 900 });
  });
  it('rounds a share down to whole microdollars', () => {
    const l = ledger({ limitMicrodollars: 1000 });
    expect(planReservation(l, { freeSlots: 3, floorMicrodollars: 0 })).toEqual({ kind: 'reserve', amount: 333 });
  });
  it('gives an uncapped task at least the floor when its share is smaller', () => {
    const l = ledger({ limitMicrodollars: 1000 });
    expect(planReservation(l, { freeSlots: 4, floorMicrodollars: 400 })).toEqual({ kind: 'reserve', amount: 400 });
  });
  it('reserves a capped task its cap even below the floor (the floor is for uncapped tasks)', () => {
    const l = ledger({ limitMicrodollars: 1000 });
    expect(planReservation(l, { capMicrodollars: 20, freeSlots: 1, floorMicrodollars: 100 })).toEqual({
      kind: 'reserve',
      amount: 20,
    });
  });
  it('refuses an uncapped task as an exhausted budget when what is left shares out to nothing', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 999 });
    expect(planReservation(l, { freeSlots: 3, floorMicrodollars: 0 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'budget_exhausted', spentMicrodollars: 999, limitMicrodollars: 1000 },
    });
  });
  it('reserves the fixed default amount when one is configured', () => {
    const l = ledger({ limitMicrodollars: 1000, defaultReserveMicrodollars: 150 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({ kind: 'reserve', amount: 150 });
  });
  it('waits while running tasks hold what an uncapped task would need', () => {
    const l = ledger({ limitMicrodollars: 1000, reservations: { a: 950 } });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 100 })).toEqual({ kind: 'wait' });
  });
  it('waits for a capped task that does not fit beside what is reserved', () => {
    const l = ledger({ limitMicrodollars: 1000, reservations: { a: 600 } });
    expect(planReservation(l, { capMicrodollars: 500, freeSlots: 1, floorMicrodollars: 0 })).toEqual({ kind: 'wait' });
  });
  it('waits when the budget is spent but a running task may still settle below its reservation', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 1000, reservations: { a: 0 } });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({ kind: 'wait' });
  });
  it('refuses with the admission refusal when nothing runs and the budget is spent', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 1000 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'budget_exhausted', spentMicrodollars: 1000, limitMicrodollars: 1000 },
    });
    expect(planReservation(l, { capMicrodollars: 10, freeSlots: 1, floorMicrodollars: 0 })).toMatchObject({
      kind: 'refuse',
      refusal: { code: 'budget_exhausted' },
    });
  });
  it('refuses a default reservation that rounds down to 0 µ$', () => {
    const l = ledger({ limitMicrodollars: 1000, defaultReserveMicrodollars: 0 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: 0, remainingMicrodollars: 1000 },
    });
  });
  it('refuses a capped task whose cap rounds down to 0 µ$', () => {
    const l = ledger({ limitMicrodollars: 1000 });
    expect(planReservation(l, { capMicrodollars: 0, freeSlots: 1, floorMicrodollars: 0 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: 0, remainingMicrodollars: 1000 },
    });
  });
  it('waits for a zero reservation while others run', () => {
    const l = ledger({ limitMicrodollars: 1000, defaultReserveMicrodollars: 0, reservations: { a: 10 } });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({ kind: 'wait' });
  });
  it('refuses a default reservation larger than what is left when nothing runs', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 500, defaultReserveMicrodollars: 600 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 0 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: 600, remainingMicrodollars: 500 },
    });
  });
  it('refuses a default reservation below the floor as an exhausted budget', () => {
    const l = ledger({ limitMicrodollars: 1000, defaultReserveMicrodollars: 50 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 100 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: 50, remainingMicrodollars: 1000 },
    });
  });
  it('refuses an uncapped task as an exhausted budget when what is left is below the floor and nothing runs', () => {
    const l = ledger({ limitMicrodollars: 1000, spentMicrodollars: 950 });
    expect(planReservation(l, { freeSlots: 1, floorMicrodollars: 100 })).toEqual({
      kind: 'refuse',
      refusal: { code: 'budget_exhausted', spentMicrodollars: 950, limitMicrodollars: 1000 },
    });
  });
  it('never lets reservations together exceed what is left', () => {
    let l = ledger({ limitMicrodollars: 1000 });
    for (let i = 0; i < 5; i++) {
      const d = planReservation(l, { freeSlots: 5 - i, floorMicrodollars: 0 });
      if (d.kind !== 'reserve') throw new Error(`expected a reservation, got ${d.kind}`);
      l = reserve(l, `t${i}`, d.amount);
    }
    expect(reservedTotal(l)).toBe(1000);
    expect(Object.values(l.reservations)).toEqual([200, 200, 200, 200, 200]);
  });
});

describe('reserve and settle', () => {
  it('holds an amount per task and releases it when the task settles its real cost', () => {
    const base = ledger({ limitMicrodollars: 1000, spentMicrodollars: 10 });
    const held = reserve(reserve(base, 'a', 300), 'b', 200);
    expect(held.reservations).toEqual({ a: 300, b: 200 });
    expect(base.reservations).toEqual({});
    const settled = settle(held, 'a', 120);
    expect(settled).toEqual({ limitMicrodollars: 1000, spentMicrodollars: 130, reservations: { b: 200 } });
    expect(held.reservations).toEqual({ a: 300, b: 200 });
  });
});
