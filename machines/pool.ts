/**
 * The pool statechart: the supervisor. Running → Draining → Stopped.
 *
 * It owns every slot, task and chain actor, the FIFO queue, the budget ledger, admission, scaling, restarts
 * and the drain. It is the only writer of assignments: every "which slot runs what" decision is made here, one
 * event at a time, so no lock is needed and no two tasks can take one slot. Dispatch is event-driven: a task
 * arriving, a slot reporting Idle, a restart or a scale-up each trigger a dispatch pass.
 *
 * How the actors are held keeps the cost of a task independent of how many tasks exist:
 * - Slots and chains are spawned children (there are few of them).
 * - Task actors are created with the pool as their parent and registered in the actor system under their id
 *   (`system.get(taskId)`), but not kept in the pool's `children`, which XState copies on every spawn and stop.
 *   A task reports to the pool (`sendParent`); once final it stops itself and leaves the system.
 * - The queue is an immutable FIFO with O(1) enqueue and dequeue (`queue.ts`).
 * - One timer, for the earliest assignment deadline (the queue's head), replaces one timer per queued task.
 */
import {
  type ActorRefFrom,
  type AnyActorRef,
  type AnyEventObject,
  assign,
  createActor,
  emit,
  enqueueActions,
  setup,
} from 'xstate';
import { admitScale, admitTask, type AdmissionRefusal, type PoolPhase } from './admission.js';
import {
  initialBackpressure,
  isConstrained,
  startAllowance,
  type Backpressure,
  type PressureSignal,
} from './backpressure.js';
import { emptyKeyed, withKey, withKeys, withoutKey } from './keyed.js';
import { settle, usdToMicrodollars, type BudgetLedger } from './budget.js';
import { chainMachine, type ChainParentEvent } from './chain.js';
import { planDispatch, type DispatchPlan } from './dispatch.js';
import { poolFailure, withFailure } from './failure.js';
import {
  disarmPressureTimers,
  dropWaiting,
  forgetEnded,
  notePressureSignal,
  resumeDispatch,
  retryDue,
  runTouchesPressure,
  settleRunPressure,
  type PressureEmitted,
} from './pool-backpressure.js';
import {
  emptyQueue,
  enqueue as enqueueJob,
  dropFront,
  peekQueue,
  queueLength,
  queuedJobs,
  removeFromQueue,
  type JobQueue,
} from './queue.js';
import { slotMachine, type SlotParentEvent } from './slot.js';
import { taskMachine, type TaskOutput, type TaskParentEvent } from './task.js';
import type {
  ChainIsolation,
  ChainStep,
  PoolConfig,
  RunOutcome,
  SlotConfig,
  SlotId,
  SlotJob,
  SlotRecord,
  SlotState,
  TaskId,
  TaskRecord,
  TaskResult,
} from './types.js';

/** A slot actor owned by the pool. */
export type SlotActorRef = ActorRefFrom<typeof slotMachine>;
/** A task actor owned by the pool. */
export type TaskActorRef = ActorRefFrom<typeof taskMachine>;
/** A chain actor owned by the pool. */
export type ChainActorRef = ActorRefFrom<typeof chainMachine>;

/** A slot to create: its id, config and (when isolation is on) its worktree. */
export interface SlotSpec {
  id: SlotId;
  config: SlotConfig;
  worktreePath?: string;
  /** What the slot of this id had earned before a restart (counters, the session to resume). */
  history?: Pick<SlotRecord, 'tasksCompleted' | 'costMicrodollars' | 'restartCount' | 'sessionId' | 'sessionCostUsd'>;
}

/** What happens to queued tasks when the pool drains. */
export type DrainQueuedPolicy = 'cancel' | 'finish';

/** Events the supervisor accepts. */
export type SupervisorEvent =
  | { type: 'SUBMIT'; record: TaskRecord; internal?: boolean }
  /** Many tasks at once (a fan-out): each is admitted on its own, all are queued in one step, in order. */
  | { type: 'SUBMIT_MANY'; requestId: string; records: TaskRecord[]; internal?: boolean }
  | { type: 'RESTORE_REVIEW'; record: TaskRecord }
  | { type: 'CANCEL'; taskId: TaskId }
  | { type: 'CANCEL_MANY'; taskIds: TaskId[] }
  | { type: 'APPROVE'; taskId: TaskId }
  | { type: 'REJECT'; taskId: TaskId; feedback: string }
  | { type: 'CLAIM'; slotId: SlotId }
  | { type: 'ASSIGN_TIMEOUT' }
  | { type: 'SCALE_UP'; requestId: string; slots: SlotSpec[] }
  | { type: 'SCALE_DOWN'; requestId: string; count: number }
  | { type: 'CONFIGURE_SLOT'; slotId: SlotId; config: SlotConfig }
  | { type: 'SUPERVISOR.START' }
  | { type: 'SUPERVISOR.STOP' }
  | { type: 'RESTART_SLOT'; slotId: SlotId }
  | { type: 'START_CHAIN'; record: TaskRecord; steps: ChainStep[]; isolation: ChainIsolation }
  | { type: 'CANCEL_CHAIN'; chainId: TaskId; immediate: boolean }
  | { type: 'DRAIN'; queued: DrainQueuedPolicy; timeoutMs?: number }
  | { type: 'FORCE_STOP' }
  /** An agent reported API pressure while its run goes on (`api_retry`, `rate_limit_event`). */
  | { type: 'AGENT.PRESSURE'; slotId: SlotId; taskId: TaskId; signal: PressureSignal }
  /** A task's rate-limit backoff is over: queue it again (a delayed event the pool raises). */
  | { type: 'PRESSURE.RETRY'; taskId: TaskId }
  /** A pause for a used-up rate-limit window is over (a delayed event the pool raises). */
  | { type: 'PRESSURE.RESUME' }
  | SlotParentEvent
  | TaskParentEvent
  | ChainParentEvent
  /**
   * XState's done event of a task actor. Every task actor has the id `task` (its system id is the task's id),
   * so the event type is one and the same for all tasks: XState memoises transition lookups per event type,
   * and a type per task would grow that memo with every task.
   */
  | { type: 'xstate.done.actor.task'; output?: TaskOutput };

/** What the supervisor reports back to whoever asked (emitted events: `actor.on(type, handler)`). */
export type SupervisorEmitted =
  /** A submission, chain or scale request was accepted (no `refusal`) or refused. */
  | { type: 'decision'; requestId: string; refusal?: AdmissionRefusal }
  /** The answer to a `SUBMIT_MANY`: the tasks refused (every other one was accepted). */
  | { type: 'decisions'; requestId: string; refusals: { taskId: TaskId; refusal: AdmissionRefusal }[] }
  /** What a claim gave the slot. */
  | { type: 'claimed'; slotId: SlotId; taskId?: TaskId }
  /** The back-pressure limit was cut or is back at the slot count, or dispatch paused or resumed. */
  | PressureEmitted;

/** Input of the pool. */
export interface PoolInput {
  config: PoolConfig;
  slots: SlotSpec[];
  /** The clock used to stamp records (Unix ms). */
  clock: () => number;
  /** How long a cancelled run may take to exit on its own (default 3000). */
  cancelGraceMs?: number;
  /** Delay before the supervisor restarts an errored slot (default 100). */
  restartDelayMs?: number;
  /** Dispatch queued tasks automatically (default true); when false, slots `claim` work. */
  autoDispatch?: boolean;
  /** Spend already booked before this pool started (restored from the store). */
  spentMicrodollars?: number;
  /** The random source of the rate-limit backoff's jitter, in [0, 1) (default `Math.random`). */
  random?: () => number;
}

/** The pool's context. */
export interface PoolContext {
  config: PoolConfig;
  clock: () => number;
  cancelGraceMs: number;
  restartDelayMs: number;
  autoDispatch: boolean;
  supervising: boolean;
  phase: PoolPhase;
  slots: Record<SlotId, SlotActorRef>;
  /** Slots in creation order. */
  slotOrder: SlotId[];
  /** The pool's own view of each slot, updated by the pool when it assigns and by the slot's reports. */
  slotStates: Record<SlotId, SlotState>;
  /** Slots chosen by scale-down: never given work again, removed once stopped. */
  removing: SlotId[];
  /** The work of every running task. */
  runningJobs: Record<TaskId, SlotJob>;
  /** Tasks waiting for a slot, oldest first. */
  queue: JobQueue;
  /** Running task → its slot. */
  running: Record<TaskId, SlotId>;
  /** Tasks awaiting their reviewer. */
  reviewing: Record<TaskId, true>;
  /** Live chains. */
  chains: Record<TaskId, ChainActorRef>;
  ledger: BudgetLedger;
  /** When the armed assignment timer fires (Unix ms); unset when none is armed. */
  assignDeadline?: number;
  /** The drain's timeout, once a drain with one has started. */
  drainTimeoutMs?: number;
  /** Queued tasks drain cancelled. */
  drainCancelled: TaskId[];
  /** The concurrency limit, a pause, and the tasks waiting out a rate-limit backoff (`backpressure.ts`). */
  backpressure: Backpressure;
  /** The random source of the backoff's jitter. */
  random: () => number;
}

/** A fresh slot record. */
export function newSlotRecord(spec: SlotSpec): SlotRecord {
  return {
    id: spec.id,
    state: 'idle',
    config: spec.config,
    tasksCompleted: 0,
    costMicrodollars: 0,
    restartCount: 0,
    consecutiveCrashes: 0,
    worktreePath: spec.worktreePath,
    ...spec.history,
  };
}

/** Slots that count towards the pool's size: everything not being removed and not stopped. */
export function activeSlotIds(context: Pick<PoolContext, 'slotOrder' | 'removing' | 'slotStates'>): SlotId[] {
  return context.slotOrder.filter((id) => !context.removing.includes(id) && context.slotStates[id] !== 'stopped');
}

/** The ids `count` new slots get: `slot-N` after the highest suffix in use. */
export function nextSlotIds(context: Pick<PoolContext, 'slotOrder'>, count: number): SlotId[] {
  let highest = -1;
  for (const id of context.slotOrder) {
    const match = /^slot-(\d+)$/.exec(id);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  return Array.from({ length: count }, (_, i) => `slot-${highest + 1 + i}`);
}

/** True when nothing runs, nothing waits and no chain is live: draining is over. */
export function isDrained(context: PoolContext): boolean {
  for (const _ in context.running) return false;
  for (const _ in context.chains) return false;
  for (const _ in context.backpressure.waiting) return false;
  return queueLength(context.queue) === 0;
}

/** The tasks the pool is responsible for now: queued, running or awaiting review. */
export function liveTaskIds(context: PoolContext): TaskId[] {
  return [
    ...queuedJobs(context.queue).map((entry) => entry.job.taskId),
    ...Object.keys(context.running),
    ...Object.keys(context.reviewing),
    ...Object.keys(context.backpressure.waiting),
  ];
}

/**
 * The slots scale-down removes: idle ones first, then errored, then busy; least used first within each, and
 * the newest first on a tie (so a scale-down undoes the latest scale-up).
 */
export function chooseSlotsToRemove(context: PoolContext, count: number): SlotId[] {
  const rank: Record<SlotState, number> = { idle: 0, errored: 1, busy: 2, retiring: 3, stopped: 4 };
  const usage = (id: SlotId) => context.slots[id]?.getSnapshot().context.record.tasksCompleted ?? 0;
  return activeSlotIds(context)
    .map((id, index) => ({ id, index }))
    .sort(
      (a, b) =>
        rank[context.slotStates[a.id]] - rank[context.slotStates[b.id]] ||
        usage(a.id) - usage(b.id) ||
        b.index - a.index,
    )
    .slice(0, count)
    .map((entry) => entry.id);
}

/** Why no slot can run queued work, or `undefined` while some slot can (now or after a restart). */
function noSlotCanRun(context: PoolContext): string | undefined {
  // The common case: some slot is idle or busy, so work will run.
  for (const id of context.slotOrder) {
    const state = context.slotStates[id];
    if ((state === 'idle' || state === 'busy') && !context.removing.includes(id)) return undefined;
  }
  const active = activeSlotIds(context);
  if (active.length === 0) return 'no slot can run this task: the pool has no slots';
  const record = (id: SlotId) => context.slots[id]?.getSnapshot().context.record;
  const canRun = active.some((id) => {
    if (context.slotStates[id] !== 'errored') return true;
    return context.supervising && (record(id)?.restartCount ?? 0) < context.config.maxRestarts;
  });
  if (canRun) return undefined;
  const reasons = active.map((id) => {
    const slot = record(id);
    return `${id} errored after ${slot?.restartCount ?? 0} restart(s)${slot?.lastError ? `: ${slot.lastError}` : ''}`;
  });
  return `no slot can run this task: every slot is errored or stopped (${reasons.join('; ')})`;
}

/** The task actor with this id, while it can still take events (a final task has left the system). */
function liveTask(system: AnyActorSystem, taskId: TaskId): AnyActorRef | undefined {
  const ref = system.get(taskId) as AnyActorRef | undefined;
  return ref && ref.getSnapshot().status === 'active' ? ref : undefined;
}

/** True while an actor can still take events (a task in a final state cannot). */
export function isActive(ref: { getSnapshot(): { status: string } } | undefined): boolean {
  return ref !== undefined && ref.getSnapshot().status === 'active';
}

/** The work a task record asks for. */
export function jobOf(record: TaskRecord): SlotJob {
  return { taskId: record.id, prompt: record.prompt, overrides: record.config, workingDir: record.workingDir };
}

/** The result a task gets for a finished run: its failure as data, and the over-cap flag when it spent more. */
function bookedResult(outcome: RunOutcome, job: SlotJob | undefined): TaskResult {
  const result = withFailure(outcome);
  const cap = job?.overrides?.maxBudgetUsd;
  if (cap !== undefined && result.costMicrodollars > usdToMicrodollars(cap)) return { ...result, budgetExceeded: true };
  return result;
}

const shutdownFailure = () => poolFailure('pool is shut down', { kind: 'pool_shutdown' });

/**
 * A task actor for `record`, not yet started: a child of `pool` in the actor system (system id: the task id), in
 * the state its record says (Pending, or PendingReview for a task restored while awaiting review). The pool's
 * `startTask` action creates and starts it; an implementation provided in its place may watch it first.
 */
export function createTaskActor(pool: AnyActorRef, record: TaskRecord): TaskActorRef {
  const review = record.state === 'pending_review';
  const snapshot = taskMachine.resolveState({
    value: review ? 'pendingReview' : 'pending',
    context: { record: { ...record, state: review ? 'pending_review' : 'pending' } },
  });
  return createActor(taskMachine, { parent: pool, id: 'task', systemId: record.id, snapshot, input: record });
}

/** The actor system the pool's actors live in. */
type AnyActorSystem = AnyActorRef['system'];

/** The part of XState's action enqueuer the helpers use (XState's own type is specific to each call site). */
export interface Enqueue {
  assign(patch: Partial<PoolContext>): void;
  cancel(id: string): void;
  stopChild(id: string): void;
  sendTo(target: AnyActorRef, event: AnyEventObject): void;
  raise(event: SupervisorEvent, options: { delay: number; id: string }): void;
  emit(event: SupervisorEmitted): void;
  (
    action:
      | { type: 'startTask'; params: { record: TaskRecord } }
      | { type: 'enqueueTask'; params: { job: SlotJob } }
      | { type: 'dispatch' },
  ): void;
}

/** XState's enqueuer, seen through the narrow interface the helpers use. */
function helpers(enqueue: unknown): Enqueue {
  return enqueue as Enqueue;
}

/** The pool statechart. */
export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as SupervisorEvent,
    input: {} as PoolInput,
    emitted: {} as SupervisorEmitted,
  },
  actors: { slot: slotMachine, chain: chainMachine },
  delays: {
    /** The drain's timeout (0 when it has none: the guard then lets it pass). */
    drainTimeout: ({ context }) => context.drainTimeoutMs ?? 0,
  },
  guards: {
    /** Nothing is running, nothing waits, no chain is live: draining is over. */
    drained: ({ context }) => isDrained(context),
    /** The drain was given a timeout. */
    hasDrainTimeout: ({ context }) => context.drainTimeoutMs !== undefined,
  },
  actions: {
    /**
     * Creates a task actor: a child of the pool in the actor system, not held in `children`. It starts in the
     * state its record says (Pending, or PendingReview for a task restored while awaiting review).
     */
    startTask: ({ self }, params: { record: TaskRecord }) => {
      createTaskActor(self, params.record).start();
    },
    /** Starts what can start, fails what never can. */
    dispatch: enqueueActions(({ context, enqueue, system }, params?: { onlySlot?: SlotId; force?: boolean }) => {
      applyDispatch(context, helpers(enqueue), system, planDispatch(dispatchView(context), params ?? {}));
    }),
    /** Queues a task (new or re-queued) and arms the assignment timer if none is armed. */
    enqueueTask: enqueueActions(({ context, enqueue }, params: { job: SlotJob }) => {
      const queue = enqueueJob(context.queue, { job: params.job, queuedAt: context.clock() });
      enqueue.assign({ queue });
      armAssignTimer({ ...context, queue }, helpers(enqueue));
    }),
    /** Cancels every queued task, every running run and every chain at once (the drain's timeout ran out). */
    forceStop: enqueueActions(({ context, enqueue, system }) => {
      const at = context.clock();
      const queued = queuedJobs(context.queue).map((entry) => entry.job.taskId);
      for (const taskId of queued) {
        const task = liveTask(system, taskId);
        if (task) enqueue.sendTo(task, { type: 'CANCEL', at });
      }
      const running = Object.keys(context.running);
      const waiting = dropWaiting(
        context,
        [...queued, ...running, ...Object.keys(context.backpressure.waiting)],
        helpers(enqueue),
      );
      for (const taskId of waiting) {
        const task = liveTask(system, taskId);
        if (task) enqueue.sendTo(task, { type: 'CANCEL', at });
      }
      enqueue.assign({ queue: emptyQueue(), drainCancelled: [...context.drainCancelled, ...queued, ...waiting] });
      disarmIfEmpty(context, emptyQueue(), helpers(enqueue));
      for (const [taskId, slotId] of Object.entries(context.running)) {
        const task = liveTask(system, taskId);
        if (task) enqueue.sendTo(task, { type: 'CANCEL', at });
        enqueue.sendTo(context.slots[slotId], { type: 'CANCEL_RUN', taskId });
      }
      for (const chain of Object.values(context.chains)) enqueue.sendTo(chain, { type: 'CANCEL', immediate: true });
    }),
    /** A re-queued task (rejected in review) after the pool stopped taking work fails. */
    failRequeued: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'TASK.REQUEUED') return;
      enqueue.assign({ reviewing: withoutKey(context.reviewing, event.taskId) });
      const task = liveTask(system, event.taskId);
      if (task) enqueue.sendTo(task, { type: 'FAIL', result: shutdownFailure(), at: context.clock() });
    }),
    /** A scale request in a phase that takes none. */
    refuseScale: emit(({ event }) => ({
      type: 'decision' as const,
      requestId: event.type === 'SCALE_UP' || event.type === 'SCALE_DOWN' ? event.requestId : '',
      refusal: { code: 'pool_shutdown' as const },
    })),
    /** A batch submission in a phase that takes none: every task is refused. */
    refuseSubmitMany: emit(({ event }) => ({
      type: 'decisions' as const,
      requestId: event.type === 'SUBMIT_MANY' ? event.requestId : '',
      refusals:
        event.type === 'SUBMIT_MANY'
          ? event.records.map((record) => ({ taskId: record.id, refusal: { code: 'pool_shutdown' as const } }))
          : [],
    })),
    /** A submission in a phase that takes none. */
    refuseSubmit: emit(({ event }) => ({
      type: 'decision' as const,
      requestId: event.type === 'SUBMIT' || event.type === 'START_CHAIN' ? event.record.id : '',
      refusal: { code: 'pool_shutdown' as const },
    })),
  },
}).createMachine({
  id: 'pool',
  context: ({ input, spawn }) => {
    const slots: Record<SlotId, SlotActorRef> = {};
    const slotStates: Record<SlotId, SlotState> = {};
    for (const spec of input.slots) {
      slots[spec.id] = spawn('slot', {
        id: spec.id,
        systemId: spec.id,
        input: {
          record: newSlotRecord(spec),
          crashThreshold: input.config.crashThreshold,
          cancelGraceMs: input.cancelGraceMs ?? 3000,
        },
      });
      slotStates[spec.id] = 'idle';
    }
    return {
      config: input.config,
      clock: input.clock,
      cancelGraceMs: input.cancelGraceMs ?? 3000,
      restartDelayMs: input.restartDelayMs ?? 100,
      autoDispatch: input.autoDispatch ?? true,
      supervising: false,
      phase: 'running',
      slots,
      slotOrder: input.slots.map((spec) => spec.id),
      slotStates,
      removing: [],
      runningJobs: emptyKeyed(),
      queue: emptyQueue(),
      running: emptyKeyed(),
      reviewing: emptyKeyed(),
      chains: {},
      ledger: {
        limitMicrodollars: input.config.budgetMicrodollars,
        spentMicrodollars: input.spentMicrodollars ?? 0,
        reservations: emptyKeyed(),
        defaultReserveMicrodollars: input.config.defaultTaskReserveMicrodollars,
      },
      drainCancelled: [],
      backpressure: initialBackpressure(),
      random: input.random ?? Math.random,
    };
  },
  initial: 'running',
  on: {
    // Accepted in every state: they finish or report work already under way.
    'SLOT.RUN_FINISHED': {
      actions: [
        enqueueActions(({ context, event, enqueue, system }) => {
          const { taskId, outcome, slotId } = event;
          if (taskId in context.running) {
            const result = bookedResult(outcome, context.runningJobs[taskId]);
            const running = withoutKey(context.running, taskId);
            enqueue.assign({
              running,
              runningJobs: withoutKey(context.runningJobs, taskId),
              ledger: settle(context.ledger, taskId, result.costMicrodollars),
            });
            const delivered = runTouchesPressure(context, taskId, result)
              ? settleRunPressure(context, context.runningJobs[taskId], taskId, result, helpers(enqueue))
              : result;
            const task = liveTask(system, taskId);
            if (task && delivered) {
              const at = context.clock();
              enqueue.sendTo(
                task,
                outcome.kind === 'ok'
                  ? { type: 'FINISH', result: delivered, at }
                  : { type: 'FAIL', result: delivered, at },
              );
            }
            noteSlotState({ ...context, running }, slotId, event.state, helpers(enqueue));
          } else {
            noteSlotState(context, slotId, event.state, helpers(enqueue));
          }
        }),
        { type: 'dispatch' },
      ],
    },
    'SLOT.STATE': {
      actions: [
        enqueueActions(({ context, event, enqueue }) =>
          noteSlotState(context, event.slotId, event.state, helpers(enqueue)),
        ),
        { type: 'dispatch' },
      ],
    },
    'AGENT.PRESSURE': {
      actions: enqueueActions(({ context, event, enqueue }) =>
        notePressureSignal(context, event.signal, helpers(enqueue)),
      ),
    },
    'PRESSURE.RETRY': {
      actions: enqueueActions(({ context, event, enqueue }) => retryDue(context, event.taskId, helpers(enqueue))),
    },
    'PRESSURE.RESUME': {
      actions: enqueueActions(({ context, enqueue }) => resumeDispatch(context, helpers(enqueue))),
    },
    /** A restart the supervisor scheduled; still honoured while draining so queued work can finish. */
    RESTART_SLOT: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const slot = context.slots[event.slotId];
        if (!slot || context.slotStates[event.slotId] !== 'errored' || !context.supervising) return;
        enqueue.sendTo(slot, { type: 'RESTART' });
      }),
    },
    'TASK.REVIEW': {
      actions: assign(({ context, event }) => ({ reviewing: withKey(context.reviewing, event.taskId, true as const) })),
    },
    /** Only a task that ended in review or with rate-limit retries on its books changes the pool. */
    'xstate.done.actor.task': {
      guard: ({ context, event }) =>
        event.output !== undefined &&
        (event.output.taskId in context.reviewing || event.output.taskId in context.backpressure.attempts),
      actions: assign(({ context, event }) => {
        const id = event.output?.taskId ?? '';
        const backpressure = forgetEnded(context, id);
        return {
          ...(id in context.reviewing && { reviewing: withoutKey(context.reviewing, id) }),
          ...(backpressure !== context.backpressure && { backpressure }),
        };
      }),
    },
    'CHAIN.ENDED': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        if (!(event.chainId in context.chains)) return;
        enqueue.assign({ chains: without(context.chains, event.chainId) });
        enqueue.stopChild(event.chainId);
      }),
    },
    CANCEL: {
      actions: enqueueActions(({ context, event, enqueue, system }) => {
        cancelTasks(context, helpers(enqueue), system, new Set([event.taskId]));
      }),
    },
    CANCEL_MANY: {
      actions: enqueueActions(({ context, event, enqueue, system }) => {
        cancelTasks(context, helpers(enqueue), system, new Set(event.taskIds));
      }),
    },
    CANCEL_CHAIN: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const chain = context.chains[event.chainId];
        if (isActive(chain)) enqueue.sendTo(chain, { type: 'CANCEL', immediate: event.immediate });
      }),
    },
    APPROVE: {
      actions: enqueueActions(({ context, event, enqueue, system }) => {
        const task = liveTask(system, event.taskId);
        if (task) enqueue.sendTo(task, { type: 'APPROVE', at: context.clock() });
      }),
    },
    REJECT: {
      actions: enqueueActions(({ context, event, enqueue, system }) => {
        const task = liveTask(system, event.taskId);
        if (task) enqueue.sendTo(task, { type: 'REJECT', feedback: event.feedback, at: context.clock() });
      }),
    },
    CONFIGURE_SLOT: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const slot = context.slots[event.slotId];
        if (slot) enqueue.sendTo(slot, { type: 'CONFIGURE', config: event.config });
      }),
    },
    'SUPERVISOR.STOP': {
      actions: enqueueActions(({ context, enqueue }) => {
        enqueue.assign({ supervising: false });
        for (const id of context.slotOrder) enqueue.cancel(`restart:${id}`);
      }),
    },
    /**
     * Queued tasks that waited too long for a slot fail. While dispatch is paused for a used-up rate-limit
     * window nothing fails: the wait is counted again from the window's reset.
     */
    ASSIGN_TIMEOUT: {
      actions: enqueueActions(({ context, enqueue, system }) => {
        const now = context.clock();
        const waitMs = context.config.slotAssignmentTimeoutSecs * 1000;
        const { pausedUntil } = context.backpressure;
        if (pausedUntil !== undefined && pausedUntil > now) {
          const deadline = pausedUntil + waitMs;
          enqueue.assign({ assignDeadline: deadline });
          enqueue.raise({ type: 'ASSIGN_TIMEOUT' }, { delay: deadline - now, id: 'assign-timeout' });
          return;
        }
        let queue = context.queue;
        const at = now;
        for (let head = peekQueue(queue); head && head.queuedAt + waitMs <= now; head = peekQueue(queue)) {
          queue = dropFront(queue, 1);
          const task = liveTask(system, head.job.taskId);
          const seconds = context.config.slotAssignmentTimeoutSecs;
          const reason = `no slot available after waiting ${seconds}s`;
          if (task)
            enqueue.sendTo(task, {
              type: 'FAIL',
              result: poolFailure(reason, { kind: 'no_slot_available', reason }),
              at,
            });
        }
        enqueue.assign({ queue, assignDeadline: undefined });
        armAssignTimer({ ...context, queue, assignDeadline: undefined }, helpers(enqueue));
      }),
    },
    /** A slot takes the oldest queued task now (also while draining, so queued work can finish); always answered. */
    CLAIM: {
      actions: enqueueActions(({ context, event, enqueue, system }) => {
        if (context.phase === 'stopped') {
          enqueue.emit({ type: 'claimed', slotId: event.slotId });
          return;
        }
        const plan = planDispatch(dispatchView(context), { onlySlot: event.slotId, force: true });
        applyDispatch(context, helpers(enqueue), system, plan);
        enqueue.emit({ type: 'claimed', slotId: event.slotId, taskId: plan.starts[0]?.taskId });
      }),
    },
    SUBMIT: { actions: 'refuseSubmit' },
    SUBMIT_MANY: { actions: 'refuseSubmitMany' },
    START_CHAIN: { actions: 'refuseSubmit' },
    SCALE_UP: { actions: 'refuseScale' },
    SCALE_DOWN: { actions: 'refuseScale' },
  },
  states: {
    running: {
      on: {
        SUBMIT: { actions: enqueueActions(({ context, event, enqueue }) => submit(context, event, helpers(enqueue))) },
        SUBMIT_MANY: {
          actions: enqueueActions(({ context, event, enqueue }) => submitMany(context, event, helpers(enqueue))),
        },
        /** A task restored from the store in PendingReview: it waits for its reviewer, not for a slot. */
        RESTORE_REVIEW: {
          actions: [
            assign(({ context, event }) => ({ reviewing: withKey(context.reviewing, event.record.id, true as const) })),
            { type: 'startTask', params: ({ event }) => ({ record: event.record }) },
          ],
        },
        START_CHAIN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const refusal = admitTask(context.phase, context.ledger, 0, { internal: false });
            enqueue.emit({ type: 'decision', requestId: event.record.id, ...(refusal && { refusal }) });
            if (refusal) return;
            enqueue.assign(({ spawn }) => ({
              chains: {
                ...context.chains,
                [event.record.id]: spawn('chain', {
                  id: event.record.id,
                  systemId: event.record.id,
                  input: { record: event.record, steps: event.steps, isolation: event.isolation, clock: context.clock },
                }),
              },
            }));
          }),
        },
        'TASK.REQUEUED': {
          actions: [
            assign(({ context, event }) => ({ reviewing: withoutKey(context.reviewing, event.taskId) })),
            { type: 'enqueueTask', params: ({ event }) => ({ job: jobOf(event.record) }) },
            { type: 'dispatch' },
          ],
        },
        SCALE_UP: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const current = activeSlotIds(context).length;
            const refusal = admitScale(context.phase, current, current + event.slots.length, context.config.scaling);
            enqueue.emit({ type: 'decision', requestId: event.requestId, ...(refusal && { refusal }) });
            if (refusal) return;
            enqueue.assign(({ spawn }) => {
              const slots = { ...context.slots };
              const slotStates = { ...context.slotStates };
              for (const spec of event.slots) {
                slots[spec.id] = spawn('slot', {
                  id: spec.id,
                  systemId: spec.id,
                  input: {
                    record: newSlotRecord(spec),
                    crashThreshold: context.config.crashThreshold,
                    cancelGraceMs: context.cancelGraceMs,
                  },
                });
                slotStates[spec.id] = 'idle';
              }
              return { slots, slotStates, slotOrder: [...context.slotOrder, ...event.slots.map((spec) => spec.id)] };
            });
            enqueue({ type: 'dispatch' });
          }),
        },
        SCALE_DOWN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const current = activeSlotIds(context).length;
            const count = Math.min(event.count, current);
            const refusal = admitScale(context.phase, current, current - count, context.config.scaling);
            enqueue.emit({ type: 'decision', requestId: event.requestId, ...(refusal && { refusal }) });
            if (refusal) return;
            const victims = chooseSlotsToRemove(context, count);
            enqueue.assign({ removing: [...context.removing, ...victims] });
            for (const id of victims) enqueue.sendTo(context.slots[id], { type: 'RETIRE' });
          }),
        },
        'SUPERVISOR.START': {
          actions: enqueueActions(({ context, enqueue }) => {
            enqueue.assign({ supervising: true });
            for (const id of context.slotOrder) {
              if (context.slotStates[id] !== 'errored' || context.removing.includes(id)) continue;
              const restarts = context.slots[id].getSnapshot().context.record.restartCount;
              if (restarts < context.config.maxRestarts) enqueue.raise({ type: 'RESTART_SLOT', slotId: id });
            }
          }),
        },
        DRAIN: {
          target: 'draining',
          actions: enqueueActions(({ context, event, enqueue, system }) => {
            enqueue.assign({ drainTimeoutMs: event.timeoutMs });
            if (event.queued === 'finish') return;
            // Cancelled chains submit no further step; the step they are on ends with the pool's running work.
            for (const chain of Object.values(context.chains))
              enqueue.sendTo(chain, { type: 'CANCEL', immediate: false });
            const at = context.clock();
            const queued = queuedJobs(context.queue).map((entry) => entry.job.taskId);
            for (const taskId of queued) {
              const task = liveTask(system, taskId);
              if (task) enqueue.sendTo(task, { type: 'CANCEL', at });
            }
            const waiting = dropWaiting(
              context,
              [...queued, ...Object.keys(context.backpressure.waiting)],
              helpers(enqueue),
            );
            for (const taskId of waiting) {
              const task = liveTask(system, taskId);
              if (task) enqueue.sendTo(task, { type: 'CANCEL', at });
            }
            enqueue.assign({ queue: emptyQueue(), drainCancelled: [...queued, ...waiting] });
            disarmIfEmpty(context, emptyQueue(), helpers(enqueue));
          }),
        },
      },
    },
    draining: {
      entry: assign({ phase: 'draining' }),
      always: { guard: 'drained', target: 'stopped' },
      after: {
        drainTimeout: { guard: 'hasDrainTimeout', actions: 'forceStop' },
      },
      on: {
        // Steps of chains already running are still admitted; everything else is refused.
        SUBMIT: { actions: enqueueActions(({ context, event, enqueue }) => submit(context, event, helpers(enqueue))) },
        SUBMIT_MANY: {
          actions: enqueueActions(({ context, event, enqueue }) => submitMany(context, event, helpers(enqueue))),
        },
        'TASK.REQUEUED': { actions: 'failRequeued' },
        FORCE_STOP: { actions: 'forceStop' },
      },
    },
    stopped: {
      entry: enqueueActions(({ context, enqueue }) => {
        enqueue.assign({ phase: 'stopped', supervising: false, assignDeadline: undefined });
        enqueue.cancel('assign-timeout');
        disarmPressureTimers(context, helpers(enqueue));
        for (const id of context.slotOrder) enqueue.sendTo(context.slots[id], { type: 'STOP' });
        for (const id of context.slotOrder) enqueue.cancel(`restart:${id}`);
      }),
      on: {
        'TASK.REQUEUED': { actions: 'failRequeued' },
      },
    },
  },
});

/**
 * Takes a slot's new state into the pool's view: a slot that went idle while the pool has given it work stays
 * busy in the view; a retired slot that stopped is removed; an errored one is restarted later when supervised.
 */
function noteSlotState(context: PoolContext, slotId: SlotId, state: SlotState, enqueue: Enqueue): void {
  if (!(slotId in context.slots)) return;
  const assigned = Object.values(context.running).includes(slotId);
  const viewed: SlotState = state === 'idle' && assigned ? 'busy' : state;
  if (state === 'stopped' && context.removing.includes(slotId)) {
    enqueue.assign({
      slots: without(context.slots, slotId),
      slotStates: without(context.slotStates, slotId),
      slotOrder: context.slotOrder.filter((id) => id !== slotId),
      removing: context.removing.filter((id) => id !== slotId),
    });
    enqueue.stopChild(slotId);
  } else if (context.slotStates[slotId] !== viewed) {
    enqueue.assign({ slotStates: { ...context.slotStates, [slotId]: viewed } });
  }
  if (state === 'errored' && context.slotStates[slotId] !== 'errored' && context.supervising) {
    const restarts = context.slots[slotId].getSnapshot().context.record.restartCount;
    if (restarts < context.config.maxRestarts && !context.removing.includes(slotId)) {
      enqueue.raise({ type: 'RESTART_SLOT', slotId }, { delay: context.restartDelayMs, id: `restart:${slotId}` });
    }
  }
}

/** The admission decision for one task record. */
function admitRecord(context: PoolContext, record: TaskRecord, internal: boolean | undefined) {
  const cap = record.config?.maxBudgetUsd;
  return admitTask(context.phase, context.ledger, context.config.minTaskReserveMicrodollars, {
    capMicrodollars: cap === undefined ? undefined : usdToMicrodollars(cap),
    internal: internal === true,
  });
}

/**
 * Admits each task of a batch (the refusals are emitted back), then creates and queues the accepted ones in
 * order and dispatches once: one supervisor step for the whole batch.
 */
function submitMany(
  context: PoolContext,
  event: Extract<SupervisorEvent, { type: 'SUBMIT_MANY' }>,
  enqueue: Enqueue,
): void {
  const refusals: { taskId: TaskId; refusal: AdmissionRefusal }[] = [];
  const queuedAt = context.clock();
  let queue = context.queue;
  for (const record of event.records) {
    const refusal = admitRecord(context, record, event.internal);
    if (refusal) {
      refusals.push({ taskId: record.id, refusal });
      continue;
    }
    enqueue({ type: 'startTask', params: { record } });
    queue = enqueueJob(queue, { job: jobOf(record), queuedAt });
  }
  enqueue.emit({ type: 'decisions', requestId: event.requestId, refusals });
  if (queue === context.queue) return;
  enqueue.assign({ queue });
  armAssignTimer({ ...context, queue }, enqueue);
  enqueue({ type: 'dispatch' });
}

/** Admits a task (the decision is emitted back), then creates, queues and dispatches it. */
function submit(context: PoolContext, event: Extract<SupervisorEvent, { type: 'SUBMIT' }>, enqueue: Enqueue): void {
  const refusal = admitRecord(context, event.record, event.internal);
  enqueue.emit({ type: 'decision', requestId: event.record.id, ...(refusal && { refusal }) });
  if (refusal) return;
  enqueue({ type: 'startTask', params: { record: event.record } });
  enqueue({ type: 'enqueueTask', params: { job: jobOf(event.record) } });
  enqueue({ type: 'dispatch' });
}

/** What dispatch planning reads of the pool. */
function dispatchView(context: PoolContext) {
  return {
    queue: context.queue,
    ledger: context.ledger,
    slotOrder: context.slotOrder,
    slotStates: context.slotStates,
    removing: context.removing,
    autoDispatch: context.autoDispatch,
    floorMicrodollars: context.config.minTaskReserveMicrodollars,
    noSlotCanRun: queueLength(context.queue) > 0 ? noSlotCanRun(context) : undefined,
    maxStarts: isConstrained(context.backpressure)
      ? startAllowance(context.backpressure, Object.keys(context.running).length)
      : undefined,
  };
}

/** Carries out a dispatch plan: assignments to tasks and slots, failures to tasks. */
function applyDispatch(context: PoolContext, enqueue: Enqueue, system: AnyActorSystem, plan: DispatchPlan): void {
  if (plan.starts.length === 0 && plan.failures.length === 0) return;
  const at = context.clock();
  const running = withKeys(
    context.running,
    plan.starts.map((start) => [start.taskId, start.slotId] as const),
  );
  const runningJobs = withKeys(
    context.runningJobs,
    plan.starts.map((start) => [start.taskId, start.job] as const),
  );
  enqueue.assign({ queue: plan.queue, ledger: plan.ledger, slotStates: plan.slotStates, running, runningJobs });
  disarmIfEmpty(context, plan.queue, enqueue);
  for (const start of plan.starts) {
    const task = liveTask(system, start.taskId);
    if (task) enqueue.sendTo(task, { type: 'ASSIGN', slotId: start.slotId, at });
    enqueue.sendTo(context.slots[start.slotId], { type: 'RUN', job: start.job });
  }
  for (const failure of plan.failures) {
    const task = liveTask(system, failure.taskId);
    if (task) enqueue.sendTo(task, { type: 'FAIL', result: failure.result, at });
  }
}

/** Cancels tasks: queued ones leave the queue, running ones have their run stopped, all are told. */
function cancelTasks(
  context: PoolContext,
  enqueue: Enqueue,
  system: AnyActorSystem,
  taskIds: ReadonlySet<TaskId>,
): void {
  const queue = removeFromQueue(context.queue, taskIds);
  if (queue !== context.queue) {
    enqueue.assign({ queue });
    disarmIfEmpty(context, queue, enqueue);
  }
  dropWaiting(context, taskIds, enqueue);
  const at = context.clock();
  for (const taskId of taskIds) {
    const task = liveTask(system, taskId);
    if (!task) continue;
    enqueue.sendTo(task, { type: 'CANCEL', at });
    const slotId = context.running[taskId];
    if (slotId) enqueue.sendTo(context.slots[slotId], { type: 'CANCEL_RUN', taskId });
  }
}

/** Disarms the assignment timer once nothing waits (an idle pool holds no timer). */
function disarmIfEmpty(context: PoolContext, queue: JobQueue, enqueue: Enqueue): void {
  if (context.assignDeadline === undefined || queueLength(queue) > 0) return;
  enqueue.assign({ assignDeadline: undefined });
  enqueue.cancel('assign-timeout');
}

/** Arms the one assignment timer for the queue's head, unless one is armed or nothing waits. */
function armAssignTimer(context: PoolContext, enqueue: Enqueue): void {
  if (context.assignDeadline !== undefined) return;
  const head = peekQueue(context.queue);
  if (!head) return;
  const deadline = head.queuedAt + context.config.slotAssignmentTimeoutSecs * 1000;
  enqueue.assign({ assignDeadline: deadline });
  enqueue.raise({ type: 'ASSIGN_TIMEOUT' }, { delay: Math.max(0, deadline - context.clock()), id: 'assign-timeout' });
}

/** A copy of a record without one key (a plain loop: rest-destructuring a computed key is slow in V8). */
function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!(key in record)) return record;
  const rest: Record<string, T> = {};
  for (const k in record) if (k !== key) rest[k] = record[k];
  return rest;
}

/** The pool machine's type, for actor refs. */
export type PoolMachine = typeof poolMachine;
