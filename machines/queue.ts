/**
 * The pool's FIFO of queued jobs, as an immutable value with O(1) amortised enqueue and dequeue.
 *
 * A queue is a window `[head, tail)` over an append-only array that versions share. Enqueueing onto the newest
 * version appends in place (older versions do not see past their own `tail`); enqueueing onto an older
 * version, after the array has moved on, copies its window first. Dequeueing moves `head`. The array is
 * compacted once most of it lies before `head`, so memory stays proportional to what is queued. Removing a
 * job from the middle (a cancel) copies the window: O(n), and rare. Every old version stays valid, which the
 * statechart's pure transitions (and model-based traversal, which branches from old snapshots) rely on.
 */
import type { SlotJob, TaskId } from './types.js';

/** A job waiting in the queue, with the time it was queued (its assignment deadline counts from there). */
export interface QueuedJob {
  job: SlotJob;
  /** Unix ms. */
  queuedAt: number;
}

/** An immutable FIFO of queued jobs. */
export interface JobQueue {
  /** Shared, append-only storage; only `[head, tail)` belongs to this version. */
  readonly items: readonly QueuedJob[];
  readonly head: number;
  readonly tail: number;
}

/** The empty queue. */
export function emptyQueue(): JobQueue {
  return { items: [], head: 0, tail: 0 };
}

/** How many jobs wait. */
export function queueLength(queue: JobQueue): number {
  return queue.tail - queue.head;
}

/** The oldest job, if any. */
export function peekQueue(queue: JobQueue): QueuedJob | undefined {
  return queue.head < queue.tail ? queue.items[queue.head] : undefined;
}

/** The queue with `entry` added at the back. */
export function enqueue(queue: JobQueue, entry: QueuedJob): JobQueue {
  const items = queue.items as QueuedJob[];
  if (items.length === queue.tail) {
    // This version owns the end of the shared array: append in place.
    items.push(entry);
    return { items, head: queue.head, tail: queue.tail + 1 };
  }
  const copy = items.slice(queue.head, queue.tail);
  copy.push(entry);
  return { items: copy, head: 0, tail: copy.length };
}

/** The queue without its oldest `count` jobs. */
export function dropFront(queue: JobQueue, count: number): JobQueue {
  const head = Math.min(queue.tail, queue.head + count);
  if (head === queue.tail) return emptyQueue();
  // Compact once the dead prefix is both large and most of the array.
  if (head > 1024 && head * 2 > queue.tail) {
    const items = queue.items.slice(head, queue.tail);
    return { items, head: 0, tail: items.length };
  }
  return { items: queue.items, head, tail: queue.tail };
}

/** The jobs in queue order (a copy). */
export function queuedJobs(queue: JobQueue): QueuedJob[] {
  return queue.items.slice(queue.head, queue.tail);
}

/** True when the task waits in the queue (O(n)). */
export function isQueued(queue: JobQueue, taskId: TaskId): boolean {
  for (let i = queue.head; i < queue.tail; i++) if (queue.items[i].job.taskId === taskId) return true;
  return false;
}

/** The queue without the given tasks (O(n)); the same queue when none of them waits. */
export function removeFromQueue(queue: JobQueue, taskIds: ReadonlySet<TaskId>): JobQueue {
  let found = false;
  for (let i = queue.head; i < queue.tail && !found; i++) found = taskIds.has(queue.items[i].job.taskId);
  if (!found) return queue;
  const items = queue.items.slice(queue.head, queue.tail).filter((entry) => !taskIds.has(entry.job.taskId));
  return { items, head: 0, tail: items.length };
}
