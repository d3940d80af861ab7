/**
 * The event streams served as server-sent events, each kept in an {@link EventLog} so that a reader can
 * resume with `Last-Event-ID`:
 * - a task's stream, fed by the task front's `task$(id)` and `taskOutput$(id)`;
 * - a chain's stream, fed by the chain front's `progress$(id)` (step starts, output, step results, the end);
 * - the pool's stream: every `pool.events$` event.
 * The fronts are the pool's own, or on a cluster node the cluster's, so any node streams any task or chain.
 * Nothing is polled. Task and chain logs are created on first use and kept (bounded) after they end.
 */
import { merge, map, type Subscription } from 'rxjs';
import type { ChainProgress, TaskId, TaskRecord } from '../../machines/types.js';
import type { PoolEvent } from '../observe.js';
import { poolChainFront, type ChainFront } from '../pool/chain-front.js';
import type { Pool } from '../pool/index.js';
import type { TaskFront } from '../pool/task-front.js';
import { wireObject, wireResult } from '../mcp/wire.js';
import { EventLog } from './event-log.js';

/** Options of {@link StreamHub}. */
export interface StreamHubOptions {
  /** Events kept per stream for resuming (default 1000). */
  replayCapacity?: number;
  /** Task and chain streams kept in memory; the oldest ended ones are dropped beyond this (default 500). */
  maxStreams?: number;
  /** Where task streams come from (default: the pool). */
  tasks?: TaskFront;
  /** Where chain streams come from (default: the pool). */
  chains?: ChainFront;
}

interface Feed {
  log: EventLog;
  subscription?: Subscription;
  /** The state (task) or status (chain) the stream ended on. */
  endedOn?: string;
}

/** The SSE events of a task record change; `end` says the stream is over. */
function taskEvent(task: TaskRecord): { event: string; data: unknown; end: boolean } {
  const result = task.result ? wireResult(task.result) : {};
  switch (task.state) {
    case 'completed':
      return { event: 'complete', data: { task_id: task.id, state: task.state, ...result }, end: true };
    case 'pending_review':
      return {
        event: 'complete',
        data: {
          task_id: task.id,
          state: task.state,
          review_required: true,
          rejection_count: task.rejectionCount,
          ...result,
        },
        end: true,
      };
    case 'failed':
      return { event: 'error', data: { task_id: task.id, state: task.state, ...result }, end: true };
    case 'cancelled':
      return { event: 'cancelled', data: { task_id: task.id, state: task.state }, end: true };
    default:
      return {
        event: 'state',
        data: { task_id: task.id, state: task.state, ...(task.slotId ? { slot_id: task.slotId } : {}) },
        end: false,
      };
  }
}

/** The pool's events as SSE payloads: the event type as the SSE event name, the event in wire form. */
function poolEventData(event: PoolEvent): unknown {
  return wireObject(event);
}

/** Keeps the stream logs of one pool. */
export class StreamHub {
  private readonly capacity: number;
  private readonly maxStreams: number;
  private readonly tasks = new Map<TaskId, Feed>();
  private readonly chains = new Map<TaskId, Feed>();
  private readonly poolFeed: Feed;
  private readonly taskFront: TaskFront;
  private readonly chainFront: ChainFront;

  constructor(pool: Pool, options: StreamHubOptions = {}) {
    this.taskFront = options.tasks ?? pool;
    this.chainFront = options.chains ?? poolChainFront(pool);
    this.capacity = options.replayCapacity ?? 1000;
    this.maxStreams = options.maxStreams ?? 500;
    const log = new EventLog(this.capacity);
    this.poolFeed = {
      log,
      subscription: pool.events$.subscribe({
        next: (event) => log.append(event.type, poolEventData(event)),
        complete: () => log.close(),
      }),
    };
  }

  /** The pool's event stream. */
  get poolLog(): EventLog {
    return this.poolFeed.log;
  }

  /**
   * A task's stream, started on first use. `state` is the task's current state, as its caller read it (a
   * stream that ended on another state goes on: a review was approved or rejected meanwhile). Throws or ends
   * with `TaskNotFound` for an unknown id.
   */
  taskLog(id: TaskId, state: string): EventLog {
    let feed = this.tasks.get(id);
    if (feed && !(feed.log.ended && feed.endedOn !== state)) return feed.log;
    const records = this.taskFront.task$(id); // a pool throws TaskNotFound here
    if (!feed) {
      feed = { log: new EventLog(this.capacity) };
      this.remember(this.tasks, id, feed);
    } else {
      // The task moved on after its stream ended (a review was approved or rejected): the stream goes on.
      feed.log.reopen();
      feed.endedOn = undefined;
    }
    const current = feed;
    let lastState: string | undefined;
    const output = this.taskFront.taskOutput$(id).pipe(map((text) => ({ kind: 'output' as const, text })));
    const changes = records.pipe(map((task) => ({ kind: 'record' as const, task })));
    current.subscription = merge(changes, output).subscribe({
      // A task that could not be read (gone from a cluster's records): its stream just ends.
      error: () => current.log.close(),
      next: (item) => {
        if (item.kind === 'output') {
          current.log.append('output', { task_id: id, text: item.text });
          return;
        }
        if (item.task.state === lastState) return;
        lastState = item.task.state;
        const { event, data, end } = taskEvent(item.task);
        current.log.append(event, data);
        if (end) {
          current.endedOn = item.task.state;
          current.log.close();
          current.subscription?.unsubscribe();
        }
      },
    });
    return current.log;
  }

  /** A chain's stream, started on first use; its caller has checked that the chain exists. */
  chainLog(id: TaskId): EventLog {
    const known = this.chains.get(id);
    if (known) return known.log;
    const progress$ = this.chainFront.progress$(id);
    const feed: Feed = { log: new EventLog(this.capacity) };
    this.remember(this.chains, id, feed);
    const log = feed.log;
    let reportedSteps = 0;
    let startedStep: number | undefined;
    let partialLength = 0;
    const report = (now: ChainProgress) => {
      while (reportedSteps < now.completedSteps.length) {
        const step = now.completedSteps[reportedSteps];
        log.append('step_complete', {
          step: reportedSteps,
          name: step.name,
          success: step.success,
          skipped: step.skipped,
          cost_microdollars: step.costMicrodollars,
        });
        reportedSteps += 1;
      }
      if (
        now.status === 'running' &&
        now.currentStep !== undefined &&
        now.currentStep !== startedStep &&
        now.currentStep >= reportedSteps
      ) {
        startedStep = now.currentStep;
        partialLength = 0;
        log.append('step_start', { step: now.currentStep, name: now.currentStepName ?? null });
      }
      const partial = now.currentStep === startedStep ? (now.currentStepPartialOutput ?? '') : '';
      if (partial.length > partialLength) {
        log.append('step_output', { step: startedStep, chunk: partial.slice(partialLength) });
        partialLength = partial.length;
      }
      if (now.status === 'running') return;
      const total = now.completedSteps.reduce((sum, step) => sum + step.costMicrodollars, 0);
      if (now.status === 'completed') {
        log.append('chain_complete', {
          chain_id: id,
          total_steps: now.totalSteps,
          total_cost_microdollars: total,
          success: true,
        });
      } else if (now.status === 'failed') {
        const failedAt = now.completedSteps.findIndex((step) => !step.success && !step.skipped);
        log.append('chain_failed', {
          chain_id: id,
          failed_at_step: failedAt === -1 ? now.completedSteps.length : failedAt,
        });
      } else {
        log.append('chain_cancelled', { chain_id: id });
      }
      feed.endedOn = now.status;
      log.close();
    };
    feed.subscription = progress$.subscribe({ next: report, complete: () => log.close(), error: () => log.close() });
    return log;
  }

  /** Stops feeding every stream and ends them. */
  close(): void {
    for (const feed of [this.poolFeed, ...this.tasks.values(), ...this.chains.values()]) {
      feed.subscription?.unsubscribe();
      feed.log.close();
    }
  }

  private remember(streams: Map<TaskId, Feed>, id: TaskId, feed: Feed): void {
    streams.set(id, feed);
    if (streams.size <= this.maxStreams) return;
    for (const [oldId, old] of streams) {
      if (streams.size <= this.maxStreams) break;
      if (old.log.ended) streams.delete(oldId);
    }
  }
}
