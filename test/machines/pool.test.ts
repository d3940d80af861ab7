/**
 * The pool statechart, driven directly with stand-in agents: admission, FIFO dispatch on idle slots, budget
 * reservations, cancellation, review, the assignment timeout, scaling, supervision, claims and the drain.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { completePoolConfig } from '../../src/config.js';
import {
  activeSlotIds,
  chooseSlotsToRemove,
  isActive,
  isDrained,
  jobOf,
  poolMachine,
  liveTaskIds,
  newSlotRecord,
  nextSlotIds,
} from '../../machines/pool.js';
import { taskRecord } from '../support/records.js';
import { outcome, testPool } from './pool-harness.js';

describe('running tasks', () => {
  it('accepts a task, runs it on an idle slot and completes it with its result', () => {
    const p = testPool();
    p.submit('t1');
    expect(p.decisions('t1')).toEqual([{ type: 'decision', requestId: 't1' }]);
    expect(p.runs).toHaveLength(1);
    expect(p.runs[0].job).toEqual({
      taskId: 't1',
      prompt: 'prompt of t1',
      overrides: undefined,
      workingDir: undefined,
      reservedMicrodollars: undefined,
    });
    expect(p.task('t1')).toMatchObject({ state: 'running', slotId: 'slot-0', startedAtMs: 1_000 });
    expect(p.context().running).toEqual({ t1: 'slot-0' });
    expect(p.context().slotStates['slot-0']).toBe('busy');
    p.advance(500);
    p.finish('slot-0', outcome('ok', 40));
    expect(p.task('t1')).toMatchObject({
      state: 'completed',
      completedAtMs: 1_500,
      result: { success: true, costMicrodollars: 40 },
    });
    expect(p.context().running).toEqual({});
    expect(p.context().runningJobs).toEqual({});
    expect(p.context().slotStates['slot-0']).toBe('idle');
    expect(p.context().ledger.spentMicrodollars).toBe(40);
  });

  it('runs queued tasks in the order they came, one per idle slot', () => {
    const p = testPool({ slots: 2 });
    for (const id of ['a', 'b', 'c', 'd']) p.submit(id);
    expect(p.runs.map((r) => [r.job.taskId, r.slot.id])).toEqual([
      ['a', 'slot-0'],
      ['b', 'slot-1'],
    ]);
    expect(p.queued()).toEqual(['c', 'd']);
    expect(p.task('c')?.state).toBe('pending');
    p.finish('slot-1', outcome('ok'));
    expect(p.runs.at(-1)).toMatchObject({ job: { taskId: 'c' }, slot: { id: 'slot-1' } });
    p.finish('slot-0', outcome('ok'));
    expect(p.runs.at(-1)).toMatchObject({ job: { taskId: 'd' }, slot: { id: 'slot-0' } });
    expect(p.queued()).toEqual([]);
  });

  it('passes the task’s overrides and directory to the run', () => {
    const p = testPool();
    p.submit('t1', { config: { model: 'opus' }, workingDir: '/w' });
    expect(p.runs[0].job).toMatchObject({ overrides: { model: 'opus' }, workingDir: '/w' });
  });

  it('fails a task whose run failed, with the failure as data', () => {
    const p = testPool();
    p.submit('t1');
    p.finish('slot-0', outcome('timeout', 7));
    expect(p.task('t1')).toMatchObject({
      state: 'failed',
      result: { success: false, errorCode: 'timeout', failure: { kind: 'timeout' }, costMicrodollars: 7 },
    });
    expect(p.context().ledger.spentMicrodollars).toBe(7);
  });

  it('fails a task whose result line reports a failure', () => {
    const p = testPool();
    p.submit('t1');
    p.finish('slot-0', outcome('ok', 0, { success: false, subtype: 'error_max_turns' }));
    expect(p.task('t1')).toMatchObject({ state: 'failed', result: { errorCode: 'max_turns' } });
  });

  it('flags a run that spent more than its task’s cap, and only then', () => {
    const p = testPool();
    p.submit('over', { config: { maxBudgetUsd: 0.0001 } });
    p.finish('slot-0', outcome('ok', 101));
    expect(p.task('over')?.result?.budgetExceeded).toBe(true);
    p.submit('exact', { config: { maxBudgetUsd: 0.0001 } });
    p.finish('slot-0', outcome('ok', 100));
    expect(p.task('exact')?.result?.budgetExceeded).toBeUndefined();
    p.submit('uncapped');
    p.finish('slot-0', outcome('ok', 1_000_000));
    expect(p.task('uncapped')?.result?.budgetExceeded).toBeUndefined();
  });

  it('lists the tasks it is responsible for', () => {
    const p = testPool();
    p.submit('run', { reviewRequired: true });
    p.submit('wait');
    expect(liveTaskIds(p.context())).toEqual(['wait', 'run']);
    p.finish('slot-0', outcome('ok'));
    expect(liveTaskIds(p.context()).sort()).toEqual(['run', 'wait']);
    expect(p.context().reviewing).toEqual({ run: true });
  });

  it('ignores a report for a slot it does not know', () => {
    const p = testPool();
    p.actor.send({ type: 'SLOT.STATE', slotId: 'ghost', state: 'errored' });
    p.actor.send({ type: 'SLOT.RUN_FINISHED', slotId: 'ghost', taskId: 'x', outcome: outcome('ok'), state: 'idle' });
    expect(p.context().slotStates).toEqual({ 'slot-0': 'idle' });
  });
});

describe('budget', () => {
  it('refuses a task cap above what is left, on submit, and creates no task', () => {
    const p = testPool({ config: { budgetMicrodollars: 1_000_000 }, spentMicrodollars: 250_000 });
    p.submit('big', { config: { maxBudgetUsd: 0.8 } });
    expect(p.decisions('big')).toEqual([
      {
        type: 'decision',
        requestId: 'big',
        refusal: { code: 'task_budget_exceeds_remaining', taskMicrodollars: 800_000, remainingMicrodollars: 750_000 },
      },
    ]);
    expect(p.task('big')).toBeUndefined();
    expect(p.runs).toEqual([]);
    p.submit('fits', { config: { maxBudgetUsd: 0.75 } });
    expect(p.decisions('fits')).toEqual([{ type: 'decision', requestId: 'fits' }]);
    expect(p.runs[0].job.reservedMicrodollars).toBe(750_000);
  });

  it('refuses an uncapped task once less than the floor is left', () => {
    const p = testPool({
      config: { budgetMicrodollars: 100_000, minTaskReserveMicrodollars: 50_000 },
      spentMicrodollars: 60_000,
    });
    p.submit('t');
    expect(p.decisions('t')[0]).toMatchObject({
      refusal: { code: 'budget_exhausted', spentMicrodollars: 60_000, limitMicrodollars: 100_000 },
    });
  });

  it('reserves each uncapped task its share of what is unreserved, and settles the real cost', () => {
    const p = testPool({ slots: 2, config: { budgetMicrodollars: 1_000_000 } });
    p.submit('a');
    p.submit('b');
    expect(p.runs.map((r) => r.job.reservedMicrodollars)).toEqual([500_000, 500_000]);
    expect(p.context().ledger.reservations).toEqual({ a: 500_000, b: 500_000 });
    p.finish('slot-0', outcome('ok', 120_000));
    expect(p.context().ledger).toMatchObject({ spentMicrodollars: 120_000, reservations: { b: 500_000 } });
  });

  it('holds a task that does not fit beside running reservations until they settle', () => {
    const p = testPool({ slots: 2, config: { budgetMicrodollars: 1_000_000 } });
    p.submit('a', { config: { maxBudgetUsd: 0.6 } });
    p.submit('b', { config: { maxBudgetUsd: 0.6 } });
    expect(p.runs.map((r) => r.job.taskId)).toEqual(['a']);
    expect(p.queued()).toEqual(['b']);
    p.finish('slot-0', outcome('ok', 100_000));
    expect(p.runs.map((r) => r.job.taskId)).toEqual(['a', 'b']);
  });

  it('fails a queued task the budget can no longer pay for once nothing runs', () => {
    const p = testPool({ config: { budgetMicrodollars: 1_000_000 } });
    p.submit('a');
    p.submit('b', { config: { maxBudgetUsd: 0.5 } });
    p.finish('slot-0', outcome('ok', 700_000));
    expect(p.task('b')).toMatchObject({
      state: 'failed',
      result: {
        output: 'task budget $0.50 exceeds remaining pool budget $0.30',
        errorCode: 'task_budget_exceeds_remaining',
        failure: { kind: 'task_budget_exceeds_remaining', taskMicrodollars: 500_000, remainingMicrodollars: 300_000 },
      },
    });
  });
});

describe('cancelling', () => {
  it('takes a queued task out of the queue', () => {
    const p = testPool();
    p.submit('a');
    p.submit('b');
    p.submit('c');
    p.advance(10);
    p.actor.send({ type: 'CANCEL', taskId: 'b' });
    expect(p.task('b')).toMatchObject({ state: 'cancelled', completedAtMs: 1_010 });
    expect(p.queued()).toEqual(['c']);
    expect(p.aborts).toEqual([]);
  });

  it('stops a running task’s run and books what it spent', () => {
    const p = testPool();
    p.submit('a');
    p.actor.send({ type: 'CANCEL', taskId: 'a' });
    expect(p.task('a')?.state).toBe('cancelled');
    expect(p.aborts).toEqual(['a']);
    p.finish('slot-0', outcome('aborted', 33));
    expect(p.context().ledger.spentMicrodollars).toBe(33);
    expect(p.context().running).toEqual({});
    expect(p.task('a')?.state).toBe('cancelled');
  });

  it('cancels several tasks at once', () => {
    const p = testPool();
    for (const id of ['a', 'b', 'c']) p.submit(id);
    p.actor.send({ type: 'CANCEL_MANY', taskIds: ['a', 'c'] });
    expect(p.task('a')?.state).toBe('cancelled');
    expect(p.task('b')?.state).toBe('pending');
    expect(p.task('c')?.state).toBe('cancelled');
    expect(p.queued()).toEqual(['b']);
    expect(p.aborts).toEqual(['a']);
  });

  it('ignores a cancel of a task that has ended or does not exist', () => {
    const p = testPool();
    p.submit('a');
    p.finish('slot-0', outcome('ok'));
    p.actor.send({ type: 'CANCEL', taskId: 'a' });
    p.actor.send({ type: 'CANCEL', taskId: 'nope' });
    expect(p.task('a')?.state).toBe('completed');
    expect(p.aborts).toEqual([]);
  });
});

describe('review', () => {
  it('tracks a task awaiting review and completes it on approval', () => {
    const p = testPool();
    p.submit('a', { reviewRequired: true });
    p.finish('slot-0', outcome('ok'));
    expect(p.task('a')?.state).toBe('pending_review');
    expect(p.context().reviewing).toEqual({ a: true });
    p.advance(5);
    p.actor.send({ type: 'APPROVE', taskId: 'a' });
    expect(p.task('a')).toMatchObject({ state: 'completed', completedAtMs: 1_005 });
    expect(p.context().reviewing).toEqual({});
  });

  it('queues a rejected task again with the feedback, and runs it', () => {
    const p = testPool();
    p.submit('a', { reviewRequired: true, prompt: 'do it' });
    p.finish('slot-0', outcome('ok'));
    p.actor.send({ type: 'REJECT', taskId: 'a', feedback: 'more' });
    expect(p.context().reviewing).toEqual({});
    expect(p.runs).toHaveLength(2);
    expect(p.runs[1].job.prompt).toBe('do it\n\n--- Rejection feedback (attempt 1/3) ---\nmore');
    expect(p.task('a')?.state).toBe('running');
  });

  it('fails a task rejected too often and stops tracking it', () => {
    const p = testPool();
    p.submit('a', { reviewRequired: true, maxRejections: 1 });
    p.finish('slot-0', outcome('ok'));
    p.actor.send({ type: 'REJECT', taskId: 'a', feedback: 'no' });
    expect(p.task('a')).toMatchObject({ state: 'failed', result: { errorCode: 'max_rejections', success: false } });
    expect(p.context().reviewing).toEqual({});
    expect(p.runs).toHaveLength(1);
  });

  it('brings back a task restored while awaiting review', () => {
    const p = testPool();
    p.actor.send({
      type: 'RESTORE_REVIEW',
      record: taskRecord('r', { state: 'pending_review', reviewRequired: true, result: outcome('ok').result }),
    });
    expect(p.context().reviewing).toEqual({ r: true });
    expect(p.task('r')?.state).toBe('pending_review');
    expect(p.runs).toEqual([]);
    p.actor.send({ type: 'APPROVE', taskId: 'r' });
    expect(p.task('r')?.state).toBe('completed');
  });

  it('ignores approving or rejecting a task that is not live', () => {
    const p = testPool();
    p.actor.send({ type: 'APPROVE', taskId: 'x' });
    p.actor.send({ type: 'REJECT', taskId: 'x', feedback: 'f' });
    expect(p.state()).toBe('running');
  });
});

describe('assignment timeout', () => {
  it('fails a task that waited too long for a slot, and keeps the next one waiting its own time', () => {
    const p = testPool({ config: { slotAssignmentTimeoutSecs: 10 } });
    p.submit('busy');
    p.submit('a');
    p.advance(4_000);
    p.submit('b');
    expect(p.context().assignDeadline).toBe(11_000);
    p.advance(5_999);
    expect(p.task('a')?.state).toBe('pending');
    p.advance(1);
    expect(p.task('a')).toMatchObject({
      state: 'failed',
      completedAtMs: 11_000,
      result: {
        output: 'no slot available after waiting 10s',
        errorCode: 'no_slot_available',
        failure: { kind: 'no_slot_available', reason: 'no slot available after waiting 10s' },
      },
    });
    expect(p.queued()).toEqual(['b']);
    expect(p.context().assignDeadline).toBe(15_000);
    p.advance(3_999);
    expect(p.task('b')?.state).toBe('pending');
    p.advance(1);
    expect(p.task('b')?.state).toBe('failed');
    expect(p.context().assignDeadline).toBeUndefined();
    expect(p.task('busy')?.state).toBe('running');
  });

  it('disarms the timer once nothing waits', () => {
    const p = testPool({ config: { slotAssignmentTimeoutSecs: 10 } });
    p.submit('busy');
    p.submit('a');
    expect(p.context().assignDeadline).toBe(11_000);
    p.finish('slot-0', outcome('ok'));
    expect(p.context().assignDeadline).toBeUndefined();
    p.advance(20_000);
    expect(p.task('a')?.state).toBe('running');
  });

  it('disarms the timer when the waiting task is cancelled', () => {
    const p = testPool({ config: { slotAssignmentTimeoutSecs: 10 } });
    p.submit('busy');
    p.submit('a');
    p.actor.send({ type: 'CANCEL', taskId: 'a' });
    expect(p.context().assignDeadline).toBeUndefined();
  });

  it('arms no timer for a task that starts at once', () => {
    const p = testPool({ config: { slotAssignmentTimeoutSecs: 10 } });
    p.submit('a');
    expect(p.context().assignDeadline).toBeUndefined();
  });
});

describe('scaling', () => {
  it('adds slots that take queued work at once', () => {
    const p = testPool();
    p.submit('a');
    p.submit('b');
    p.actor.send({ type: 'SCALE_UP', requestId: 'up', slots: [{ id: 'slot-1', config: { model: 'm' } }] });
    expect(p.decisions('up')).toEqual([{ type: 'decision', requestId: 'up' }]);
    expect(p.context().slotOrder).toEqual(['slot-0', 'slot-1']);
    expect(Object.keys(p.context().slots)).toEqual(['slot-0', 'slot-1']);
    expect(p.context().slotStates).toEqual({ 'slot-0': 'busy', 'slot-1': 'busy' });
    expect(p.runs.at(-1)).toMatchObject({ job: { taskId: 'b' }, slot: { id: 'slot-1', config: { model: 'm' } } });
    p.finish('slot-0', outcome('ok'));
    expect(p.task('a')?.state).toBe('completed');
  });

  it('refuses to grow past the maximum', () => {
    const p = testPool({ config: { scaling: { maxSlots: 1 } } });
    p.actor.send({ type: 'SCALE_UP', requestId: 'up', slots: [{ id: 'slot-1', config: {} }] });
    expect(p.decisions('up')[0]).toMatchObject({
      refusal: { code: 'scale_limit_exceeded', bound: 'max', limitSlots: 1, requestedSlots: 2 },
    });
    expect(p.context().slotOrder).toEqual(['slot-0']);
  });

  it('removes idle slots first, newest first, and forgets them once stopped', () => {
    const p = testPool({ slots: 3 });
    p.submit('a');
    p.actor.send({ type: 'SCALE_DOWN', requestId: 'down', count: 1 });
    expect(p.decisions('down')).toEqual([{ type: 'decision', requestId: 'down' }]);
    expect(p.context().slotOrder).toEqual(['slot-0', 'slot-1']);
    expect(p.context().removing).toEqual([]);
    expect(p.context().slots['slot-2']).toBeUndefined();
    expect(p.context().slotStates).toEqual({ 'slot-0': 'busy', 'slot-1': 'idle' });
  });

  it('retires a busy slot after its run and gives it no new work', () => {
    const p = testPool({ slots: 2, config: { scaling: { minSlots: 0 } } });
    p.submit('a');
    p.submit('b');
    p.submit('c');
    p.actor.send({ type: 'SCALE_DOWN', requestId: 'down', count: 1 });
    expect(p.context().removing).toEqual(['slot-1']);
    expect(p.context().slotStates['slot-1']).toBe('retiring');
    expect(activeSlotIds(p.context())).toEqual(['slot-0']);
    p.finish('slot-1', outcome('ok'));
    expect(p.task('b')?.state).toBe('completed');
    expect(p.context().slotOrder).toEqual(['slot-0']);
    expect(p.context().removing).toEqual([]);
    expect(p.task('c')?.state).toBe('pending');
    p.finish('slot-0', outcome('ok'));
    expect(p.runs.at(-1)).toMatchObject({ job: { taskId: 'c' }, slot: { id: 'slot-0' } });
  });

  it('refuses to shrink below the minimum and caps the count at the slots there are', () => {
    const p = testPool({ slots: 2, config: { scaling: { minSlots: 1 } } });
    p.actor.send({ type: 'SCALE_DOWN', requestId: 'd1', count: 2 });
    expect(p.decisions('d1')[0]).toMatchObject({
      refusal: { code: 'scale_limit_exceeded', bound: 'min', requestedSlots: 0, limitSlots: 1 },
    });
    expect(p.context().removing).toEqual([]);
    expect(p.context().slotOrder).toEqual(['slot-0', 'slot-1']);
    expect(p.slot('slot-0')?.value).toBe('idle');
    const q = testPool({ slots: 2, config: { scaling: { minSlots: 0 } } });
    q.actor.send({ type: 'SCALE_DOWN', requestId: 'd2', count: 5 });
    expect(q.decisions('d2')).toEqual([{ type: 'decision', requestId: 'd2' }]);
    expect(q.context().slotOrder).toEqual([]);
  });

  it('fails queued work once the pool has no slots', () => {
    const p = testPool({ slots: 1, config: { scaling: { minSlots: 0 } } });
    p.submit('a');
    p.submit('b');
    p.actor.send({ type: 'SCALE_DOWN', requestId: 'd', count: 1 });
    p.finish('slot-0', outcome('ok'));
    expect(p.task('b')).toMatchObject({
      state: 'failed',
      result: { errorCode: 'no_slot_available', output: 'no slot can run this task: the pool has no slots' },
    });
  });

  it('chooses idle, then errored, then busy slots, the least used first', () => {
    const p = testPool({ slots: 4, restartDelayMs: 10 });
    p.submit('a');
    p.finish('slot-0', outcome('ok'));
    p.submit('b');
    p.finish('slot-0', outcome('spawn_failed'));
    p.submit('c');
    expect(p.context().slotStates).toEqual({
      'slot-0': 'errored',
      'slot-1': 'busy',
      'slot-2': 'idle',
      'slot-3': 'idle',
    });
    expect(chooseSlotsToRemove(p.context(), 4)).toEqual(['slot-3', 'slot-2', 'slot-0', 'slot-1']);
    p.finish('slot-1', outcome('ok'));
    p.submit('d');
    expect(p.runs.at(-1)?.slot.id).toBe('slot-1');
    // slot-1 has now done more than slot-2 and slot-3, which stay newest-first.
    expect(chooseSlotsToRemove(p.context(), 2)).toEqual(['slot-3', 'slot-2']);
  });

  it('removes the least used of the idle slots first, even when it is older', () => {
    const p = testPool({ slots: 3, autoDispatch: false });
    p.submit('a');
    p.actor.send({ type: 'CLAIM', slotId: 'slot-2' });
    p.finish('slot-2', outcome('ok'));
    // slot-2 ran a task; slot-0 and slot-1 did not, so they go first, the newer of them first.
    expect(chooseSlotsToRemove(p.context(), 3)).toEqual(['slot-1', 'slot-0', 'slot-2']);
  });

  it('orders idle slots by how many tasks they completed, fewest first', () => {
    const p = testPool({ slots: 3, autoDispatch: false });
    const runOn = (slotId: string, taskId: string) => {
      p.submit(taskId);
      p.actor.send({ type: 'CLAIM', slotId });
      p.finish(slotId, outcome('ok'));
    };
    runOn('slot-1', 'a');
    runOn('slot-2', 'b');
    runOn('slot-2', 'c');
    runOn('slot-2', 'd');
    expect(chooseSlotsToRemove(p.context(), 3)).toEqual(['slot-0', 'slot-1', 'slot-2']);
  });

  it('names new slots after the highest number in use', () => {
    expect(nextSlotIds({ slotOrder: ['slot-0', 'slot-4', 'custom', 'slot-2'] }, 2)).toEqual(['slot-5', 'slot-6']);
    expect(nextSlotIds({ slotOrder: [] }, 1)).toEqual(['slot-0']);
    expect(nextSlotIds({ slotOrder: ['slot-12', 'slot-3'] }, 1)).toEqual(['slot-13']);
    expect(nextSlotIds({ slotOrder: ['slot-x', 'my-slot-3', 'slot-3b'] }, 1)).toEqual(['slot-0']);
  });
});

describe('supervision', () => {
  it('restarts an errored slot after the delay while supervising, and gives it queued work', () => {
    const p = testPool({ restartDelayMs: 100, config: { maxRestarts: 2 } });
    p.actor.send({ type: 'SUPERVISOR.START' });
    p.submit('a');
    p.submit('b');
    p.finish('slot-0', outcome('spawn_failed'));
    expect(p.context().slotStates['slot-0']).toBe('errored');
    expect(p.task('b')?.state).toBe('pending');
    p.advance(99);
    expect(p.context().slotStates['slot-0']).toBe('errored');
    p.advance(1);
    expect(p.context().slotStates['slot-0']).toBe('busy');
    expect(p.slot('slot-0')?.context.record.restartCount).toBe(1);
    expect(p.runs.at(-1)?.job.taskId).toBe('b');
  });

  it('does not restart without a supervisor, and fails queued work no slot can run', () => {
    const p = testPool({ restartDelayMs: 100 });
    p.submit('a');
    p.submit('b');
    p.finish('slot-0', outcome('spawn_failed', 0, { output: 'no binary' }));
    p.advance(1_000);
    expect(p.context().slotStates['slot-0']).toBe('errored');
    expect(p.task('b')).toMatchObject({
      state: 'failed',
      result: {
        errorCode: 'no_slot_available',
        output:
          'no slot can run this task: every slot is errored or stopped (slot-0 errored after 0 restart(s): no binary)',
      },
    });
  });

  it('keeps queued work while an errored slot can still be restarted', () => {
    const p = testPool({ restartDelayMs: 100, config: { maxRestarts: 1 } });
    p.actor.send({ type: 'SUPERVISOR.START' });
    p.submit('a');
    p.submit('b');
    p.finish('slot-0', outcome('spawn_failed'));
    expect(p.task('b')?.state).toBe('pending');
    p.advance(100);
    p.finish('slot-0', outcome('spawn_failed', 0, { output: 'still broken' }));
    // One restart used of one allowed: nothing can run the rest.
    p.submit('c');
    expect(p.decisions('c')).toEqual([{ type: 'decision', requestId: 'c' }]);
    expect(p.task('c')).toMatchObject({
      state: 'failed',
      result: {
        output:
          'no slot can run this task: every slot is errored or stopped (slot-0 errored after 1 restart(s): still broken)',
      },
    });
    p.advance(1_000);
    expect(p.context().slotStates['slot-0']).toBe('errored');
  });

  it('restarts slots that errored before it started, within their restart allowance', () => {
    const p = testPool({ slots: 2, restartDelayMs: 100, config: { maxRestarts: 1 } });
    p.submit('a');
    p.finish('slot-0', outcome('spawn_failed'));
    expect(p.context().slotStates['slot-0']).toBe('errored');
    p.actor.send({ type: 'SUPERVISOR.START' });
    expect(p.context().slotStates['slot-0']).toBe('idle');
    expect(p.slot('slot-0')?.context.record.restartCount).toBe(1);
    p.submit('b');
    p.finish(p.context().running.b, outcome('spawn_failed'));
    p.submit('c');
    p.finish(p.context().running.c, outcome('spawn_failed'));
    p.actor.send({ type: 'SUPERVISOR.STOP' });
    p.actor.send({ type: 'SUPERVISOR.START' });
    const restarts = ['slot-0', 'slot-1'].map((id) => p.slot(id)?.context.record.restartCount);
    expect(restarts).toEqual([1, 1]);
  });

  it('cancels pending restarts when supervision stops, and ignores a restart of a healthy slot', () => {
    const p = testPool({ restartDelayMs: 100 });
    p.actor.send({ type: 'SUPERVISOR.START' });
    p.submit('a');
    p.finish('slot-0', outcome('spawn_failed'));
    p.actor.send({ type: 'SUPERVISOR.STOP' });
    p.advance(1_000);
    expect(p.context().slotStates['slot-0']).toBe('errored');
    const q = testPool();
    q.actor.send({ type: 'SUPERVISOR.START' });
    q.actor.send({ type: 'RESTART_SLOT', slotId: 'slot-0' });
    q.actor.send({ type: 'RESTART_SLOT', slotId: 'ghost' });
    expect(q.slot('slot-0')?.context.record.restartCount).toBe(0);
  });

  it('does not restart a slot being removed', () => {
    const p = testPool({ slots: 2, restartDelayMs: 100, config: { scaling: { minSlots: 0 } } });
    p.submit('a');
    p.submit('b');
    p.finish('slot-1', outcome('spawn_failed'));
    p.actor.send({ type: 'SCALE_DOWN', requestId: 'd', count: 1 });
    expect(p.context().slotOrder).toEqual(['slot-0']);
    p.actor.send({ type: 'SUPERVISOR.START' });
    p.advance(1_000);
    expect(p.context().slotOrder).toEqual(['slot-0']);
  });
});

describe('claiming work', () => {
  it('leaves queued work for slots to claim when automatic dispatch is off', () => {
    const p = testPool({ slots: 2, autoDispatch: false });
    p.submit('a');
    p.submit('b');
    expect(p.runs).toEqual([]);
    p.actor.send({ type: 'CLAIM', slotId: 'slot-1' });
    expect(p.emitted.filter((e) => e.type === 'claimed')).toEqual([{ type: 'claimed', slotId: 'slot-1', taskId: 'a' }]);
    expect(p.runs.map((r) => [r.job.taskId, r.slot.id])).toEqual([['a', 'slot-1']]);
    p.finish('slot-1', outcome('ok'));
    expect(p.runs).toHaveLength(1);
    p.actor.send({ type: 'CLAIM', slotId: 'slot-1' });
    p.actor.send({ type: 'CLAIM', slotId: 'slot-1' });
    expect(p.emitted.filter((e) => e.type === 'claimed').slice(1)).toEqual([
      { type: 'claimed', slotId: 'slot-1', taskId: 'b' },
      { type: 'claimed', slotId: 'slot-1', taskId: undefined },
    ]);
  });
});

describe('configuring slots', () => {
  it('passes new configuration to the slot', () => {
    const p = testPool();
    p.actor.send({ type: 'CONFIGURE_SLOT', slotId: 'slot-0', config: { model: 'haiku' } });
    p.actor.send({ type: 'CONFIGURE_SLOT', slotId: 'ghost', config: { model: 'haiku' } });
    expect(p.slot('slot-0')?.context.record.config).toEqual({ model: 'haiku' });
  });
});

describe('draining', () => {
  it('stops at once when nothing runs, and stops its slots', () => {
    const p = testPool();
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    expect(p.state()).toBe('stopped');
    expect(p.context().phase).toBe('stopped');
    expect(p.slot('slot-0')?.value).toBe('stopped');
  });

  it('cancels queued work, lets running work finish, then stops', () => {
    const p = testPool();
    p.submit('a');
    p.submit('b');
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    expect(p.state()).toBe('draining');
    expect(p.context().phase).toBe('draining');
    expect(p.task('b')?.state).toBe('cancelled');
    expect(p.context().drainCancelled).toEqual(['b']);
    expect(p.queued()).toEqual([]);
    p.finish('slot-0', outcome('ok'));
    expect(p.task('a')?.state).toBe('completed');
    expect(p.state()).toBe('stopped');
  });

  it('finishes queued work first when asked to', () => {
    const p = testPool();
    p.submit('a');
    p.submit('b');
    p.actor.send({ type: 'DRAIN', queued: 'finish' });
    p.finish('slot-0', outcome('ok'));
    expect(p.state()).toBe('draining');
    p.finish('slot-0', outcome('ok'));
    expect(p.task('b')?.state).toBe('completed');
    expect(p.state()).toBe('stopped');
  });

  it('refuses new work while draining, but admits a running chain’s next step', () => {
    const p = testPool();
    p.submit('a');
    p.actor.send({ type: 'DRAIN', queued: 'finish' });
    p.submit('new');
    expect(p.decisions('new')[0]).toMatchObject({ refusal: { code: 'pool_shutdown' } });
    p.submit('step', {}, true);
    expect(p.decisions('step')).toEqual([{ type: 'decision', requestId: 'step' }]);
    p.actor.send({ type: 'SCALE_UP', requestId: 'up', slots: [{ id: 'slot-9', config: {} }] });
    expect(p.decisions('up')[0]).toMatchObject({ refusal: { code: 'pool_shutdown' } });
  });

  it('cancels everything when its timeout runs out', () => {
    const p = testPool({ slots: 1 });
    p.submit('a');
    p.submit('b');
    p.actor.send({ type: 'DRAIN', queued: 'finish', timeoutMs: 1_000 });
    p.advance(999);
    expect(p.aborts).toEqual([]);
    p.advance(1);
    expect(p.aborts).toEqual(['a']);
    expect(p.task('a')?.state).toBe('cancelled');
    expect(p.task('b')?.state).toBe('cancelled');
    expect(p.context().drainCancelled).toEqual(['b']);
    p.finish('slot-0', outcome('aborted'));
    expect(p.state()).toBe('stopped');
  });

  it('waits without a timeout as long as work runs', () => {
    const p = testPool();
    p.submit('a');
    p.actor.send({ type: 'DRAIN', queued: 'finish' });
    p.advance(1_000_000);
    expect(p.aborts).toEqual([]);
    expect(p.state()).toBe('draining');
  });

  it('cancels everything on a forced stop', () => {
    const p = testPool();
    p.submit('a');
    p.actor.send({ type: 'DRAIN', queued: 'finish' });
    p.actor.send({ type: 'FORCE_STOP' });
    expect(p.aborts).toEqual(['a']);
    expect(p.task('a')?.state).toBe('cancelled');
  });

  it('fails a task rejected in review once the pool drains', () => {
    const p = testPool();
    p.submit('a', { reviewRequired: true });
    p.submit('b');
    p.finish('slot-0', outcome('ok'));
    p.actor.send({ type: 'DRAIN', queued: 'finish' });
    p.actor.send({ type: 'REJECT', taskId: 'a', feedback: 'no' });
    expect(p.task('a')).toMatchObject({
      state: 'failed',
      result: { output: 'pool is shut down', errorCode: 'pool_shutdown' },
    });
    expect(p.context().reviewing).toEqual({});
  });

  it('refuses everything once stopped', () => {
    const p = testPool();
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    p.submit('late');
    expect(p.decisions('late')).toEqual([{ type: 'decision', requestId: 'late', refusal: { code: 'pool_shutdown' } }]);
    p.actor.send({ type: 'SCALE_DOWN', requestId: 'down', count: 1 });
    expect(p.decisions('down')).toEqual([{ type: 'decision', requestId: 'down', refusal: { code: 'pool_shutdown' } }]);
    p.actor.send({ type: 'START_CHAIN', record: taskRecord('ch', { kind: 'chain' }), steps: [], isolation: 'none' });
    expect(p.decisions('ch')).toEqual([{ type: 'decision', requestId: 'ch', refusal: { code: 'pool_shutdown' } }]);
  });

  it('is drained only when nothing runs, waits or is a live chain', () => {
    const p = testPool();
    expect(isDrained(p.context())).toBe(true);
    p.submit('a');
    expect(isDrained(p.context())).toBe(false);
    p.submit('b');
    p.finish('slot-0', outcome('ok'));
    expect(isDrained(p.context())).toBe(false);
  });
});

describe('chains', () => {
  const steps = [
    { name: 'one', action: { type: 'prompt' as const, prompt: 'first' } },
    { name: 'two', action: { type: 'prompt' as const, prompt: 'second' } },
  ];

  it('starts a chain, which runs its steps and then leaves the pool', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const p = testPool({ cleanup: () => gate });
    p.actor.send({ type: 'START_CHAIN', record: taskRecord('ch', { kind: 'chain' }), steps, isolation: 'none' });
    expect(p.decisions('ch')).toEqual([{ type: 'decision', requestId: 'ch' }]);
    const chain = p.context().chains.ch;
    expect(chain).toBeDefined();
    expect(isActive(chain)).toBe(true);
    expect(isDrained(p.context())).toBe(false);
    await new Promise<void>((resolve) => {
      const sub = chain.subscribe((s) => {
        if (s.value === 'cleaningUp') {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    release();
    await new Promise<void>((resolve) => {
      const check = () => (p.context().chains.ch === undefined ? resolve() : setImmediate(check));
      check();
    });
    expect(chain.getSnapshot().status).toBe('done');
    expect(chain.getSnapshot().context.record.state).toBe('completed');
  });

  it('refuses a chain when the budget is spent', () => {
    const p = testPool({ config: { budgetMicrodollars: 100 }, spentMicrodollars: 100 });
    p.actor.send({ type: 'START_CHAIN', record: taskRecord('ch', { kind: 'chain' }), steps, isolation: 'none' });
    expect(p.decisions('ch')[0]).toMatchObject({ refusal: { code: 'budget_exhausted' } });
    expect(p.context().chains).toEqual({});
  });

  it('cancels a live chain, and ignores an unknown one', async () => {
    const p = testPool({ runStep: () => new Promise(() => {}) });
    p.actor.send({ type: 'START_CHAIN', record: taskRecord('ch', { kind: 'chain' }), steps, isolation: 'none' });
    const chain = p.context().chains.ch;
    await new Promise<void>((resolve) => {
      const sub = chain.subscribe((s) => {
        if (s.matches({ running: 'attempting' })) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    p.actor.send({ type: 'CANCEL_CHAIN', chainId: 'nope', immediate: true });
    p.actor.send({ type: 'CANCEL_CHAIN', chainId: 'ch', immediate: true });
    await new Promise<void>((resolve) => {
      const check = () => (p.context().chains.ch === undefined ? resolve() : setImmediate(check));
      check();
    });
    expect(p.context().chains).toEqual({});
  });

  it('asks chains to stop after their current step when the pool drains', async () => {
    const p = testPool({ runStep: () => new Promise(() => {}) });
    p.actor.send({ type: 'START_CHAIN', record: taskRecord('ch', { kind: 'chain' }), steps, isolation: 'none' });
    const chain = p.context().chains.ch;
    await new Promise<void>((resolve) => {
      const sub = chain.subscribe((s) => {
        if (s.matches({ running: 'attempting' })) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    expect(chain.getSnapshot().context.cancelRequested).toBe(true);
    expect(p.state()).toBe('draining');
  });
});

describe('pool helpers', () => {
  it('makes a fresh slot record, keeping what the slot had earned', () => {
    expect(newSlotRecord({ id: 'slot-3', config: { model: 'm' }, worktreePath: '/wt' })).toEqual({
      id: 'slot-3',
      state: 'idle',
      config: { model: 'm' },
      tasksCompleted: 0,
      costMicrodollars: 0,
      restartCount: 0,
      consecutiveCrashes: 0,
      worktreePath: '/wt',
    });
    expect(
      newSlotRecord({
        id: 's',
        config: {},
        history: { tasksCompleted: 4, costMicrodollars: 9, restartCount: 1, sessionId: 'x' },
      }),
    ).toMatchObject({ tasksCompleted: 4, costMicrodollars: 9, restartCount: 1, sessionId: 'x', consecutiveCrashes: 0 });
  });

  it('counts slots that are neither stopped nor being removed', () => {
    expect(
      activeSlotIds({
        slotOrder: ['a', 'b', 'c', 'd'],
        removing: ['b'],
        slotStates: { a: 'idle', b: 'idle', c: 'stopped', d: 'busy' },
      }),
    ).toEqual(['a', 'd']);
  });

  it('says whether an actor can still take events', () => {
    expect(isActive(undefined)).toBe(false);
    expect(isActive({ getSnapshot: () => ({ status: 'active' }) })).toBe(true);
    expect(isActive({ getSnapshot: () => ({ status: 'done' }) })).toBe(false);
  });

  it('makes the job a task record asks for', () => {
    expect(jobOf(taskRecord('t', { prompt: 'p', config: { model: 'x' }, workingDir: '/d' }))).toEqual({
      taskId: 't',
      prompt: 'p',
      overrides: { model: 'x' },
      workingDir: '/d',
    });
  });
});

describe('more pool behaviour', () => {
  it('keeps each running task’s job, so a later finish still flags a run over its cap', () => {
    const p = testPool({ slots: 2 });
    p.submit('capped', { config: { maxBudgetUsd: 0.0001 } });
    p.submit('other');
    p.finish('slot-0', outcome('ok', 500));
    expect(p.task('capped')?.result?.budgetExceeded).toBe(true);
  });

  it('keeps the assignment timer while tasks still wait after a cancel', () => {
    const p = testPool({ config: { slotAssignmentTimeoutSecs: 10 } });
    p.submit('busy');
    p.submit('a');
    p.submit('b');
    p.actor.send({ type: 'CANCEL', taskId: 'b' });
    expect(p.context().assignDeadline).toBe(11_000);
    p.advance(10_000);
    expect(p.task('a')?.state).toBe('failed');
  });

  it('waits the configured grace for a cancelled run before giving its slot new work (3 s by default)', () => {
    for (const [grace, expected] of [
      [undefined, 3_000],
      [250, 250],
    ] as const) {
      const p = testPool({ cancelGraceMs: grace });
      p.submit('a');
      p.submit('b');
      p.actor.send({ type: 'CANCEL', taskId: 'a' });
      p.advance(expected - 1);
      expect(p.runs).toHaveLength(1);
      p.advance(1);
      expect(p.runs.map((r) => r.job.taskId)).toEqual(['a', 'b']);
      // Slots added later wait as long.
      p.actor.send({ type: 'SCALE_UP', requestId: 'up', slots: [{ id: 'slot-1', config: {} }] });
      p.submit('c');
      p.submit('d');
      p.actor.send({ type: 'CANCEL', taskId: 'c' });
      p.advance(expected - 1);
      expect(p.task('d')?.state).toBe('pending');
      p.advance(1);
      expect(p.task('d')?.state).toBe('running');
    }
  });

  it('restarts an errored slot after 100 ms by default', () => {
    const p = testPool();
    p.actor.send({ type: 'SUPERVISOR.START' });
    p.submit('a');
    p.finish('slot-0', outcome('spawn_failed'));
    p.advance(99);
    expect(p.context().slotStates['slot-0']).toBe('errored');
    p.advance(1);
    expect(p.context().slotStates['slot-0']).toBe('idle');
  });

  it('restarts nothing once supervision has stopped, and then fails work no slot can run', () => {
    const p = testPool({ restartDelayMs: 250 });
    p.actor.send({ type: 'SUPERVISOR.START' });
    p.actor.send({ type: 'SUPERVISOR.STOP' });
    expect(p.context().supervising).toBe(false);
    p.submit('a');
    p.submit('b');
    p.finish('slot-0', outcome('spawn_failed'));
    expect(p.task('b')?.state).toBe('failed');
    p.actor.send({ type: 'RESTART_SLOT', slotId: 'slot-0' });
    p.advance(1_000);
    expect(p.context().slotStates['slot-0']).toBe('errored');
  });

  it('explains every errored slot when none can run queued work', () => {
    const p = testPool({ slots: 2 });
    p.submit('a');
    p.submit('b');
    p.submit('c');
    p.finish('slot-0', outcome('spawn_failed', 0, { output: 'first' }));
    p.finish('slot-1', outcome('spawn_failed', 0, { output: 'second' }));
    expect(p.task('c')?.result?.output).toBe(
      'no slot can run this task: every slot is errored or stopped (slot-0 errored after 0 restart(s): first; slot-1 errored after 0 restart(s): second)',
    );
  });

  it('is not drained while tasks wait', () => {
    const p = testPool({ autoDispatch: false });
    p.submit('a');
    expect(isDrained(p.context())).toBe(false);
  });

  it('fails a task rejected in review after the pool stopped', () => {
    const p = testPool();
    p.submit('a', { reviewRequired: true });
    p.finish('slot-0', outcome('ok'));
    p.actor.send({ type: 'DRAIN', queued: 'cancel' });
    expect(p.state()).toBe('stopped');
    expect(p.context()).toMatchObject({ phase: 'stopped', supervising: false });
    p.actor.send({ type: 'REJECT', taskId: 'a', feedback: 'no' });
    expect(p.task('a')).toMatchObject({ state: 'failed', result: { errorCode: 'pool_shutdown' } });
  });

  it('cancels chains at once when the drain times out', async () => {
    const p = testPool({ runStep: () => new Promise(() => {}) });
    p.actor.send({
      type: 'START_CHAIN',
      record: taskRecord('ch', { kind: 'chain' }),
      steps: [{ name: 's', action: { type: 'prompt', prompt: 'x' } }],
      isolation: 'none',
    });
    const chain = p.context().chains.ch;
    await new Promise<void>((resolve) => {
      const sub = chain.subscribe((s) => {
        if (s.matches({ running: 'attempting' })) {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    p.actor.send({ type: 'DRAIN', queued: 'finish', timeoutMs: 100 });
    p.advance(100);
    await new Promise<void>((resolve) => {
      const check = () => (p.state() === 'stopped' ? resolve() : setImmediate(check));
      check();
    });
    expect(chain.getSnapshot().context.record.state).toBe('cancelled');
  });

  it('fails runs as never started when no agent is provided', () => {
    const pool = createActor(poolMachine, {
      input: {
        config: completePoolConfig({ minTaskReserveMicrodollars: 0 }),
        slots: [{ id: 'slot-0', config: {} }],
        clock: () => 0,
      },
    }).start();
    pool.send({ type: 'SUBMIT', record: taskRecord('t') });
    expect(pool.getSnapshot().context.slotStates['slot-0']).toBe('errored');
    expect(poolMachine.id).toBe('pool');
  });
});
