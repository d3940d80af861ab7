/**
 * The job queue: FIFO order, versions that stay valid after later changes, removal and compaction.
 */
import { describe, expect, it } from 'vitest';
import {
  dropFront,
  emptyQueue,
  enqueue,
  isQueued,
  peekQueue,
  queueLength,
  queuedJobs,
  removeFromQueue,
  type JobQueue,
  type QueuedJob,
} from '../../machines/queue.js';

const entry = (taskId: string, queuedAt = 0): QueuedJob => ({ job: { taskId, prompt: `p ${taskId}` }, queuedAt });
const ids = (q: JobQueue) => queuedJobs(q).map((e) => e.job.taskId);
const fill = (names: string[], from: JobQueue = emptyQueue()) => names.reduce((q, n) => enqueue(q, entry(n)), from);

describe('job queue', () => {
  it('starts empty, holding no storage', () => {
    const q = emptyQueue();
    expect(q).toEqual({ items: [], head: 0, tail: 0 });
    expect(queueLength(q)).toBe(0);
    expect(peekQueue(q)).toBeUndefined();
    expect(queuedJobs(q)).toEqual([]);
  });

  it('gives jobs back oldest first', () => {
    let q = fill(['a', 'b', 'c']);
    expect(queueLength(q)).toBe(3);
    expect(peekQueue(q)?.job.taskId).toBe('a');
    q = dropFront(q, 1);
    expect(peekQueue(q)?.job.taskId).toBe('b');
    expect(ids(q)).toEqual(['b', 'c']);
    expect(queueLength(q)).toBe(2);
  });

  it('keeps the time each job was queued', () => {
    const q = enqueue(emptyQueue(), entry('a', 42));
    expect(peekQueue(q)).toEqual({ job: { taskId: 'a', prompt: 'p a' }, queuedAt: 42 });
  });

  it('empties when more jobs are dropped than wait', () => {
    const q = dropFront(fill(['a', 'b']), 5);
    expect(queueLength(q)).toBe(0);
    expect(peekQueue(q)).toBeUndefined();
    expect(q).toEqual(emptyQueue());
  });

  it('leaves older versions as they were', () => {
    const one = fill(['a']);
    const two = enqueue(one, entry('b'));
    const dropped = dropFront(two, 1);
    expect(ids(one)).toEqual(['a']);
    expect(ids(two)).toEqual(['a', 'b']);
    expect(ids(dropped)).toEqual(['b']);
    // Enqueueing onto an older version, after the storage moved on, does not disturb the newer one.
    const branch = enqueue(one, entry('x'));
    expect(ids(branch)).toEqual(['a', 'x']);
    expect(ids(two)).toEqual(['a', 'b']);
    const branchOfDropped = enqueue(dropFront(two, 1), entry('y'));
    expect(ids(branchOfDropped)).toEqual(['b', 'y']);
    expect(ids(enqueue(two, entry('z')))).toEqual(['a', 'b', 'z']);
    expect(ids(two)).toEqual(['a', 'b']);
  });

  it('stays empty after a job is queued onto it', () => {
    const empty = emptyQueue();
    const one = enqueue(empty, entry('a'));
    expect(peekQueue(empty)).toBeUndefined();
    expect(queueLength(empty)).toBe(0);
    expect(peekQueue(one)?.job.taskId).toBe('a');
  });

  it('appends in place when queueing onto the newest version (O(1)), and copies for an older one', () => {
    const one = fill(['a']);
    const two = enqueue(one, entry('b'));
    expect(two.items).toBe(one.items);
    const branch = enqueue(one, entry('x'));
    expect(branch.items).not.toBe(one.items);
  });

  it('copies on read, so a caller cannot change the queue', () => {
    const q = fill(['a', 'b']);
    const jobs = queuedJobs(q);
    jobs.pop();
    expect(ids(q)).toEqual(['a', 'b']);
  });

  it('says whether a task waits', () => {
    const q = dropFront(fill(['a', 'b', 'c']), 1);
    expect(isQueued(q, 'a')).toBe(false);
    expect(isQueued(q, 'b')).toBe(true);
    expect(isQueued(q, 'c')).toBe(true);
    expect(isQueued(q, 'd')).toBe(false);
    // A later version's jobs are not part of an earlier one.
    const longer = enqueue(q, entry('d'));
    expect(isQueued(longer, 'd')).toBe(true);
    expect(isQueued(q, 'd')).toBe(false);
  });

  it('removes given tasks from anywhere in the queue, keeping the order of the rest', () => {
    const q = dropFront(fill(['a', 'b', 'c', 'd', 'e']), 1);
    const removed = removeFromQueue(q, new Set(['c', 'e', 'zz']));
    expect(ids(removed)).toEqual(['b', 'd']);
    expect(queueLength(removed)).toBe(2);
    expect(ids(q)).toEqual(['b', 'c', 'd', 'e']);
    expect(ids(removeFromQueue(q, new Set(['b'])))).toEqual(['c', 'd', 'e']);
    expect(ids(removeFromQueue(q, new Set(['e'])))).toEqual(['b', 'c', 'd']);
  });

  it('returns the same queue when none of the tasks waits', () => {
    const q = dropFront(fill(['a', 'b']), 1);
    expect(removeFromQueue(q, new Set(['a', 'x']))).toBe(q);
    const later = enqueue(q, entry('c'));
    expect(removeFromQueue(q, new Set(['c']))).toBe(q);
    expect(ids(removeFromQueue(later, new Set(['c'])))).toEqual(['b']);
  });

  it('compacts its storage once most of it lies before the head, and keeps working', () => {
    const names = Array.from({ length: 3000 }, (_, i) => `t${i}`);
    let q = fill(names);
    q = dropFront(q, 1025);
    expect(q.head).toBe(1025);
    q = dropFront(q, 500);
    // 1525 dropped of 3000: the dead prefix is most of the array, so the storage is copied.
    expect(q.head).toBe(0);
    expect(q.items.length).toBe(1475);
    expect(peekQueue(q)?.job.taskId).toBe('t1525');
    expect(queueLength(q)).toBe(1475);
    q = enqueue(q, entry('last'));
    expect(ids(q).at(-1)).toBe('last');
    expect(queueLength(q)).toBe(1476);
  });

  it('does not compact a small dead prefix, nor one that is not most of the array', () => {
    let q = fill(Array.from({ length: 3000 }, (_, i) => `t${i}`));
    q = dropFront(q, 1024);
    expect(q.head).toBe(1024);
    q = dropFront(q, 476);
    // Exactly half dropped: not yet most of the array.
    expect(q.head).toBe(1500);
    q = dropFront(q, 1);
    expect(q.head).toBe(0);
    const small = dropFront(fill(['a', 'b', 'c', 'd']), 3);
    expect(small.head).toBe(3);
    expect(ids(small)).toEqual(['d']);
    const mostButSmall = dropFront(fill(Array.from({ length: 1030 }, (_, i) => `s${i}`)), 1024);
    expect(mostButSmall.head).toBe(1024);
  });
});
