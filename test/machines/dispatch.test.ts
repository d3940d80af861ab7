/**
 * Dispatch planning: which queued tasks start on which idle slots, which fail, and what they reserve.
 */
import { describe, expect, it } from 'vitest';
import type { BudgetLedger } from '../../machines/budget.js';
import { planDispatch, type DispatchView } from '../../machines/dispatch.js';
import { emptyQueue, enqueue, queuedJobs, type JobQueue } from '../../machines/queue.js';
import type { SlotState, TaskOverrides } from '../../machines/types.js';

const queueOf = (...jobs: [string, TaskOverrides?][]): JobQueue =>
  jobs.reduce(
    (q, [taskId, overrides]) =>
      enqueue(q, { job: { taskId, prompt: `p ${taskId}`, ...(overrides && { overrides }) }, queuedAt: 0 }),
    emptyQueue(),
  );

function view(over: Partial<DispatchView> & { states?: Record<string, SlotState> } = {}): DispatchView {
  const states = over.states ?? { 'slot-0': 'idle', 'slot-1': 'idle' };
  return {
    queue: queueOf(['a'], ['b'], ['c']),
    ledger: { spentMicrodollars: 0, reservations: {} },
    slotOrder: Object.keys(states),
    slotStates: states,
    removing: [],
    autoDispatch: true,
    floorMicrodollars: 0,
    ...over,
  };
}
const ids = (q: JobQueue) => queuedJobs(q).map((e) => e.job.taskId);
const starts = (plan: ReturnType<typeof planDispatch>) => plan.starts.map((s) => [s.taskId, s.slotId]);

describe('planDispatch', () => {
  it('starts the oldest tasks on idle slots in slot order, and marks those slots busy', () => {
    const v = view();
    const plan = planDispatch(v);
    expect(starts(plan)).toEqual([
      ['a', 'slot-0'],
      ['b', 'slot-1'],
    ]);
    expect(plan.starts[0].job).toEqual({ taskId: 'a', prompt: 'p a', reservedMicrodollars: undefined });
    expect(ids(plan.queue)).toEqual(['c']);
    expect(plan.slotStates).toEqual({ 'slot-0': 'busy', 'slot-1': 'busy' });
    expect(plan.failures).toEqual([]);
    // The view it planned from is left as it was.
    expect(v.slotStates).toEqual({ 'slot-0': 'idle', 'slot-1': 'idle' });
    expect(ids(v.queue)).toEqual(['a', 'b', 'c']);
  });

  it('skips busy slots and slots being removed', () => {
    const plan = planDispatch(
      view({ states: { 'slot-0': 'busy', 'slot-1': 'idle', 'slot-2': 'idle' }, removing: ['slot-1'] }),
    );
    expect(starts(plan)).toEqual([['a', 'slot-2']]);
  });

  it('changes nothing when nothing waits', () => {
    const v = view({ queue: emptyQueue() });
    const plan = planDispatch(v);
    expect(plan).toEqual({ starts: [], failures: [], queue: v.queue, ledger: v.ledger, slotStates: v.slotStates });
    expect(plan.slotStates).toBe(v.slotStates);
  });

  it('changes nothing when every slot is busy, copying nothing', () => {
    const v = view({ states: { 'slot-0': 'busy', 'slot-1': 'errored' } });
    const plan = planDispatch(v);
    expect(plan.starts).toEqual([]);
    expect(plan.queue).toBe(v.queue);
    expect(plan.slotStates).toBe(v.slotStates);
    expect(plan.ledger).toBe(v.ledger);
  });

  it('waits for a claim when automatic dispatch is off, unless forced', () => {
    expect(planDispatch(view({ autoDispatch: false })).starts).toEqual([]);
    expect(starts(planDispatch(view({ autoDispatch: false }), { force: true }))).toEqual([
      ['a', 'slot-0'],
      ['b', 'slot-1'],
    ]);
  });

  it('gives a claiming slot the oldest task, and only that slot', () => {
    const plan = planDispatch(view({ autoDispatch: false }), { onlySlot: 'slot-1', force: true });
    expect(starts(plan)).toEqual([['a', 'slot-1']]);
    expect(plan.slotStates).toEqual({ 'slot-0': 'idle', 'slot-1': 'busy' });
    expect(
      planDispatch(view({ states: { 'slot-0': 'idle', 'slot-1': 'busy' } }), { onlySlot: 'slot-1' }).starts,
    ).toEqual([]);
  });

  it('fails every queued task when no slot will ever run it', () => {
    const plan = planDispatch(view({ noSlotCanRun: 'no slot can run this task: the pool has no slots' }));
    expect(plan.starts).toEqual([]);
    expect(plan.failures.map((f) => f.taskId)).toEqual(['a', 'b', 'c']);
    expect(plan.failures[0].result).toMatchObject({
      output: 'no slot can run this task: the pool has no slots',
      success: false,
      errorCode: 'no_slot_available',
      failure: { kind: 'no_slot_available', reason: 'no slot can run this task: the pool has no slots' },
    });
    expect(ids(plan.queue)).toEqual([]);
  });

  it('reserves a capped task its cap and an uncapped one its share, and passes the reservation to the run', () => {
    const ledger: BudgetLedger = { limitMicrodollars: 1_000_000, spentMicrodollars: 0, reservations: {} };
    const plan = planDispatch(view({ ledger, queue: queueOf(['a', { maxBudgetUsd: 0.4 }], ['b']) }));
    expect(plan.starts.map((s) => s.job.reservedMicrodollars)).toEqual([400_000, 600_000]);
    expect(plan.ledger.reservations).toEqual({ a: 400_000, b: 600_000 });
    expect(ledger.reservations).toEqual({});
  });

  it('shares what is unreserved among the slots this pass can still fill', () => {
    const ledger: BudgetLedger = { limitMicrodollars: 900, spentMicrodollars: 0, reservations: {} };
    const plan = planDispatch(
      view({ ledger, queue: queueOf(['a'], ['b'], ['c']), states: { s0: 'idle', s1: 'idle', s2: 'idle' } }),
    );
    expect(plan.starts.map((s) => s.job.reservedMicrodollars)).toEqual([300, 300, 300]);
  });

  it('stops at a task that must wait for running tasks to settle, keeping it and those behind it queued', () => {
    const ledger: BudgetLedger = { limitMicrodollars: 1_000, spentMicrodollars: 0, reservations: { running: 900 } };
    const plan = planDispatch(
      view({ ledger, queue: queueOf(['a', { maxBudgetUsd: 0.0005 }], ['b', { maxBudgetUsd: 0.00001 }]) }),
    );
    expect(plan.starts).toEqual([]);
    expect(plan.failures).toEqual([]);
    expect(ids(plan.queue)).toEqual(['a', 'b']);
  });

  it('fails a task the budget can never pay for and goes on with the next', () => {
    const ledger: BudgetLedger = { limitMicrodollars: 1_000, spentMicrodollars: 500, reservations: {} };
    const plan = planDispatch(
      view({ ledger, queue: queueOf(['big', { maxBudgetUsd: 0.001 }], ['small', { maxBudgetUsd: 0.0002 }]) }),
    );
    expect(plan.failures).toEqual([
      {
        taskId: 'big',
        result: expect.objectContaining({
          output: 'task budget $0.001 exceeds remaining pool budget $0.0005',
          errorCode: 'task_budget_exceeds_remaining',
          failure: { kind: 'task_budget_exceeds_remaining', taskMicrodollars: 1_000, remainingMicrodollars: 500 },
        }),
      },
    ]);
    expect(starts(plan)).toEqual([['small', 'slot-0']]);
    expect(plan.starts[0].job.reservedMicrodollars).toBe(200);
    expect(ids(plan.queue)).toEqual([]);
  });
});
