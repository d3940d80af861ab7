/**
 * Picking up what the store held when the pool started: finished records as they are, interrupted ones as
 * failed, tasks awaiting review back with their reviewer, queued work admitted again (a refusal, e.g. a budget
 * now spent, fails the task with it), and slots that no longer exist removed from the store.
 */
import { refusalText } from '../../machines/budget.js';
import type { AdmissionRefusal } from '../../machines/admission.js';
import { poolFailure, type TaskFailure } from '../../machines/failure.js';
import type { SlotId, TaskRecord } from '../../machines/types.js';
import type { RestorePlan } from '../restore.js';
import type { PoolRuntime } from './runtime.js';

/** Applies a restore plan to a started pool. */
export function resume(rt: PoolRuntime, plan: RestorePlan, slotIds: ReadonlySet<SlotId>): void {
  for (const record of plan.finished) rt.projection.updateTask(record, false);
  for (const record of plan.interrupted) rt.projection.updateTask(record);
  for (const record of plan.review) rt.actor.send({ type: 'RESTORE_REVIEW', record });
  for (const record of plan.requeue) {
    void rt.request({ type: 'SUBMIT', record }, record.id).then((refusal) => {
      if (refusal) rt.projection.updateTask(refused(record, refusal));
    });
  }
  for (const id of plan.slots.keys()) {
    if (!slotIds.has(id)) void rt.store.deleteSlot(id).catch((error: unknown) => rt.storeErrors.push(error));
  }
}

/** A restored task the pool would not take again, failed with the reason. */
function refused(record: TaskRecord, refusal: AdmissionRefusal): TaskRecord {
  let result;
  if (refusal.code === 'budget_exhausted' || refusal.code === 'task_budget_exceeds_remaining') {
    const failure: TaskFailure =
      refusal.code === 'budget_exhausted'
        ? {
            kind: 'budget_exhausted',
            spentMicrodollars: refusal.spentMicrodollars,
            limitMicrodollars: refusal.limitMicrodollars,
          }
        : {
            kind: 'task_budget_exceeds_remaining',
            taskMicrodollars: refusal.taskMicrodollars,
            remainingMicrodollars: refusal.remainingMicrodollars,
          };
    result = poolFailure(refusalText(refusal), failure);
  } else {
    result = poolFailure('pool is shut down', { kind: 'pool_shutdown' });
  }
  return { ...record, state: 'failed', result, completedAtMs: Date.now() };
}
