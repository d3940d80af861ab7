import { afterEach, describe, expect, it } from 'vitest';
import { InvalidTaskState } from '../../src/errors.js';
import { cleanupPools, eventually, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('review loop', () => {
  it('ends in PendingReview with a readable result; approve makes it Completed', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitWithReview('Draft the notes [[sim:text draft 1]]');
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    expect((await pool.result(id))?.output).toBe('draft 1');
    expect(pool.status().pendingReviewTasks).toBe(1);
    await pool.approveResult(id);
    const record = await pool.task(id);
    expect(record.state).toBe('completed');
    expect(record.result?.output).toBe('draft 1');
    await expect(pool.approveResult(id)).rejects.toThrow('is not pending review (state: completed)');
  });

  it('reject re-queues the task with the feedback appended to the original prompt', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitWithReview('Write a title [[sim:echo-args]]', undefined, ['docs'], 3);
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    await pool.rejectResult(id, 'Shorter, please.');
    const requeued = await pool.task(id);
    expect(requeued.rejectionCount).toBe(1);
    expect(requeued.prompt).toBe(
      'Write a title [[sim:echo-args]]\n\n--- Rejection feedback (attempt 1/3) ---\nShorter, please.',
    );
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    expect((await pool.result(id))?.output).toContain('Rejection feedback (attempt 1/3)');
    // Only the latest feedback is kept.
    await pool.rejectResult(id, 'Now in French.');
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    const second = await pool.task(id);
    expect(second.prompt).toContain('(attempt 2/3) ---\nNow in French.');
    expect(second.prompt).not.toContain('Shorter, please.');
  });

  it('fails the task at the last rejection, with how many times and the last feedback', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitWithReview('Name it', undefined, [], 2);
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    await pool.rejectResult(id, 'no');
    await eventually(async () => (await pool.task(id)).state === 'pending_review');
    await pool.rejectResult(id, 'still no');
    const record = await pool.task(id);
    expect(record.state).toBe('failed');
    expect(record.result?.output).toBe('task rejected 2 times (max: 2). Last feedback: still no');
    await expect(pool.rejectResult(id, 'x')).rejects.toBeInstanceOf(InvalidTaskState);
  });

  it('a failed run does not go to review; approve of a task not in review names its state; cancel works in review', async () => {
    const pool = await simPool((b) => b.slots(1));
    const failing = await pool.submitWithReview('Break [[sim:crash]]');
    await eventually(async () => (await pool.task(failing)).state === 'failed');
    const running = await pool.submitWithReview('Slow [[sim:delay 300]]');
    await eventually(async () => (await pool.task(running)).state === 'running');
    const error = await pool.approveResult(running).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTaskState);
    expect((error as Error).message).toBe(`task ${running} is not pending review (state: running)`);
    await eventually(async () => (await pool.task(running)).state === 'pending_review');
    await pool.cancel(running);
    expect((await pool.task(running)).state).toBe('cancelled');
  });
});
