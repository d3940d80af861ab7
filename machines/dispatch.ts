/**
 * Dispatch planning: which queued tasks start on which idle slots, which must fail, and what they reserve.
 * A pure function of the pool's context, run on every event that can free a slot or bring work.
 *
 * Its cost is O(slots) plus O(1) per task it starts or fails: the queue is consumed from its head, and
 * nothing is copied when nothing can start (the common case under load).
 */
import { withKey } from './keyed.js';
import { budgetFailure, planReservation, refusalText, usdToMicrodollars, type BudgetLedger } from './budget.js';
import { dropFront, peekQueue, type JobQueue } from './queue.js';
import { poolFailure } from './failure.js';
import type { SlotId, SlotJob, SlotState, TaskId, TaskResult } from './types.js';

/** What dispatch needs to know about the pool. */
export interface DispatchView {
  queue: JobQueue;
  ledger: BudgetLedger;
  slotOrder: readonly SlotId[];
  slotStates: Readonly<Record<SlotId, SlotState>>;
  removing: readonly SlotId[];
  autoDispatch: boolean;
  /** The least an uncapped task reserves. */
  floorMicrodollars: number;
  /** Why no slot will ever run queued work, when that is so (every slot errored for good, or none at all). */
  noSlotCanRun?: string;
  /** The most runs this pass may start (back-pressure); unset: as many as there are idle slots. */
  maxStarts?: number;
}

/** A dispatch decision. */
export interface DispatchPlan {
  starts: { taskId: TaskId; slotId: SlotId; job: SlotJob }[];
  failures: { taskId: TaskId; result: TaskResult }[];
  queue: JobQueue;
  ledger: BudgetLedger;
  slotStates: Readonly<Record<SlotId, SlotState>>;
}

/**
 * Plans a dispatch pass in FIFO order. `onlySlot` restricts it to one slot (a claim); `force` dispatches even
 * when automatic dispatch is off.
 */
export function planDispatch(view: DispatchView, options: { onlySlot?: SlotId; force?: boolean } = {}): DispatchPlan {
  const plan: DispatchPlan = {
    starts: [],
    failures: [],
    queue: view.queue,
    ledger: view.ledger,
    slotStates: view.slotStates,
  };
  if (view.queue.tail === view.queue.head) return plan;
  if (!view.autoDispatch && !options.force) return plan;
  if (view.noSlotCanRun !== undefined) {
    for (let i = view.queue.head; i < view.queue.tail; i++) {
      plan.failures.push({
        taskId: view.queue.items[i].job.taskId,
        result: poolFailure(view.noSlotCanRun, { kind: 'no_slot_available', reason: view.noSlotCanRun }),
      });
    }
    plan.queue = dropFront(view.queue, view.queue.tail - view.queue.head);
    return plan;
  }
  const maxStarts = view.maxStarts ?? Infinity;
  if (maxStarts <= 0) return plan;
  const candidates = (options.onlySlot ? [options.onlySlot] : view.slotOrder).filter(
    (id) => !view.removing.includes(id) && view.slotStates[id] === 'idle',
  );
  // The common case under load: every slot is busy, and nothing is copied.
  if (candidates.length === 0) return plan;
  const slotStates = { ...view.slotStates };
  let queue = view.queue;
  let next = 0;
  for (let entry = peekQueue(queue); entry && next < candidates.length && next < maxStarts; entry = peekQueue(queue)) {
    const { job } = entry;
    const cap = job.overrides?.maxBudgetUsd;
    const decision = planReservation(plan.ledger, {
      capMicrodollars: cap === undefined ? undefined : usdToMicrodollars(cap),
      freeSlots: candidates.length - next,
      floorMicrodollars: view.floorMicrodollars,
    });
    if (decision.kind === 'wait') break;
    queue = dropFront(queue, 1);
    if (decision.kind === 'refuse') {
      plan.failures.push({
        taskId: job.taskId,
        result: poolFailure(refusalText(decision.refusal), budgetFailure(decision.refusal)),
      });
      continue;
    }
    const slotId = candidates[next++];
    plan.ledger = reserveFor(plan.ledger, job.taskId, decision.amount);
    slotStates[slotId] = 'busy';
    const reserved = view.ledger.limitMicrodollars === undefined ? undefined : decision.amount;
    plan.starts.push({ taskId: job.taskId, slotId, job: { ...job, reservedMicrodollars: reserved } });
  }
  plan.queue = queue;
  plan.slotStates = slotStates;
  return plan;
}

function reserveFor(ledger: BudgetLedger, taskId: TaskId, amount: number): BudgetLedger {
  return { ...ledger, reservations: withKey(ledger.reservations, taskId, amount) };
}
