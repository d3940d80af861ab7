/**
 * The task statechart, driven directly: assignment, results, review, rejection and cancellation.
 */
import { describe, expect, it } from 'vitest';
import {
  rejectedPrompt,
  rejectedTooOftenResult,
  taskMachine,
  taskStateOf,
  TASK_STATE_NODES,
} from '../../machines/task.js';
import type { TaskRecord, TaskResult } from '../../machines/types.js';
import { taskRecord } from '../support/records.js';
import { underParent } from './harness.js';

const ok: TaskResult = { output: 'done', success: true, costMicrodollars: 10, turnsUsed: 1, elapsedMs: 5 };
const bad: TaskResult = { ...ok, output: 'broke', success: false, errorCode: 'agent_error' };

function start(extra: Partial<TaskRecord> = {}) {
  const h = underParent(taskMachine, taskRecord('t1', extra));
  const record = () => h.child.getSnapshot().context.record;
  // Running's substates (working, awaitingPermission) show as `running` here; the permission tests read them.
  const state = () => {
    const value = h.child.getSnapshot().value as string | Record<string, string>;
    return typeof value === 'string' ? value : Object.keys(value)[0];
  };
  return { ...h, record, state };
}

describe('task states', () => {
  it('lists its states in lifecycle order and publishes pendingReview as pending_review', () => {
    expect(TASK_STATE_NODES).toEqual(['pending', 'running', 'pendingReview', 'completed', 'failed', 'cancelled']);
    expect(taskStateOf('pendingReview')).toBe('pending_review');
    expect(taskStateOf('running')).toBe('running');
    expect(taskStateOf({ running: 'awaitingPermission' })).toBe('running');
    expect(taskMachine.id).toBe('task');
  });
});

describe('task lifecycle', () => {
  it('waits in pending, runs on its slot, and completes with its result', () => {
    const t = start({ state: 'running' });
    expect(t.state()).toBe('pending');
    expect(t.record().state).toBe('pending');
    t.child.send({ type: 'ASSIGN', slotId: 'slot-0', at: 2_000 });
    expect(t.state()).toBe('running');
    expect(t.record()).toMatchObject({ state: 'running', slotId: 'slot-0', startedAtMs: 2_000 });
    t.child.send({ type: 'FINISH', result: ok, at: 3_000 });
    expect(t.state()).toBe('completed');
    expect(t.record()).toMatchObject({ state: 'completed', result: ok, completedAtMs: 3_000 });
    expect(t.child.getSnapshot().status).toBe('done');
    expect(t.sentOf('TASK.REVIEW')).toEqual([]);
  });

  it('fails when the agent reports a failure', () => {
    const t = start({ reviewRequired: true });
    t.child.send({ type: 'ASSIGN', slotId: 'slot-0', at: 2_000 });
    t.child.send({ type: 'FINISH', result: bad, at: 3_000 });
    expect(t.state()).toBe('failed');
    expect(t.record()).toMatchObject({ state: 'failed', result: bad, completedAtMs: 3_000 });
    expect(t.sentOf('TASK.REVIEW')).toEqual([]);
  });

  it('fails while pending or running when the pool fails it', () => {
    const pendingFail = start();
    pendingFail.child.send({ type: 'FAIL', result: bad, at: 4_000 });
    expect(pendingFail.record()).toMatchObject({ state: 'failed', result: bad, completedAtMs: 4_000 });
    expect(pendingFail.child.getSnapshot().status).toBe('done');
    const runningFail = start();
    runningFail.child.send({ type: 'ASSIGN', slotId: 'slot-1', at: 2_000 });
    runningFail.child.send({ type: 'FAIL', result: bad, at: 4_500 });
    expect(runningFail.record()).toMatchObject({
      state: 'failed',
      result: bad,
      completedAtMs: 4_500,
      slotId: 'slot-1',
    });
  });

  it('is cancelled from pending, running or review, and stays cancelled when a late result arrives', () => {
    for (const prepare of [
      (_t: ReturnType<typeof start>) => {},
      (t: ReturnType<typeof start>) => t.child.send({ type: 'ASSIGN', slotId: 's', at: 1 }),
      (t: ReturnType<typeof start>) => {
        t.child.send({ type: 'ASSIGN', slotId: 's', at: 1 });
        t.child.send({ type: 'FINISH', result: ok, at: 2 });
      },
    ]) {
      const t = start({ reviewRequired: true });
      prepare(t);
      t.child.send({ type: 'CANCEL', at: 9_000 });
      expect(t.record()).toMatchObject({ state: 'cancelled', completedAtMs: 9_000 });
      expect(t.child.getSnapshot().status).toBe('done');
      t.child.send({ type: 'FINISH', result: ok, at: 9_500 });
      expect(t.record().state).toBe('cancelled');
    }
  });

  it('ignores events that do not apply in its state', () => {
    const t = start();
    t.child.send({ type: 'FINISH', result: ok, at: 1 });
    t.child.send({ type: 'APPROVE', at: 1 });
    t.child.send({ type: 'REJECT', feedback: 'x', at: 1 });
    expect(t.state()).toBe('pending');
    expect(t.record().result).toBeUndefined();
    t.child.send({ type: 'ASSIGN', slotId: 's', at: 2 });
    t.child.send({ type: 'ASSIGN', slotId: 'other', at: 3 });
    t.child.send({ type: 'APPROVE', at: 3 });
    expect(t.record()).toMatchObject({ state: 'running', slotId: 's', startedAtMs: 2 });
  });
});

describe('review', () => {
  function inReview(extra: Partial<TaskRecord> = {}) {
    const t = start({ reviewRequired: true, ...extra });
    t.child.send({ type: 'ASSIGN', slotId: 'slot-0', at: 2_000 });
    t.child.send({ type: 'FINISH', result: ok, at: 3_000 });
    return t;
  }

  it('awaits review after a successful run and tells the pool', () => {
    const t = inReview();
    expect(t.state()).toBe('pendingReview');
    expect(t.record()).toMatchObject({ state: 'pending_review', result: ok, completedAtMs: 3_000 });
    expect(t.sentOf('TASK.REVIEW')).toEqual([{ type: 'TASK.REVIEW', taskId: 't1' }]);
  });

  it('completes when approved', () => {
    const t = inReview();
    t.child.send({ type: 'APPROVE', at: 5_000 });
    expect(t.record()).toMatchObject({ state: 'completed', result: ok, completedAtMs: 5_000 });
  });

  it('goes back to the queue with the feedback after a rejection, without its old run', () => {
    const t = inReview({ prompt: 'write it', maxRejections: 3 });
    t.child.send({ type: 'REJECT', feedback: 'too short', at: 4_000 });
    expect(t.state()).toBe('pending');
    const record = t.record();
    expect(record).toMatchObject({ state: 'pending', rejectionCount: 1, originalPrompt: 'write it' });
    expect(record.prompt).toBe('write it\n\n--- Rejection feedback (attempt 1/3) ---\ntoo short');
    expect(record.slotId).toBeUndefined();
    expect(record.result).toBeUndefined();
    expect(record.startedAtMs).toBeUndefined();
    expect(record.completedAtMs).toBeUndefined();
    const requeued = t.sentOf('TASK.REQUEUED');
    expect(requeued).toHaveLength(1);
    expect(requeued[0]).toMatchObject({ taskId: 't1', record: { rejectionCount: 1, prompt: record.prompt } });
  });

  it('keeps the original prompt across a second rejection, with only the latest feedback', () => {
    const t = inReview({ prompt: 'write it', maxRejections: 3 });
    t.child.send({ type: 'REJECT', feedback: 'first', at: 4_000 });
    t.child.send({ type: 'ASSIGN', slotId: 'slot-0', at: 5_000 });
    t.child.send({ type: 'FINISH', result: ok, at: 6_000 });
    t.child.send({ type: 'REJECT', feedback: 'second', at: 7_000 });
    expect(t.record()).toMatchObject({
      rejectionCount: 2,
      originalPrompt: 'write it',
      prompt: 'write it\n\n--- Rejection feedback (attempt 2/3) ---\nsecond',
    });
    expect(t.sentOf('TASK.REVIEW')).toHaveLength(2);
  });

  it('fails for too many rejections, with success false, errorCode max_rejections and the count', () => {
    const t = inReview({ maxRejections: 2, rejectionCount: 1 });
    t.child.send({ type: 'REJECT', feedback: 'still wrong', at: 8_000 });
    expect(t.state()).toBe('failed');
    const record = t.record();
    expect(record.rejectionCount).toBe(2);
    expect(record.completedAtMs).toBe(8_000);
    expect(record.result).toEqual({
      output: 'task rejected 2 times (max: 2). Last feedback: still wrong',
      success: false,
      costMicrodollars: 0,
      turnsUsed: 0,
      elapsedMs: 0,
      errorCode: 'max_rejections',
      failure: { kind: 'max_rejections', rejections: 2 },
    });
    expect(t.sentOf('TASK.REQUEUED')).toEqual([]);
  });

  it('comes back awaiting review when restored in pending_review', () => {
    const t = start({ state: 'pending_review', reviewRequired: true, result: ok, completedAtMs: 3_000 });
    expect(t.state()).toBe('pendingReview');
    expect(t.record()).toMatchObject({ state: 'pending_review', completedAtMs: 3_000 });
    expect(t.sentOf('TASK.REVIEW')).toEqual([{ type: 'TASK.REVIEW', taskId: 't1' }]);
  });
});

describe('rejection helpers', () => {
  it('builds the next prompt from the original prompt and the latest feedback', () => {
    const record = taskRecord('t', {
      prompt: 'p + old feedback',
      originalPrompt: 'p',
      rejectionCount: 1,
      maxRejections: 4,
    });
    expect(rejectedPrompt(record, 'fb')).toBe('p\n\n--- Rejection feedback (attempt 2/4) ---\nfb');
    expect(rejectedPrompt(taskRecord('u', { prompt: 'q', maxRejections: 1 }), 'x')).toBe(
      'q\n\n--- Rejection feedback (attempt 1/1) ---\nx',
    );
  });
  it('counts this rejection in the failed result', () => {
    expect(rejectedTooOftenResult(taskRecord('t', { rejectionCount: 2, maxRejections: 3 }), 'no')).toMatchObject({
      output: 'task rejected 3 times (max: 3). Last feedback: no',
      failure: { kind: 'max_rejections', rejections: 3 },
    });
  });
});

describe('permission questions', () => {
  const question = (requestId: string) => ({
    requestId,
    toolName: 'Write',
    input: { file_path: `/w/${requestId}.txt` },
    requestedAtMs: 2_500,
    deadlineAtMs: 62_500,
  });

  it('waits in running.awaitingPermission while questions are open, and works again after the last answer', () => {
    const t = start();
    t.child.send({ type: 'ASSIGN', slotId: 'slot-0', at: 2_000 });
    expect(t.child.getSnapshot().value).toEqual({ running: 'working' });
    t.child.send({ type: 'PERMISSION.REQUESTED', request: question('q1') });
    expect(t.child.getSnapshot().value).toEqual({ running: 'awaitingPermission' });
    expect(t.record()).toMatchObject({ state: 'running', pendingPermissions: [question('q1')] });
    t.child.send({ type: 'PERMISSION.REQUESTED', request: question('q2') });
    t.child.send({ type: 'PERMISSION.ANSWERED', requestId: 'q1', at: 3_000 });
    expect(t.child.getSnapshot().value).toEqual({ running: 'awaitingPermission' });
    expect(t.record().pendingPermissions).toEqual([question('q2')]);
    t.child.send({ type: 'PERMISSION.ANSWERED', requestId: 'q2', at: 3_100 });
    expect(t.child.getSnapshot().value).toEqual({ running: 'working' });
    t.child.send({ type: 'FINISH', result: ok, at: 4_000 });
    expect(t.record().state).toBe('completed');
  });

  it('drops open questions when the task leaves Running (a cancel while waiting)', () => {
    const t = start();
    t.child.send({ type: 'ASSIGN', slotId: 'slot-0', at: 2_000 });
    t.child.send({ type: 'PERMISSION.REQUESTED', request: question('q1') });
    t.child.send({ type: 'CANCEL', at: 3_000 });
    expect(t.state()).toBe('cancelled');
    expect(t.record().pendingPermissions).toBeUndefined();
  });

  it('ignores questions outside Running', () => {
    const t = start();
    t.child.send({ type: 'PERMISSION.REQUESTED', request: question('q1') });
    expect(t.state()).toBe('pending');
    expect(t.record().pendingPermissions).toBeUndefined();
  });
});
