/**
 * Model-based tests of the pool statechart (the supervisor).
 *
 * Level (a): generated paths replayed on the pool machine with stand-in children, so the pool hears exactly the
 * events of the path: what its slots, tasks and chains would report (SLOT.RUN_FINISHED with where the slot went,
 * SLOT.STATE, TASK.REVIEW, TASK.REQUEUED, XState's `xstate.done.actor.<task>`, CHAIN.ENDED) and its own timers
 * (ASSIGN_TIMEOUT, RESTART_SLOT, the drain timeout) are events of the model. Tasks are created by a stand-in
 * `startTask` in the actor system (not among the pool's children); slots and chains are recording stand-ins.
 * After every step the live pool must be where the model is, its invariants must hold, the timers XState holds
 * must be the ones its context says, every request gets its one decision, and its tasks and slots must have been
 * told what the step implies.
 *
 * Level (b): generated paths over the public operations replayed on the real Pool with the simulated agent:
 * submit, cancel, scale up/down, drain with and without a timeout; a pool started on a store that holds a task
 * awaiting review (RESTORE_REVIEW), then approved, rejected, cancelled or drained; a chain as a child of the
 * pool (started, cancelled at once, drained, cut short by the drain's timeout); claim, slot config, supervisor
 * start/stop and the requests a drained pool refuses.
 */
import { isDeepStrictEqual } from 'node:util';
import { taskRecord as baseTaskRecord } from '../support/records.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  assign,
  createActor,
  setup,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
} from 'xstate';
import { liveTaskIds, nextSlotIds, poolMachine, type PoolContext } from '../../machines/pool.js';
import { queuedJobs } from '../../machines/queue.js';
import { rejectedPrompt } from '../../machines/task.js';
import type { RunOutcome, SlotConfig, SlotRecord, TaskRecord, TaskResult } from '../../machines/types.js';
import { completePoolConfig } from '../../src/config.js';
import type { Pool } from '../../src/pool/index.js';
import { PoolShutdown } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memory.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import {
  actorsOf,
  Coverage,
  coverEdges,
  describeEdge,
  generatePaths,
  recordCoverage,
  replayPure,
  type GeneratedPath,
  type ModelSpec,
  type PureRun,
} from './harness.js';
import { compareStep, eventually } from './real.js';

const TASK_IDS = ['task-0', 'task-1'];
const CHAIN_ID = 'chain-0';
/** Slot ids stay below this (ids grow when older slots are removed). */
const MAX_SLOTS = 3;
/** The scaling bound: one slot fewer than ids may exist, so a scale-up past it is refused. */
const MAX_ACTIVE = 2;
/** The drain timeout of `DRAIN(…, timeout)`. */
const DRAIN_TIMEOUT_MS = 1_000;
/** The drain timeout's delayed event, as XState names it. */
const DRAIN_TIMEOUT = 'xstate.after.drainTimeout.pool.draining';

function taskRecord(id: string): TaskRecord {
  return baseTaskRecord(id, { createdAtMs: 0 });
}

/** A task restored from the store in PendingReview, with its result (a restart happened while it awaited review). */
function reviewRecord(id: string): TaskRecord {
  return {
    ...taskRecord(id),
    state: 'pending_review',
    reviewRequired: true,
    originalPrompt: `prompt of ${id}`,
    result: { output: 'done', success: true, costMicrodollars: 0, turnsUsed: 1, elapsedMs: 1 },
  };
}

function chainRecord(id: string): TaskRecord {
  return { ...taskRecord(id), kind: 'chain', prompt: `chain ${id}` };
}

function outcome(kind: RunOutcome['kind']): RunOutcome {
  return { kind, result: { output: kind, success: kind === 'ok', costMicrodollars: 0, turnsUsed: 1, elapsedMs: 1 } };
}

/** A run that ended on HTTP 529 (the API is overloaded): back-pressure queues its task again, or fails it. */
function overloaded(): RunOutcome {
  return {
    kind: 'ok',
    result: {
      output: 'API Error: 529',
      success: false,
      costMicrodollars: 0,
      turnsUsed: 1,
      elapsedMs: 1,
      apiErrorStatus: 529,
    },
  };
}

/** When a used-up rate-limit window resets, in the model's time (its clock stands at 1000). */
const WINDOW_RESET_MS = 5_000;

const queuedIds = (context: PoolContext): string[] => queuedJobs(context.queue).map((entry) => entry.job.taskId);
const activeSlots = (context: PoolContext) =>
  context.slotOrder.filter((id) => !context.removing.includes(id) && context.slotStates[id] !== 'stopped');

/** What can happen next: every public command, and every report its slots, tasks and chains could make now. */
function poolEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  const context = snapshot.context as PoolContext;
  const live = liveTaskIds(context);
  const queued = queuedIds(context);
  const reviewing = Object.keys(context.reviewing);
  const events: AnyEventObject[] = [];
  const free = TASK_IDS.find((id) => !live.includes(id));
  if (free) {
    events.push(
      { type: 'SUBMIT', record: taskRecord(free) },
      { type: 'RESTORE_REVIEW', record: reviewRecord(free) },
      // A finished run of a task that needs review: the task now awaits its reviewer.
      { type: 'TASK.REVIEW', taskId: free },
    );
    // A fan-out of every task id at once.
    const frees = TASK_IDS.filter((id) => !live.includes(id));
    events.push({ type: 'SUBMIT_MANY', requestId: 'batch', records: frees.map(taskRecord) });
    // A step of a live chain (admitted while draining, too).
    if (CHAIN_ID in context.chains) events.push({ type: 'SUBMIT', record: taskRecord(free), internal: true });
  }
  for (const taskId of live) {
    events.push({ type: 'CANCEL', taskId }, { type: 'APPROVE', taskId }, { type: 'REJECT', taskId, feedback: 'again' });
  }
  if (live.length > 1) events.push({ type: 'CANCEL_MANY', taskIds: [...live].sort() });
  // A task in review is rejected (queued again) or ends (approved, cancelled, rejected for the last time).
  for (const taskId of reviewing) {
    events.push({ type: 'TASK.REQUEUED', taskId, record: taskRecord(taskId) }, taskEnded(taskId));
  }
  if (context.assignDeadline !== undefined && queued.length > 0) events.push({ type: 'ASSIGN_TIMEOUT' });
  for (const [taskId, slotId] of Object.entries(context.running)) {
    const removing = context.removing.includes(slotId);
    events.push({
      type: 'SLOT.RUN_FINISHED',
      slotId,
      taskId,
      outcome: outcome('ok'),
      state: removing ? 'stopped' : 'idle',
    });
    if (slotId === 'slot-0' && !removing) {
      events.push({ type: 'SLOT.RUN_FINISHED', slotId, taskId, outcome: outcome('crashed'), state: 'errored' });
    }
    // Back-pressure: the run ends on HTTP 529; while it goes on, its agent reports an api_retry or a used-up window.
    events.push(
      { type: 'SLOT.RUN_FINISHED', slotId, taskId, outcome: overloaded(), state: removing ? 'stopped' : 'idle' },
      { type: 'AGENT.PRESSURE', slotId, taskId, signal: { kind: 'api_retry', status: 529, error: 'overloaded' } },
      {
        type: 'AGENT.PRESSURE',
        slotId,
        taskId,
        signal: { kind: 'rate_limit', status: 'rejected', resetsAtMs: WINDOW_RESET_MS },
      },
    );
  }
  // The pool's back-pressure timers: a task's backoff ends, a pause ends.
  for (const taskId of Object.keys(context.backpressure.waiting)) events.push({ type: 'PRESSURE.RETRY', taskId });
  if (context.backpressure.pausedUntil !== undefined) events.push({ type: 'PRESSURE.RESUME' });
  const assigned = new Set(Object.values(context.running));
  for (const slotId of context.slotOrder) {
    const view = context.slotStates[slotId];
    if (view === 'errored') {
      events.push({ type: 'SLOT.STATE', slotId, state: 'idle' }, { type: 'RESTART_SLOT', slotId });
    }
    if (view === 'busy' && assigned.has(slotId) && context.removing.includes(slotId)) {
      events.push({ type: 'SLOT.STATE', slotId, state: 'retiring' });
    }
    if (
      view !== 'stopped' &&
      !assigned.has(slotId) &&
      (context.removing.includes(slotId) || snapshot.value === 'stopped')
    ) {
      events.push({ type: 'SLOT.STATE', slotId, state: 'stopped' });
    }
  }
  events.push({ type: 'CLAIM', slotId: 'slot-0' });
  // New slots get ids after the highest in use, so ids grow when older slots are removed: keep them bounded.
  const [next] = nextSlotIds(context, 1);
  if (context.slotOrder.length < MAX_SLOTS && Number(next.slice('slot-'.length)) < MAX_SLOTS) {
    events.push({ type: 'SCALE_UP', requestId: 'scale', slots: [{ id: next, config: {} }] });
  }
  events.push({ type: 'SCALE_DOWN', requestId: 'scale', count: 1 });
  if (CHAIN_ID in context.chains) {
    events.push(
      { type: 'CANCEL_CHAIN', chainId: CHAIN_ID, immediate: true },
      { type: 'CANCEL_CHAIN', chainId: CHAIN_ID, immediate: false },
      { type: 'CHAIN.ENDED', chainId: CHAIN_ID },
    );
  } else {
    events.push({ type: 'START_CHAIN', record: chainRecord(CHAIN_ID), steps: CHAIN_STEPS, isolation: 'none' });
  }
  events.push(
    { type: 'CONFIGURE_SLOT', slotId: 'slot-0', config: { name: 'model' } },
    { type: 'SUPERVISOR.START' },
    { type: 'SUPERVISOR.STOP' },
    { type: 'DRAIN', queued: 'cancel' },
    { type: 'DRAIN', queued: 'finish' },
    { type: 'DRAIN', queued: 'cancel', timeoutMs: DRAIN_TIMEOUT_MS },
    { type: 'FORCE_STOP' },
    { type: DRAIN_TIMEOUT },
  );
  return events;
}

const CHAIN_STEPS = [{ name: 'one', action: { type: 'prompt' as const, prompt: 'one' } }];

// ---------------------------------------------------------------------------------------------------- stand-ins

/** In the current level-(a) run: the tasks the pool created, the decisions it emitted and its answers to claims. */
interface StandInLog {
  started: TaskRecord[];
  decisions: { requestId: string; refusal?: unknown }[];
  batches: { requestId: string; refusals: { taskId: string }[] }[];
  claims: AnyEventObject[];
}
let log: StandInLog = { started: [], decisions: [], batches: [], claims: [] };

/** A child that keeps its record and every event the pool sends it, never changes state and never talks back. */
function recording<Input>(id: string, recordOf: (input: Input) => unknown) {
  return setup({
    types: {
      context: {} as { record: unknown; received: AnyEventObject[] },
      input: {} as Input,
      events: {} as AnyEventObject,
    },
  }).createMachine({
    id,
    context: ({ input }) => ({ record: recordOf(input), received: [] }),
    // As a real task: its done event tells the parent which task ended.
    output: ({ context }) => {
      const record = context.record as { id: string; state: string };
      return { taskId: record.id, state: record.state };
    },
    initial: 'live',
    states: {
      live: {
        on: {
          // Only the harness sends this: the stand-in reaches a final state, as a real task does when it ends.
          'MODEL.END': 'ended',
          '*': { actions: assign(({ context, event }) => ({ received: [...context.received, event] })) },
        },
      },
      ended: { type: 'final' },
    },
  });
}
/** XState's done event of the task actor of `taskId` (every task actor has the id `task`). */
function taskEnded(taskId: string): AnyEventObject {
  return { type: 'xstate.done.actor.task', output: { taskId, state: 'completed' } };
}

const standInSlot = recording('slot', (input: { record: SlotRecord }) => input.record);
const standInChain = recording('chain', (input: { record: TaskRecord }) => input.record);
const standInTask = recording('task', (input: TaskRecord) => input);

/**
 * The stand-in for `startTask`: a recording task actor, a child of the pool in its actor system (as the real one).
 * A model id is used again once the pool has let its task go: the old stand-in is retired first.
 */
function startStandInTask({ self }: { self: AnyActorRef }, params: { record: TaskRecord }): void {
  const { record } = params;
  const old = self.system.get(record.id) as AnyActorRef | undefined;
  // A real task never shares its id; the stand-in of the earlier one just leaves the registry, unheard.
  if (old) (self.system as unknown as { _unregister(ref: AnyActorRef): void })._unregister(old);
  log.started.push(record);
  // Like the real action, from a resolved snapshot (so nothing runs while the pool's action does).
  const snapshot = standInTask.resolveState({ value: 'live', context: { record, received: [] } });
  createActor(standInTask as AnyStateMachine, { parent: self, id: 'task', systemId: record.id, snapshot }).start();
}

const standIns = {
  actors: { slot: standInSlot, chain: standInChain },
  actions: { startTask: startStandInTask },
};

function label(event: AnyEventObject): string {
  switch (event.type) {
    case 'SUBMIT':
      return `SUBMIT ${(event.record as TaskRecord).id}${event.internal ? ' (chain step)' : ''}`;
    case 'SUBMIT_MANY':
      return `SUBMIT_MANY ${(event.records as TaskRecord[]).map((record) => record.id).join(',')}`;
    case 'RESTORE_REVIEW':
    case 'START_CHAIN':
      return `${event.type} ${(event.record as TaskRecord).id}`;
    case 'SLOT.RUN_FINISHED': {
      const run = event.outcome as RunOutcome;
      const kind = run.result.apiErrorStatus === undefined ? run.kind : `HTTP ${run.result.apiErrorStatus}`;
      return `SLOT.RUN_FINISHED ${event.taskId}@${event.slotId} ${kind}→${event.state}`;
    }
    case 'AGENT.PRESSURE':
      return `AGENT.PRESSURE ${(event.signal as { kind: string }).kind} (${event.taskId})`;
    case 'SLOT.STATE':
      return `SLOT.STATE ${event.slotId}=${event.state}`;
    case 'SCALE_UP':
      return `SCALE_UP ${(event.slots as { id: string }[]).map((s) => s.id).join(',')}`;
    case 'SCALE_DOWN':
      return `SCALE_DOWN ${event.count}`;
    case 'DRAIN':
      return `DRAIN(${event.queued}${event.timeoutMs === undefined ? '' : `, ${event.timeoutMs} ms`})`;
    case 'CANCEL_CHAIN':
      return `CANCEL_CHAIN ${event.chainId}${event.immediate ? ' now' : ''}`;
    case 'CANCEL_MANY':
      return `CANCEL_MANY ${(event.taskIds as string[]).join(',')}`;
    case DRAIN_TIMEOUT:
      return 'after drainTimeout';
    default: {
      if (event.type === 'xstate.done.actor.task') return `${(event.output as { taskId: string }).taskId} ended`;
      const target = event.taskId ?? event.slotId ?? event.chainId;
      return target ? `${event.type} ${target}` : event.type;
    }
  }
}

/** What identifies a pool state: its state and the context fields its decisions depend on. */
function abstract(snapshot: AnyMachineSnapshot): unknown {
  const context = snapshot.context as PoolContext;
  return {
    value: snapshot.value,
    queue: queuedIds(context),
    running: context.running,
    reviewing: Object.keys(context.reviewing).sort(),
    chains: Object.keys(context.chains).sort(),
    slotOrder: context.slotOrder,
    slotStates: context.slotStates,
    removing: context.removing,
    supervising: context.supervising,
    reservations: context.ledger.reservations,
    drainCancelled: context.drainCancelled,
    assignTimer: context.assignDeadline !== undefined,
    drainTimeoutMs: context.drainTimeoutMs,
    backpressure: {
      limit: context.backpressure.limit,
      paused: context.backpressure.pausedUntil !== undefined,
      attempts: context.backpressure.attempts,
      waiting: Object.keys(context.backpressure.waiting).sort(),
      cancelledRuns: Object.keys(context.backpressure.cancelledRuns).sort(),
    },
  };
}

/** The timers the pool actor has scheduled in its system now: id → delayed event. */
function scheduled(run: PureRun): Map<string, { event: AnyEventObject; delay: number }> {
  const events = (
    run.actor.system as unknown as {
      getSnapshot(): {
        _scheduledEvents: Record<string, { source: AnyActorRef; id: string; event: AnyEventObject; delay: number }>;
      };
    }
  ).getSnapshot()._scheduledEvents;
  return new Map(
    Object.values(events)
      .filter((entry) => entry.source === run.actor)
      .map((entry) => [entry.id, entry]),
  );
}

/** The supervisor's invariants, checked after every step of every path. */
function checkInvariants(snapshot: AnyMachineSnapshot): void {
  const context = snapshot.context as PoolContext;
  const queued = queuedIds(context);
  const running = Object.entries(context.running);
  const live = liveTaskIds(context);
  expect(new Set(live).size, `a task is in two of queue / running / reviewing: ${live}`).toBe(live.length);
  const busySlots = running.map(([, slotId]) => slotId);
  expect(new Set(busySlots).size, 'two tasks run on one slot').toBe(busySlots.length);
  for (const [taskId, slotId] of running) {
    expect(context.slotOrder, `${taskId} runs on a slot the pool does not have`).toContain(slotId);
    expect(
      ['busy', 'retiring'],
      `${slotId} runs ${taskId} but the pool sees it ${context.slotStates[slotId]}`,
    ).toContain(context.slotStates[slotId]);
  }
  for (const slotId of context.slotOrder) {
    if (context.slotStates[slotId] === 'busy') expect(busySlots, `${slotId} is busy with nothing`).toContain(slotId);
  }
  expect(Object.keys(context.ledger.reservations).sort(), 'reservations are exactly the running tasks').toEqual(
    Object.keys(context.running).sort(),
  );
  expect(Object.keys(context.runningJobs).sort()).toEqual(Object.keys(context.running).sort());
  expect(Object.keys(context.slotStates).sort()).toEqual([...context.slotOrder].sort());
  expect(Object.keys(context.slots).sort()).toEqual([...context.slotOrder].sort());
  for (const id of context.removing) expect(context.slotOrder).toContain(id);
  // One assignment timer, armed exactly while something waits, never later than the head's deadline.
  const head = queuedJobs(context.queue)[0];
  expect(context.assignDeadline !== undefined, 'the assignment timer is armed iff something waits').toBe(
    head !== undefined,
  );
  if (head && context.assignDeadline !== undefined) {
    expect(context.assignDeadline).toBeLessThanOrEqual(head.queuedAt + context.config.slotAssignmentTimeoutSecs * 1000);
  }
  expect(context.phase).toBe(snapshot.value);
  if (snapshot.value === 'stopped') {
    expect(queued, 'a stopped pool has a queue').toEqual([]);
    expect(running, 'a stopped pool runs tasks').toEqual([]);
    expect(Object.keys(context.chains), 'a stopped pool has chains').toEqual([]);
    expect(context.supervising).toBe(false);
  }
  if (snapshot.value === 'draining') {
    const waiting = Object.keys(context.backpressure.waiting).length;
    expect(queued.length + running.length + Object.keys(context.chains).length + waiting).toBeGreaterThan(0);
  }
  // Back-pressure: a task in backoff has used a retry; the limit stays within [1, slots); a stopped pool waits for nothing.
  for (const taskId of Object.keys(context.backpressure.waiting)) {
    expect(context.backpressure.attempts[taskId], `${taskId} waits without a counted retry`).toBeGreaterThan(0);
  }
  const limit = context.backpressure.limit;
  if (limit !== undefined) expect(limit).toBeGreaterThanOrEqual(context.config.backpressure.minConcurrency);
  if (snapshot.value === 'stopped') {
    expect(context.backpressure.waiting, 'a stopped pool has tasks in backoff').toEqual({});
  }
}

/** Checks the live run against what the pool must have done: timers, children, decisions. */
function checkEffects(run: PureRun, event: AnyEventObject, before: AnyMachineSnapshot): void {
  const snapshot = run.actor.getSnapshot() as AnyMachineSnapshot;
  const context = snapshot.context as PoolContext;
  const prior = before.context as PoolContext;
  checkInvariants(snapshot);
  // The timers XState holds for the pool are the ones its context says are armed.
  const timers = scheduled(run);
  expect(timers.has('assign-timeout'), 'the scheduled assignment timer').toBe(context.assignDeadline !== undefined);
  // The drain's timer is set on entering Draining (for no time at all when the drain has no timeout) and fires once.
  if (event.type === DRAIN_TIMEOUT) drainTimerFired.add(run);
  // One retry timer per task in backoff, one resume timer while paused; none once the pool has stopped.
  const retryTimers = [...timers.keys()].filter((id) => id.startsWith('retry:')).sort();
  expect(retryTimers, 'the retry timers').toEqual(
    Object.keys(context.backpressure.waiting)
      .map((id) => `retry:${id}`)
      .sort(),
  );
  expect(timers.has('pressure-resume'), 'the resume timer').toBe(
    context.backpressure.pausedUntil !== undefined && snapshot.value !== 'stopped',
  );
  const drainTimer = [...timers.values()].find((timer) => timer.event.type === DRAIN_TIMEOUT);
  const drainTimerDue = snapshot.value === 'draining' && !drainTimerFired.has(run);
  expect(drainTimer?.delay, 'the drain timeout').toBe(drainTimerDue ? (context.drainTimeoutMs ?? 0) : undefined);
  // Chains are children of the pool, registered in the system under their id.
  expect(Object.keys(snapshot.children).filter((id) => id.startsWith('chain-'))).toEqual(Object.keys(context.chains));
  for (const chainId of [CHAIN_ID]) {
    expect(run.actor.system.get(chainId) !== undefined, `${chainId} in the system`).toBe(chainId in context.chains);
  }
  // Queued and running tasks the pool created have a live task actor in the system (not among its children).
  // (A task the model lets report TASK.REVIEW out of the blue has none.)
  const created = new Set(log.started.map((record) => record.id));
  for (const taskId of [...queuedIds(context), ...Object.keys(context.running)].filter((id) => created.has(id))) {
    expect((run.actor.system.get(taskId) as AnyActorRef | undefined)?.getSnapshot().status, `${taskId}'s actor`).toBe(
      'active',
    );
    expect(snapshot.children).not.toHaveProperty(taskId);
  }
  // Every request that needs an answer gets exactly one, with its id; an accepted one took effect.
  const { decisions, batches, started, claims } = takeNew(run);
  // A batch is answered once, with the tasks refused; the accepted ones are created, in order.
  if (event.type === 'SUBMIT_MANY') {
    expect(batches.map((b) => b.requestId)).toEqual([event.requestId]);
    const refused = new Set(batches[0].refusals.map((r) => r.taskId));
    const ids = (event.records as TaskRecord[]).map((record) => record.id);
    const shouldAccept = before.value === 'running';
    expect(refused.size === 0, `SUBMIT_MANY accepted in ${String(before.value)}`).toBe(shouldAccept);
    expect(refused.size === 0 || refused.size === ids.length).toBe(true);
    expect(started.map((r) => r.id)).toEqual(ids.filter((id) => !refused.has(id)));
    const accepted = ids.filter((id) => !refused.has(id));
    const queued = queuedIds(context).filter((id) => accepted.includes(id));
    expect(queued, 'queued in input order').toEqual(accepted.filter((id) => queued.includes(id)));
  } else {
    expect(batches).toEqual([]);
  }
  checkMessages(run, event, before, claims);
  const asks = ['SUBMIT', 'START_CHAIN', 'SCALE_UP', 'SCALE_DOWN'];
  if (!asks.includes(event.type)) {
    expect(decisions).toEqual([]);
  } else {
    const requestId = event.type.startsWith('SCALE') ? event.requestId : (event.record as TaskRecord).id;
    expect(decisions.map((d) => d.requestId)).toEqual([requestId]);
    const accepted = decisions[0].refusal === undefined;
    if (event.type === 'SUBMIT') {
      expect(
        started.map((r) => r.id),
        'an accepted task is created',
      ).toEqual(accepted ? [requestId] : []);
      const shouldAccept = before.value === 'running' || (before.value === 'draining' && event.internal === true);
      expect(accepted, `SUBMIT accepted in ${String(before.value)}`).toBe(shouldAccept);
    }
    if (event.type === 'START_CHAIN') expect(requestId in context.chains).toBe(accepted);
    if (event.type === 'SCALE_UP') expect(context.slotOrder.length > prior.slotOrder.length).toBe(accepted);
    if (event.type === 'SCALE_DOWN') expect(context.removing.length > prior.removing.length).toBe(accepted);
  }
  if (event.type === 'RESTORE_REVIEW') expect(started.map((r) => r.state)).toEqual(['pending_review']);
  else if (event.type !== 'SUBMIT' && event.type !== 'SUBMIT_MANY') expect(started).toEqual([]);
  // Cancelling a chain reaches it; the drain tells chains to stop submitting, the timeout to stop now.
  const chain = run.actor.system.get(CHAIN_ID) as AnyActorRef | undefined;
  if (chain && CHAIN_ID in prior.chains) {
    const received = newlyReceived(chain);
    const expected: AnyEventObject[] = [];
    if (event.type === 'CANCEL_CHAIN') expect(received).toEqual([{ type: 'CANCEL', immediate: event.immediate }]);
    else if (event.type === 'DRAIN' && event.queued === 'cancel' && before.value === 'running') {
      expect(received).toEqual([{ type: 'CANCEL', immediate: false }]);
    } else if (
      (event.type === 'FORCE_STOP' || (event.type === DRAIN_TIMEOUT && prior.drainTimeoutMs !== undefined)) &&
      before.value === 'draining'
    ) {
      expect(received).toEqual([{ type: 'CANCEL', immediate: true }]);
    } else expect(received).toEqual(expected);
  }
}

const receivedBefore = new WeakMap<AnyActorRef, number>();

/** What a stand-in child was sent since the last check. */
function newlyReceived(ref: AnyActorRef | undefined): AnyEventObject[] {
  if (!ref) return [];
  const { received } = ref.getSnapshot().context as { received: AnyEventObject[] };
  const from = receivedBefore.get(ref) ?? 0;
  receivedBefore.set(ref, received.length);
  return received.slice(from);
}

/**
 * What the pool told its tasks and slots in this step: a task it starts is assigned and its slot told to run
 * it; a task it fails hears why; a cancelled one is cancelled (its run, too); a run's end reaches its task;
 * the drain's timeout cancels every run; a stopped pool stops every slot; a claim answers with what it took.
 */
function checkMessages(
  run: PureRun,
  event: AnyEventObject,
  before: AnyMachineSnapshot,
  claims: StandInLog['claims'],
): void {
  const after = run.actor.getSnapshot() as AnyMachineSnapshot;
  const prior = before.context as PoolContext;
  const context = after.context as PoolContext;
  const created = new Set(log.started.map((record) => record.id));
  const toTask = new Map<string, AnyEventObject[]>();
  for (const id of TASK_IDS) {
    const ref = run.actor.system.get(id) as AnyActorRef | undefined;
    toTask.set(id, created.has(id) ? newlyReceived(ref) : []);
  }
  const toSlot = new Map<string, AnyEventObject[]>();
  for (const id of new Set([...prior.slotOrder, ...context.slotOrder])) {
    toSlot.set(id, newlyReceived(run.actor.system.get(id) as AnyActorRef | undefined));
  }
  const types = (events: AnyEventObject[] | undefined) => (events ?? []).map((e) => e.type);
  // Starts.
  const started = Object.entries(context.running).filter(([taskId]) => !(taskId in prior.running));
  for (const [taskId, slotId] of started) {
    if (created.has(taskId))
      expect(toTask.get(taskId), `${taskId} is assigned`).toContainEqual({ type: 'ASSIGN', slotId, at: 1_000 });
    expect(toSlot.get(slotId)?.find((e) => e.type === 'RUN')?.job, `${slotId} runs ${taskId}`).toMatchObject({
      taskId,
    });
  }
  if (event.type === 'CLAIM') {
    const onSlot = started.find(([, slotId]) => slotId === event.slotId)?.[0];
    expect(claims, 'a claim answers with what it took').toEqual([
      { type: 'claimed', slotId: event.slotId, taskId: onSlot },
    ]);
  }
  // Tasks that left the queue without starting: cancelled, or failed (no slot could take them).
  const cancels = ['CANCEL', 'CANCEL_MANY', 'DRAIN', 'FORCE_STOP', DRAIN_TIMEOUT].includes(event.type);
  const left = queuedIds(prior).filter(
    (id) => !queuedIds(context).includes(id) && !(id in context.running) && created.has(id),
  );
  for (const taskId of left) {
    if (cancels) expect(types(toTask.get(taskId)), `${taskId} is cancelled`).toContain('CANCEL');
    else {
      const fail = toTask.get(taskId)?.find((e) => e.type === 'FAIL');
      expect((fail?.result as TaskResult | undefined)?.failure?.kind, `${taskId} fails`).toBe('no_slot_available');
    }
  }
  // A run's end reaches its task, as a result.
  if (
    event.type === 'SLOT.RUN_FINISHED' &&
    (event.taskId as string) in prior.running &&
    created.has(event.taskId as string)
  ) {
    const taskId = event.taskId as string;
    const kind = (event.outcome as RunOutcome).kind === 'ok' ? 'FINISH' : 'FAIL';
    if (taskId in context.backpressure.waiting) {
      // Overloaded: the task waits out its backoff, still running as far as it knows.
      expect(types(toTask.get(taskId)), `${taskId} goes into backoff`).toEqual([]);
    } else {
      expect(types(toTask.get(taskId))).toEqual([kind]);
      const result = toTask.get(taskId)?.[0]?.result as TaskResult | undefined;
      if ((event.outcome as RunOutcome).result.apiErrorStatus === 529) {
        // Its retries used up (or the pool stopped): it fails as rate limited.
        expect(result?.failure).toEqual({
          kind: 'rate_limited',
          status: 529,
          attempts: prior.backpressure.attempts[taskId] ?? 0,
        });
      }
    }
  }
  // A task whose backoff ended is queued again (or started at once); one that left backoff otherwise was cancelled.
  for (const taskId of Object.keys(prior.backpressure.waiting).filter((id) => !(id in context.backpressure.waiting))) {
    const requeued = queuedIds(context).includes(taskId) || taskId in context.running;
    if (event.type === 'PRESSURE.RETRY' && event.taskId === taskId)
      expect(requeued, `${taskId} is queued again`).toBe(true);
    else if (created.has(taskId)) expect(types(toTask.get(taskId)), `${taskId} is cancelled`).toContain('CANCEL');
  }
  // Cancels reach the task and its run.
  const cancelled =
    event.type === 'CANCEL'
      ? [event.taskId as string]
      : event.type === 'CANCEL_MANY'
        ? (event.taskIds as string[])
        : [];
  const forced =
    before.value === 'draining' &&
    (event.type === 'FORCE_STOP' || (event.type === DRAIN_TIMEOUT && prior.drainTimeoutMs !== undefined));
  // (A cancel reaches a run through its live task: the model's tasks that report TASK.REVIEW out of the blue have none.)
  const cancelledRuns = forced
    ? Object.keys(prior.running)
    : cancelled.filter((id) => id in prior.running && created.has(id));
  for (const taskId of cancelled.filter((id) => created.has(id))) expect(types(toTask.get(taskId))).toContain('CANCEL');
  for (const taskId of cancelledRuns) {
    if (created.has(taskId)) expect(types(toTask.get(taskId))).toContain('CANCEL');
    expect(toSlot.get(prior.running[taskId]), `the run of ${taskId} is cancelled`).toContainEqual({
      type: 'CANCEL_RUN',
      taskId,
    });
  }
  // Entering Stopped stops every slot; a scale-down retires its victims; a supervised restart restarts.
  if (after.value === 'stopped' && before.value !== 'stopped') {
    for (const id of context.slotOrder) expect(types(toSlot.get(id)), `${id} is stopped`).toContain('STOP');
  }
  for (const id of context.removing.filter((slotId) => !prior.removing.includes(slotId))) {
    expect(types(toSlot.get(id)), `${id} is retired`).toEqual(['RETIRE']);
  }
  if (event.type === 'RESTART_SLOT') {
    const restarts = prior.supervising && prior.slotStates[event.slotId as string] === 'errored';
    expect(types(toSlot.get(event.slotId as string))).toEqual(restarts ? ['RESTART'] : []);
  }
  // A task re-queued after the pool stopped taking work fails; while running, it is queued again.
  if (event.type === 'TASK.REQUEUED' && before.value !== 'running' && created.has(event.taskId as string)) {
    const fail = toTask.get(event.taskId as string)?.find((e) => e.type === 'FAIL');
    expect((fail?.result as TaskResult | undefined)?.failure?.kind).toBe('pool_shutdown');
  }
  // Reviews reach the task.
  if ((event.type === 'APPROVE' || event.type === 'REJECT') && created.has(event.taskId as string)) {
    expect(types(toTask.get(event.taskId as string))).toContain(event.type);
  }
}
/** Runs whose drain timer has fired. */
const drainTimerFired = new WeakSet<PureRun>();

/** Per level-(a) run: the decisions emitted and tasks created since the last check. */
const seen = new WeakMap<PureRun, { decisions: number; batches: number; started: number; claims: number }>();
function takeNew(run: PureRun): {
  decisions: StandInLog['decisions'];
  batches: StandInLog['batches'];
  started: TaskRecord[];
  claims: StandInLog['claims'];
} {
  const at = seen.get(run) ?? { decisions: 0, batches: 0, started: 0, claims: 0 };
  seen.set(run, {
    decisions: log.decisions.length,
    batches: log.batches.length,
    started: log.started.length,
    claims: log.claims.length,
  });
  return {
    decisions: log.decisions.slice(at.decisions),
    batches: log.batches.slice(at.batches),
    started: log.started.slice(at.started),
    claims: log.claims.slice(at.claims),
  };
}

function input(slots: number) {
  return {
    // No assignment wait: an ASSIGN_TIMEOUT fails everything queued (the pool's clock does not move here).
    config: completePoolConfig({
      maxRestarts: 1,
      slotAssignmentTimeoutSecs: 0,
      scaling: { minSlots: 1, maxSlots: MAX_ACTIVE },
    }),
    slots: Array.from({ length: slots }, (_, i) => ({ id: `slot-${i}`, config: {} })),
    clock: () => 1_000,
    cancelGraceMs: 100,
    restartDelayMs: 50,
  };
}

/** The pool's events restricted to some types (each scenario explores one concern, so its state graph stays small). */
function only(...types: string[]): (snapshot: AnyMachineSnapshot) => AnyEventObject[] {
  return (snapshot) =>
    poolEvents(snapshot).filter(
      (event) =>
        (types.includes(event.type) || (types.includes('TASK.ENDED') && event.type === 'xstate.done.actor.task')) &&
        // Runs that end on HTTP 529 only where back-pressure is explored.
        (types.includes('AGENT.PRESSURE') || !isOverloaded(event)),
    );
}

/** A run's end on HTTP 529. */
function isOverloaded(event: AnyEventObject): boolean {
  return event.type === 'SLOT.RUN_FINISHED' && (event.outcome as RunOutcome).result.apiErrorStatus !== undefined;
}

/** The reports of slots and tasks (`TASK.ENDED` stands for XState's `xstate.done.actor.<task>`). */
const REPORTS = ['SLOT.RUN_FINISHED', 'SLOT.STATE', 'TASK.REQUEUED', 'TASK.REVIEW', 'TASK.ENDED'];

const spec: ModelSpec = {
  name: 'pool',
  machine: poolMachine,
  scenarios: [
    {
      name: 'dispatch',
      input: input(1),
      events: only('SUBMIT', 'CANCEL', 'CANCEL_MANY', 'APPROVE', 'REJECT', 'ASSIGN_TIMEOUT', 'CLAIM', ...REPORTS),
      onlyListed: true,
    },
    {
      name: 'scaling',
      input: input(2),
      events: only('SUBMIT', 'SCALE_UP', 'SCALE_DOWN', 'CONFIGURE_SLOT', 'SLOT.RUN_FINISHED', 'SLOT.STATE'),
      onlyListed: true,
    },
    {
      name: 'supervision',
      input: input(1),
      events: only('SUBMIT', 'SUPERVISOR.START', 'SUPERVISOR.STOP', 'RESTART_SLOT', 'SLOT.RUN_FINISHED', 'SLOT.STATE'),
      onlyListed: true,
    },
    {
      name: 'drain',
      input: input(1),
      // Scaling is refused once the pool drains (one slot: a scale-down is refused while running, too; a
      // scale-up is tried only once the pool drains, so the running pool keeps its one slot).
      events: (snapshot) =>
        only(
          'SUBMIT',
          'SUBMIT_MANY',
          'DRAIN',
          'FORCE_STOP',
          DRAIN_TIMEOUT,
          'CANCEL',
          'SCALE_UP',
          'SCALE_DOWN',
          'SLOT.RUN_FINISHED',
          'SLOT.STATE',
          'TASK.REQUEUED',
          'TASK.REVIEW',
          'TASK.ENDED',
        )(snapshot).filter((event) => event.type !== 'SCALE_UP' || snapshot.value !== 'running'),
      onlyListed: true,
    },
    {
      // Back-pressure: runs that end on HTTP 529 (their tasks wait out a backoff, then are queued again, or fail
      // past the retry limit), api_retry and used-up-window signals, the timers' events, cancels and drains.
      name: 'backpressure',
      input: {
        ...input(2),
        config: completePoolConfig({
          slotAssignmentTimeoutSecs: 0,
          scaling: { minSlots: 1, maxSlots: MAX_ACTIVE },
          backpressure: { retryLimit: 1, backoffBaseMs: 1_000, backoffMaxMs: 1_000 },
        }),
        random: () => 0.5,
      },
      events: (snapshot) =>
        only(
          'SUBMIT',
          'CANCEL',
          'SLOT.RUN_FINISHED',
          'AGENT.PRESSURE',
          'PRESSURE.RETRY',
          'PRESSURE.RESUME',
          'DRAIN',
          'FORCE_STOP',
        )(snapshot).filter(
          (event) =>
            (event.type !== 'DRAIN' || event.timeoutMs === undefined) &&
            (event.type !== 'SLOT.RUN_FINISHED' || (event.outcome as RunOutcome).kind === 'ok'),
        ),
      onlyListed: true,
    },
    {
      // Tasks restored in PendingReview next to submitted ones: reviewed (their tasks then end or are requeued).
      name: 'restore',
      input: input(1),
      events: only('RESTORE_REVIEW', 'SUBMIT', 'APPROVE', 'REJECT', 'CANCEL', ...REPORTS),
      onlyListed: true,
    },
    {
      // Chains as children of the pool: started (admitted like a task), submitting their steps (still admitted
      // while the pool drains), cancelled, ended; a drain cancels them, its timeout cancels them at once.
      name: 'chains',
      input: input(1),
      events: (snapshot) =>
        only(
          'START_CHAIN',
          'CANCEL_CHAIN',
          'CHAIN.ENDED',
          'SUBMIT',
          'DRAIN',
          'FORCE_STOP',
          DRAIN_TIMEOUT,
          'SLOT.RUN_FINISHED',
          'SLOT.STATE',
        )(snapshot).filter(
          (event) =>
            // Only chain steps, one at a time; the drains that cancel.
            (event.type !== 'SUBMIT' ||
              (event.internal === true && liveTaskIds(snapshot.context as PoolContext).length === 0)) &&
            (event.type !== 'DRAIN' || event.queued === 'cancel'),
        ),
      onlyListed: true,
    },
  ],
  abstract,
  // Paths are kept per coarse state: the statechart state, how much is queued, running and in review, the
  // slots, the chains, the flags and the timers.
  coverageKey: (snapshot) => {
    const context = snapshot.context as PoolContext;
    return [
      snapshot.value,
      queuedIds(context).length,
      Object.keys(context.running).length,
      Object.keys(context.reviewing).length,
      Object.keys(context.chains).length,
      activeSlots(context).length,
      context.removing.length,
      Object.values(context.slotStates).includes('errored'),
      context.supervising,
      context.drainTimeoutMs !== undefined,
      Object.keys(context.backpressure.waiting).length,
      context.backpressure.limit,
      context.backpressure.pausedUntil !== undefined,
    ];
  },
  eventLabel: label,
  simpleDepth: 5,
  maxSimplePaths: 150,
  traversalLimit: 400_000,
  implementations: standIns,
  apply: (run, event) => {
    if (!seen.has(run)) {
      // A new run: record what the pool answers from now on.
      log = { started: [], decisions: [], batches: [], claims: [] };
      run.actor.on('decision', (e) => log.decisions.push(e as StandInLog['decisions'][number]));
      run.actor.on('decisions', (e) => log.batches.push(e as StandInLog['batches'][number]));
      run.actor.on('claimed', (e) => log.claims.push(e as StandInLog['claims'][number]));
      seen.set(run, { decisions: 0, batches: 0, started: 0, claims: 0 });
    }
    if (event.type === 'xstate.done.actor.task') {
      // The task reaches a final state; XState tells its parent, the pool.
      const task = run.actor.system.get((event.output as { taskId: string }).taskId) as AnyActorRef | undefined;
      if (task?.getSnapshot().status === 'active') {
        task.send({ type: 'MODEL.END' });
        return true;
      }
    }
    // The pool's own timers fire when the path says (the clock does not move): as XState's scheduler does, the
    // timer is taken off the schedule and its event delivered. A drain timeout must be scheduled.
    const timer = [...scheduled(run)].find(([, entry]) => isDeepStrictEqual(entry.event, event));
    if (event.type.startsWith('xstate.after.')) expect(timer, `${event.type} is scheduled`).toBeDefined();
    if (timer) run.actor.system.scheduler.cancel(run.actor, timer[0]);
    // The pool's raised timers (assignment timeout, restarts) are sent by the path itself.
    run.actor.send(event);
    return true;
  },
  check: (run, event, _expected, previous) => checkEffects(run, event, previous),
};

const started = Date.now();
const paths = generatePaths(spec);
const generationMs = Date.now() - started;
const coverage = new Coverage('pool (level a: the machine, stand-in children)', poolMachine);

describe('pool model, level (a): paths replayed on the machine', () => {
  it.each(paths.map((p) => [`${p.scenario.name} (${p.kinds.join(', ')}): ${p.name}`, p] as const))(
    '%s',
    (_name, generated) => {
      replayPure(spec, generated, coverage);
    },
  );

  it('covers chain children and the drain timeout', () => {
    const chainsAndDrain = coverage.edges.filter(
      (edge) =>
        ['START_CHAIN', 'CANCEL_CHAIN', 'CHAIN.ENDED', 'FORCE_STOP', 'DRAIN'].includes(edge.event) ||
        edge.event.includes('drainTimeout') ||
        (edge.source === 'pool.draining' && edge.event === 'SUBMIT'),
    );
    expect(chainsAndDrain.map(describeEdge)).toEqual(
      expect.arrayContaining([
        'pool.running --START_CHAIN--> (stays)',
        'pool --START_CHAIN--> (stays)',
        'pool --CANCEL_CHAIN--> (stays)',
        'pool --CHAIN.ENDED--> (stays)',
        'pool.draining --SUBMIT--> (stays)',
        'pool.draining --after drainTimeout [hasDrainTimeout]--> (stays)',
      ]),
    );
    expect(chainsAndDrain.filter((edge) => !coverage.edgesHit.has(edge.id)).map(describeEdge)).toEqual([]);
  });

  it('covers every state, transition and guard outcome', () => {
    console.log(coverage.report([`${paths.length} paths generated in ${generationMs} ms`]));
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingTransitions()).toEqual([]);
    expect(coverage.missingGuardOutcomes()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------- level (b)

/** The real drain timeout: long enough for a check to see the pool Draining first, short enough to wait for. */
const REAL_DRAIN_TIMEOUT_MS = 1_500;

/** A run the pool must stop itself: the slot reports it aborted, and where it went (stopped, when it is removed). */
function aborted(context: PoolContext, taskId: string): AnyEventObject {
  const slotId = context.running[taskId];
  return {
    type: 'SLOT.RUN_FINISHED',
    slotId,
    taskId,
    outcome: outcome('aborted'),
    state: context.removing.includes(slotId) ? 'stopped' : 'idle',
  };
}

/**
 * The reports the pool's slots inevitably make after a public command (every run hangs until it is cancelled):
 * a cancelled run ends and its slot reports where it went (idle, or stopped when it is being removed); a slot
 * chosen by scale-down stops at once when idle, or reports Retiring when busy; the drain's timeout (or a force
 * stop) cancels every run; a stopped pool stops every slot.
 */
function reportsAfter(before: AnyMachineSnapshot, event: AnyEventObject, after: AnyMachineSnapshot): AnyEventObject[] {
  const prior = before.context as PoolContext;
  const context = after.context as PoolContext;
  const reports: AnyEventObject[] = [];
  if (event.type === 'CANCEL' && typeof event.taskId === 'string' && event.taskId in prior.running) {
    reports.push(aborted(prior, event.taskId));
  }
  const forced =
    before.value === 'draining' &&
    (event.type === 'FORCE_STOP' || (event.type === DRAIN_TIMEOUT && prior.drainTimeoutMs !== undefined));
  if (forced) for (const taskId of Object.keys(prior.running)) reports.push(aborted(prior, taskId));
  if (event.type === 'SCALE_DOWN') {
    for (const slotId of context.removing.filter((id) => !prior.removing.includes(id))) {
      const busy = Object.values(context.running).includes(slotId);
      reports.push({ type: 'SLOT.STATE', slotId, state: busy ? 'retiring' : 'stopped' });
    }
  }
  if (after.value === 'stopped' && before.value !== 'stopped') {
    for (const slotId of context.slotOrder) reports.push({ type: 'SLOT.STATE', slotId, state: 'stopped' });
  }
  return reports;
}

type Reports = typeof reportsAfter;

/** The pool as its callers see it: each public command followed by the reports it causes. */
function settling(model: AnyStateMachine, reports: Reports = reportsAfter): AnyStateMachine {
  const logic = Object.create(model) as AnyStateMachine;
  logic.transition = ((snapshot: AnyMachineSnapshot, event: AnyEventObject, scope: never) => {
    let next = model.transition(snapshot, event, scope) as AnyMachineSnapshot;
    const pending = reports(snapshot, event, next);
    while (pending.length > 0) {
      const report = pending.shift() as AnyEventObject;
      const before = next;
      next = model.transition(next, report, scope) as AnyMachineSnapshot;
      pending.push(...reports(before, report, next));
    }
    return next;
  }) as AnyStateMachine['transition'];
  return logic;
}

/** The model's input for a real pool of two slots (its config as the real pool's). */
function realInput() {
  const base = input(2);
  return {
    ...base,
    config: completePoolConfig({ maxRestarts: 1, scaling: { minSlots: 1, maxSlots: MAX_SLOTS } }),
  };
}

const publicSpec: ModelSpec = {
  ...spec,
  name: 'pool (public operations)',
  scenarios: [
    {
      name: 'public',
      input: realInput(),
      events: (snapshot) =>
        poolEvents(snapshot).filter((event) => {
          const context = snapshot.context as PoolContext;
          if (event.type === 'CANCEL') {
            return queuedIds(context).includes(event.taskId as string) || (event.taskId as string) in context.running;
          }
          if (event.type === 'DRAIN') return event.queued === 'cancel';
          if (event.type === 'SCALE_DOWN') return activeSlots(context).length > 1;
          if (event.type === 'SUBMIT') return !event.internal;
          return ['SCALE_UP', DRAIN_TIMEOUT].includes(event.type);
        }),
      onlyListed: true,
    },
  ],
  wrapModel: (model) => settling(model),
  coverageKey: undefined,
  simpleDepth: 5,
  maxSimplePaths: 60,
};
const publicPaths = coverEdges(publicSpec, generatePaths(publicSpec)).filter(
  // Keep those that use every public command between them, at most 12 (the longest cover the most).
  (p, i, all) => all.length <= 12 || i % Math.ceil(all.length / 12) === 0,
);
// The drain's timeout is one of them: a drain with a timeout while runs hang, which the timeout cancels.
const drainTimeoutPath = generatePaths(publicSpec).find(
  (p) =>
    p.path.steps.some((step) => step.event.type === 'DRAIN' && step.event.timeoutMs !== undefined) &&
    p.path.steps.some(
      (step, i) => step.event.type === DRAIN_TIMEOUT && i > 0 && p.path.steps[i - 1].state.value === 'draining',
    ) &&
    p.path.steps.at(-1)?.state.value === 'stopped',
);
if (drainTimeoutPath && !publicPaths.includes(drainTimeoutPath)) publicPaths.push(drainTimeoutPath);

const RESTORED = 'task-restored';
/** The feedback of a rejection: the task runs again, and that run hangs until it is cancelled. */
const FEEDBACK = 'again [[sim:hang]]';

/** A task awaiting its reviewer (neither queued nor running). */
function inReview(snapshot: AnyMachineSnapshot, taskId: string): boolean {
  return taskId in (snapshot.context as PoolContext).reviewing;
}

/**
 * The reports after a review, besides those of {@link reportsAfter}: an approved or cancelled task ends (XState
 * tells the pool, which lets it go); a rejected one (its first rejection of three) is queued again, and its next
 * run hangs.
 */
function reportsAfterReview(
  before: AnyMachineSnapshot,
  event: AnyEventObject,
  after: AnyMachineSnapshot,
): AnyEventObject[] {
  const reports = reportsAfter(before, event, after);
  const taskId = event.taskId as string;
  if ((event.type === 'APPROVE' || event.type === 'CANCEL') && inReview(before, taskId)) {
    reports.push(taskEnded(taskId));
  }
  if (event.type === 'REJECT' && inReview(before, taskId)) {
    const record = reviewRecord(taskId);
    reports.push({
      type: 'TASK.REQUEUED',
      taskId,
      record: { ...record, state: 'pending', rejectionCount: 1, prompt: rejectedPrompt(record, FEEDBACK) },
    });
  }
  return reports;
}

/**
 * A pool started on a store holding a task that awaited review: RESTORE_REVIEW (which the pool sends itself while
 * it starts, so it is the first step of a path or none), then the review (approve, reject, cancel), next to a
 * submitted task.
 */
const restoreSpec: ModelSpec = {
  ...spec,
  name: 'pool (restored review)',
  scenarios: [
    {
      name: 'restored',
      input: realInput(),
      events: (snapshot) => {
        const context = snapshot.context as PoolContext;
        const live = liveTaskIds(context);
        const events: AnyEventObject[] = [];
        if (live.length === 0) events.push({ type: 'RESTORE_REVIEW', record: reviewRecord(RESTORED) });
        if (inReview(snapshot, RESTORED)) {
          events.push(
            { type: 'APPROVE', taskId: RESTORED },
            { type: 'REJECT', taskId: RESTORED, feedback: FEEDBACK },
            { type: 'CANCEL', taskId: RESTORED },
          );
        }
        if (!live.includes('task-0') && snapshot.value === 'running') {
          events.push({ type: 'SUBMIT', record: taskRecord('task-0') });
        }
        for (const taskId of [...queuedIds(context), ...Object.keys(context.running)]) {
          events.push({ type: 'CANCEL', taskId });
        }
        // A drain does not wait for reviewers: a task rejected after it fails (it cannot be queued again).
        if (snapshot.value === 'running' && inReview(snapshot, RESTORED))
          events.push({ type: 'DRAIN', queued: 'cancel' });
        return events;
      },
      onlyListed: true,
    },
  ],
  wrapModel: (model) => settling(model, reportsAfterReview),
  coverageKey: undefined,
  simpleDepth: 4,
  maxSimplePaths: 40,
};
/** RESTORE_REVIEW happens while the pool starts: paths that restore later cannot be replayed. */
const restorePaths = coverEdges(
  restoreSpec,
  generatePaths(restoreSpec).filter((p) =>
    p.path.steps.every((step, i) => step.event.type !== 'RESTORE_REVIEW' || i === 1),
  ),
);

/**
 * The other public commands: claim, configure a slot, start and stop the supervisor; and requests a pool that
 * drains or has stopped refuses (submit, scale up or down, start a chain), each with the typed error.
 */
const commandSpec: ModelSpec = {
  ...spec,
  name: 'pool (commands)',
  scenarios: [
    {
      name: 'commands',
      input: realInput(),
      events: (snapshot) => {
        const context = snapshot.context as PoolContext;
        const running = snapshot.value === 'running';
        const live = liveTaskIds(context);
        return poolEvents(snapshot).filter((event) => {
          switch (event.type) {
            case 'SUBMIT':
              return !event.internal && (running ? live.length === 0 : true);
            case 'CANCEL':
              return queuedIds(context).includes(event.taskId as string) || (event.taskId as string) in context.running;
            case 'DRAIN':
              return event.queued === 'cancel' && event.timeoutMs === undefined;
            case 'SCALE_UP':
            case 'SCALE_DOWN':
            case 'START_CHAIN':
              return !running;
            case 'CLAIM':
            case 'CONFIGURE_SLOT':
            case 'SUPERVISOR.START':
            case 'SUPERVISOR.STOP':
              return true;
            default:
              return false;
          }
        });
      },
      onlyListed: true,
    },
  ],
  wrapModel: (model) => settling(model),
  coverageKey: undefined,
  simpleDepth: 4,
  maxSimplePaths: 40,
};
const commandPaths = coverEdges(commandSpec, generatePaths(commandSpec));

/** The model id of a chain's step task (one step at a time). */
const STEP = 'step-0';
/** The prompt of the real chain's one step: it hangs until it is cancelled. */
const CHAIN_STEP_PROMPT = 'chain step [[sim:hang]]';

/**
 * The reports after a command to a pool with a chain, besides those of {@link reportsAfter}: a started chain
 * submits its step (a chain step, still admitted while the pool drains); a chain cancelled at once, or by the
 * drain's timeout, cancels its running step and ends.
 */
function reportsAfterChain(
  before: AnyMachineSnapshot,
  event: AnyEventObject,
  after: AnyMachineSnapshot,
): AnyEventObject[] {
  const prior = before.context as PoolContext;
  const context = after.context as PoolContext;
  const reports = reportsAfter(before, event, after);
  if (event.type === 'START_CHAIN' && CHAIN_ID in context.chains && !(CHAIN_ID in prior.chains)) {
    reports.push({ type: 'SUBMIT', record: taskRecord(STEP), internal: true });
  }
  if (CHAIN_ID in prior.chains) {
    const step = liveTaskIds(prior).includes(STEP);
    if (event.type === 'CANCEL_CHAIN' && event.immediate) {
      if (step) reports.push({ type: 'CANCEL', taskId: STEP });
      reports.push({ type: 'CHAIN.ENDED', chainId: CHAIN_ID });
    }
    const forced = before.value === 'draining' && event.type === DRAIN_TIMEOUT && prior.drainTimeoutMs !== undefined;
    if (forced) reports.push({ type: 'CHAIN.ENDED', chainId: CHAIN_ID });
  }
  return reports;
}

/**
 * A chain as a child of the real pool: started (its step then runs and hangs), cancelled at once, or left to a
 * drain, which tells it to stop after its step, and whose timeout cancels it at once.
 */
const chainSpec: ModelSpec = {
  ...spec,
  name: 'pool (chains)',
  scenarios: [
    {
      name: 'chain',
      input: realInput(),
      events: (snapshot) => {
        const context = snapshot.context as PoolContext;
        const events: AnyEventObject[] = [];
        const chain = CHAIN_ID in context.chains;
        if (snapshot.value === 'running') {
          if (!chain && liveTaskIds(context).length === 0) {
            events.push({ type: 'START_CHAIN', record: chainRecord(CHAIN_ID), steps: CHAIN_STEPS, isolation: 'none' });
          }
          events.push(
            { type: 'DRAIN', queued: 'cancel' },
            { type: 'DRAIN', queued: 'cancel', timeoutMs: DRAIN_TIMEOUT_MS },
          );
        }
        if (chain) events.push({ type: 'CANCEL_CHAIN', chainId: CHAIN_ID, immediate: true });
        if (snapshot.value === 'draining') events.push({ type: DRAIN_TIMEOUT });
        return events;
      },
      onlyListed: true,
    },
  ],
  wrapModel: (model) => settling(model, reportsAfterChain),
  coverageKey: undefined,
  simpleDepth: 4,
  maxSimplePaths: 40,
};
const chainPaths = coverEdges(chainSpec, generatePaths(chainSpec));

/** The parts of the pool's context the model predicts, with the real task ids renamed to the model's. */
function view(snapshot: AnyMachineSnapshot, rename: (id: string) => string): unknown {
  const context = snapshot.context as PoolContext;
  return {
    value: snapshot.value,
    queue: queuedIds(context).map(rename),
    running: Object.fromEntries(Object.entries(context.running).map(([task, slot]) => [rename(task), slot])),
    reviewing: Object.keys(context.reviewing).map(rename).sort(),
    chains: Object.keys(context.chains).map(rename).sort(),
    slotOrder: context.slotOrder,
    slotStates: context.slotStates,
    removing: context.removing,
  };
}

const realCoverage = new Coverage('pool (level b: real Pool, simulated agent)', poolMachine, { guards: false });

/** Replays a path of public operations (and of a restored review) on a real pool, comparing after each step. */
async function replayOnPool(generated: GeneratedPath): Promise<void> {
  const [initial, ...steps] = generated.path.steps;
  const restored = steps[0]?.event.type === 'RESTORE_REVIEW' ? (steps[0].event.record as TaskRecord) : undefined;
  // The store already holds the task awaiting review: the pool restores it (RESTORE_REVIEW) as it starts.
  const store = new MemoryStore();
  if (restored) await store.putTask({ ...restored, createdAtMs: Date.now() });
  const pool: Pool = await simPool((b) =>
    b
      .slots(2)
      .store(store)
      .config({ scaling: { minSlots: 1, maxSlots: MAX_SLOTS }, supervisorEnabled: true })
      .inspect(recordCoverage(realCoverage, actorsOf('pool'))),
  );
  const ids = new Map<string, string>(); // real id → model id
  const rename = (id: string) => ids.get(id) ?? id;
  /** Names what a chain made itself: the task of its step. */
  const learn = () => {
    const context = pool.supervisor.getSnapshot().context as PoolContext;
    for (const id of liveTaskIds(context)) {
      if (!ids.has(id) && id !== RESTORED) ids.set(id, STEP);
    }
  };
  // The latest real task of a model id (a model id is used again once its task has ended).
  const real = (modelId: string) => [...ids].reverse().find(([, model]) => model === modelId)?.[0] ?? modelId;
  let drain: Promise<unknown> | undefined;
  try {
    const check = async (where: string, expected: AnyMachineSnapshot) => {
      const want = JSON.stringify(view(expected, (id) => id));
      // The reports arrive on their own: wait for them, then compare.
      await eventually(
        () => {
          learn();
          return JSON.stringify(view(pool.supervisor.getSnapshot(), rename)) === want;
        },
        10_000,
        `${where}: the pool to settle`,
      ).catch(() => undefined);
      const seen = pool.supervisor.getSnapshot();
      await pool.flush();
      const status = pool.status();
      const model = expected.context as PoolContext;
      compareStep(where, {
        'supervisor state': [view(seen, rename), view(expected, (id) => id)],
        'status: shut down': [status.shutdown, expected.value !== 'running'],
        // A live chain counts as a running task, as its record says.
        'status: running tasks': [
          status.runningTasks,
          Object.keys(model.running).length + Object.keys(model.chains).length,
        ],
        'status: pending tasks': [status.pendingTasks, queuedIds(model).length],
        // Every live task is reachable as an actor by its id; none is a child of the supervisor.
        'live task actors': [
          liveTaskIds(seen.context as PoolContext).map((id) => pool.actor(id)?.getSnapshot().status ?? 'missing'),
          liveTaskIds(model).map(() => 'active'),
        ],
        'tasks among the children': [Object.keys(seen.children).filter((id) => id.startsWith('task-')), []],
        // describe() shows the supervisor with its chains and live tasks (and its slots) as children.
        'described tasks and chains': [
          pool
            .describe()[0]
            .children.map((child) => child.id)
            .filter((id) => !id.startsWith('slot-'))
            .map(rename)
            .sort(),
          [...liveTaskIds(model), ...Object.keys(model.chains)].sort(),
        ],
      });
    };
    // A restored pool is first seen with its task restored: the state after RESTORE_REVIEW.
    if (!restored) await check('init', initial.state);
    let supervisor: ReturnType<Pool['startSupervisor']>;
    for (const [index, step] of steps.entries()) {
      const event = step.event;
      const previous = (index === 0 ? initial : steps[index - 1]).state;
      switch (event.type) {
        case 'RESTORE_REVIEW':
          // Done while the pool started (the store held the task).
          break;
        case 'SUBMIT': {
          const submitted = pool.submit(`model task [[sim:hang]]`);
          if (previous.value !== 'running') {
            // A draining or stopped pool refuses it (the machine's decision, as the typed error).
            await expect(submitted).rejects.toBeInstanceOf(PoolShutdown);
            break;
          }
          ids.set(await submitted, (event.record as TaskRecord).id);
          break;
        }
        case 'CANCEL':
          await pool.cancel(real(event.taskId as string));
          break;
        case 'APPROVE':
          await pool.approveResult(real(event.taskId as string));
          break;
        case 'REJECT':
          await pool.rejectResult(real(event.taskId as string), event.feedback as string);
          break;
        case 'SCALE_UP':
        case 'SCALE_DOWN':
        case 'START_CHAIN': {
          const chainSteps = [{ name: 'one', action: { type: 'prompt' as const, prompt: CHAIN_STEP_PROMPT } }];
          const request =
            event.type === 'SCALE_UP'
              ? pool.scaleUp(1)
              : event.type === 'SCALE_DOWN'
                ? pool.scaleDown(1)
                : pool.submitChain(chainSteps, { isolation: 'none' });
          if (previous.value !== 'running') {
            // A draining or stopped pool refuses it (the machine's decision, as the typed error).
            await expect(request).rejects.toBeInstanceOf(PoolShutdown);
          } else if (event.type === 'START_CHAIN') ids.set(String(await request), CHAIN_ID);
          else await request;
          break;
        }
        case 'CLAIM':
          await pool.claim(event.slotId as string);
          break;
        case 'CONFIGURE_SLOT':
          pool.configureSlot(event.slotId as string, event.config as SlotConfig);
          break;
        case 'SUPERVISOR.START':
          supervisor = pool.startSupervisor();
          expect(supervisor, 'the supervisor is enabled').toBeDefined();
          break;
        case 'SUPERVISOR.STOP':
          // Stops the supervisor started before (or one started now: stopping a stopped one changes nothing).
          (supervisor ?? pool.startSupervisor())?.stop();
          break;
        case 'CANCEL_CHAIN':
          await pool.cancelChain(real(CHAIN_ID), { immediate: event.immediate === true });
          break;
        case 'DRAIN':
          drain = pool.drain(event.timeoutMs === undefined ? {} : { timeoutMs: REAL_DRAIN_TIMEOUT_MS });
          break;
        case DRAIN_TIMEOUT:
          // The pool's own timer: it fires by itself (the check waits for what it causes).
          break;
        default:
          throw new Error(`no public operation for ${event.type}`);
      }
      await check(`step ${index + 1} (${label(event)})`, step.state);
    }
    realCoverage.countPath(generated.kinds[0]);
  } finally {
    // Runs hang until cancelled: end a drain that waits for them.
    if (drain) {
      pool.supervisor.send({ type: 'FORCE_STOP' });
      await drain;
    }
  }
}

/** Transitions the real-pool replays here do not take, and why (all are covered at level (a)). */
const NOT_REPLAYED: Record<string, string> = {
  'pool --RESTART_SLOT--> (stays)':
    'the supervisor restarts a slot whose runs crashed too often; the slot suite replays that on the real pool',
  'pool --TASK.REVIEW--> (stays)':
    'a task in review here is one restored from the store (RESTORE_REVIEW); the task suite replays review on the real pool',
  'pool --CANCEL_MANY--> (stays)': 'only fanOut with an AbortSignal sends it (test/pool/cancel covers that)',
  'pool --SUBMIT_MANY--> (stays)':
    'only fanOut sends it, and it resolves only once every task has ended (test/pool/basics covers it in every phase)',
  'pool.running --SUBMIT_MANY--> (stays)':
    'only fanOut sends it, and it resolves only once every task has ended (test/pool/basics covers it in every phase)',
  'pool.draining --SUBMIT_MANY--> (stays)':
    'only fanOut sends it, and it resolves only once every task has ended (test/pool/basics covers it in every phase)',
  'pool --AGENT.PRESSURE--> (stays)':
    'the runs here hang without API pressure; test/pool/backpressure replays api_retry lines and a used-up window on the real pool',
  'pool --PRESSURE.RETRY--> (stays)':
    'no run here ends on HTTP 429/529; test/pool/backpressure replays a burst of 529s and their retries on the real pool',
  'pool --PRESSURE.RESUME--> (stays)':
    'no run here reports a used-up window; test/pool/backpressure replays a pause and its end on the real pool',
  'pool --ASSIGN_TIMEOUT--> (stays)':
    'the paths here never leave a task queued for the assignment timeout; the task suite replays it on the real pool',
};

describe('pool model, level (b): public operations replayed on the real Pool', () => {
  afterEach(cleanupPools);

  it.each(publicPaths.map((p) => [p.name, p] as const))('%s', async (_name, generated) => {
    await replayOnPool(generated);
  });

  it.each(restorePaths.map((p) => [`restored: ${p.name}`, p] as const))('%s', async (_name, generated) => {
    await replayOnPool(generated);
  });

  it.each(chainPaths.map((p) => [`chain: ${p.name}`, p] as const))('%s', async (_name, generated) => {
    await replayOnPool(generated);
  });

  it.each(commandPaths.map((p) => [`commands: ${p.name}`, p] as const))('%s', async (_name, generated) => {
    await replayOnPool(generated);
  });

  it('reports what the public operations covered', () => {
    expect([...realCoverage.edgesHit], 'RESTORE_REVIEW, from a pre-filled store').toContain(
      realCoverage.edges.find((edge) => edge.event === 'RESTORE_REVIEW')?.id,
    );
    for (const [edge, reason] of Object.entries(NOT_REPLAYED)) realCoverage.excuse(edge, reason);
    console.log(
      realCoverage.report([
        `${publicPaths.length} paths over submit, cancel, scale up/down and drain (with and without a timeout)`,
        `${restorePaths.length} paths of a pool restored with a task in review (approve, reject, cancel, submit)`,
        `${chainPaths.length} paths of a chain (start, cancel at once, drain with and without a timeout)`,
        `${commandPaths.length} paths of claim, configure, supervisor start/stop and requests refused after a drain`,
      ]),
    );
    expect(realCoverage.states).toEqual(['pool.running', 'pool.draining', 'pool.stopped']);
    expect(realCoverage.missingStates()).toEqual([]);
    expect(realCoverage.unexplained().map(describeEdge)).toEqual([]);
    // An excuse is for a transition not taken here: none is stale.
    const excusedButTaken = realCoverage.edges.filter(
      (e) => realCoverage.excused.has(e.id) && realCoverage.edgesHit.has(e.id),
    );
    expect(excusedButTaken.map(describeEdge)).toEqual([]);
  });
});

afterAll(() => {
  console.log(`[model] pool: ${paths.length} generated paths`);
});
