/**
 * The pool statechart: the supervisor. Running → Draining → Stopped.
 *
 * It owns the slot and task actors (spawned children), the FIFO queue, the budget ledger, scaling and
 * restarts. It is the only writer of assignments: every "which slot runs what" decision is made here, one
 * event at a time, so no lock is needed and no two tasks can take one slot. Dispatch is event-driven: a task
 * arriving, a slot reporting Idle, a restart or a scale-up each trigger a dispatch pass.
 */
import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import {
  type BudgetLedger,
  type BudgetRefusal,
  planReservation,
  reserve,
  settle,
  usdToMicrodollars,
} from './budget.js';
import { slotMachine, type SlotParentEvent } from './slot.js';
import { taskMachine, type TaskParentEvent } from './task.js';
import type {
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

/** Events the pool accepts. */
export type PoolEvent =
  | { type: 'SUBMIT'; record: TaskRecord }
  | { type: 'RESTORE_REVIEW'; record: TaskRecord }
  | { type: 'CANCEL'; taskId: TaskId }
  | { type: 'APPROVE'; taskId: TaskId }
  | { type: 'REJECT'; taskId: TaskId; feedback: string }
  | { type: 'CLAIM'; slotId: SlotId }
  | { type: 'ASSIGN_TIMEOUT'; taskId: TaskId }
  | { type: 'SCALE_UP'; slots: SlotSpec[] }
  | { type: 'SCALE_DOWN'; count: number }
  | { type: 'CONFIGURE_SLOT'; slotId: SlotId; config: SlotConfig }
  | { type: 'SUPERVISOR.START' }
  | { type: 'SUPERVISOR.STOP' }
  | { type: 'RESTART_SLOT'; slotId: SlotId }
  | { type: 'DRAIN'; queued: DrainQueuedPolicy }
  | { type: 'FORCE_STOP' }
  | SlotParentEvent
  | TaskParentEvent;

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
}

/** The pool's context. */
export interface PoolContext {
  config: PoolConfig;
  clock: () => number;
  cancelGraceMs: number;
  restartDelayMs: number;
  autoDispatch: boolean;
  supervising: boolean;
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
  queue: SlotJob[];
  /** Running task → its slot. */
  running: Record<TaskId, SlotId>;
  ledger: BudgetLedger;
  /** Queued tasks drain cancelled. */
  drainCancelled: TaskId[];
}

/** A result the pool itself makes for a task that could not run. */
export function poolFailure(output: string, errorCode: string): TaskResult {
  return { output, success: false, costMicrodollars: 0, turnsUsed: 0, elapsedMs: 0, errorCode };
}

/** The failure text of a budget refusal (the same text the typed errors carry). */
export function refusalMessage(refusal: BudgetRefusal): string {
  if (refusal.code === 'budget_exhausted') {
    return `budget exhausted: spent ${refusal.spentMicrodollars} of ${refusal.limitMicrodollars} microdollars`;
  }
  return (
    `task budget $${(refusal.taskMicrodollars / 1e6).toFixed(2)} exceeds remaining pool budget ` +
    `$${(refusal.remainingMicrodollars / 1e6).toFixed(2)}`
  );
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
export function activeSlotIds(context: PoolContext): SlotId[] {
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

/** A dispatch decision: which queued tasks start where, and which must fail. */
interface DispatchPlan {
  starts: { taskId: TaskId; slotId: SlotId; job: SlotJob }[];
  failures: { taskId: TaskId; result: TaskResult }[];
  queue: SlotJob[];
  ledger: BudgetLedger;
  slotStates: Record<SlotId, SlotState>;
}

/** Why no slot can run a queued task: every slot is errored (for good) or stopped, or there are none. */
function noSlotCanRunMessage(context: PoolContext): string {
  const active = activeSlotIds(context);
  if (active.length === 0) return 'no slot can run this task: the pool has no slots';
  const reasons = active.map((id) => {
    const record = context.slots[id]?.getSnapshot().context.record;
    const restarts = record?.restartCount ?? 0;
    return `${id} errored after ${restarts} restart(s)${record?.lastError ? `: ${record.lastError}` : ''}`;
  });
  return `no slot can run this task: every slot is errored or stopped (${reasons.join('; ')})`;
}

function canEverRun(context: PoolContext): boolean {
  return activeSlotIds(context).some((id) => {
    const state = context.slotStates[id];
    if (state !== 'errored') return true;
    const restarts = context.slots[id]?.getSnapshot().context.record.restartCount ?? 0;
    return context.supervising && restarts < context.config.maxRestarts;
  });
}

/**
 * Plans a dispatch pass in FIFO order. `onlySlot` restricts it to one slot (a claim); `force` dispatches even
 * when automatic dispatch is off.
 */
function planDispatch(context: PoolContext, options: { onlySlot?: SlotId; force?: boolean } = {}): DispatchPlan {
  const plan: DispatchPlan = {
    starts: [],
    failures: [],
    queue: context.queue,
    ledger: context.ledger,
    slotStates: context.slotStates,
  };
  if (context.queue.length === 0) return plan;
  if (!context.autoDispatch && !options.force) return plan;
  if (!canEverRun(context)) {
    for (const { taskId } of context.queue) {
      plan.failures.push({
        taskId,
        result: poolFailure(noSlotCanRunMessage(context), 'no_slot_available'),
      });
    }
    plan.queue = [];
    return plan;
  }
  const candidates = (options.onlySlot ? [options.onlySlot] : context.slotOrder).filter(
    (id) => !context.removing.includes(id) && context.slotStates[id] === 'idle',
  );
  // The common case under load: every slot is busy, and nothing is copied.
  if (candidates.length === 0) return plan;
  const slotStates = { ...context.slotStates };
  const slotCount = activeSlotIds(context).length;
  let head = 0;
  while (head < context.queue.length) {
    const slotId = candidates.find((id) => slotStates[id] === 'idle');
    if (!slotId) break;
    const job = context.queue[head];
    const { taskId } = job;
    const cap = job.overrides?.maxBudgetUsd;
    const decision = planReservation(plan.ledger, cap === undefined ? undefined : usdToMicrodollars(cap), slotCount);
    if (decision.kind === 'wait') break;
    head += 1;
    if (decision.kind === 'refuse') {
      plan.failures.push({
        taskId,
        result: poolFailure(refusalMessage(decision.refusal), decision.refusal.code),
      });
      continue;
    }
    plan.ledger = reserve(plan.ledger, taskId, decision.amount);
    slotStates[slotId] = 'busy';
    const reserved = context.ledger.limitMicrodollars === undefined ? undefined : decision.amount;
    plan.starts.push({ taskId, slotId, job: { ...job, reservedMicrodollars: reserved } });
  }
  plan.queue = head === 0 ? context.queue : context.queue.slice(head);
  plan.slotStates = slotStates;
  return plan;
}

/** The pool statechart. */
export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolEvent,
    input: {} as PoolInput,
  },
  actors: { slot: slotMachine, task: taskMachine },
  guards: {
    /** Nothing is running and nothing waits: draining is over. */
    drained: ({ context }) => Object.keys(context.running).length === 0 && context.queue.length === 0,
  },
  actions: {
    /** Starts what can start, fails what never can. */
    dispatch: enqueueActions(({ context, enqueue }, params?: { onlySlot?: SlotId; force?: boolean }) => {
      const plan = planDispatch(context, params ?? {});
      if (plan.starts.length === 0 && plan.failures.length === 0) return;
      const at = context.clock();
      const running = { ...context.running };
      const runningJobs = { ...context.runningJobs };
      for (const start of plan.starts) {
        running[start.taskId] = start.slotId;
        runningJobs[start.taskId] = start.job;
      }
      enqueue.assign({ queue: plan.queue, ledger: plan.ledger, slotStates: plan.slotStates, running, runningJobs });
      for (const start of plan.starts) {
        enqueue.cancel(`assign-timeout:${start.taskId}`);
        enqueue.sendTo(start.taskId, { type: 'ASSIGN', slotId: start.slotId, at });
        enqueue.sendTo(context.slots[start.slotId], { type: 'RUN', job: start.job });
      }
      for (const failure of plan.failures) {
        enqueue.cancel(`assign-timeout:${failure.taskId}`);
        enqueue.sendTo(failure.taskId, { type: 'FAIL', result: failure.result, at });
      }
    }),
    /** Queues a task (new or re-queued) and starts its assignment timeout. */
    enqueueTask: enqueueActions(({ context, enqueue }, params: { taskId: TaskId; job: SlotJob }) => {
      enqueue.assign({ queue: [...context.queue, params.job] });
      enqueue.raise(
        { type: 'ASSIGN_TIMEOUT', taskId: params.taskId },
        { delay: context.config.slotAssignmentTimeoutSecs * 1000, id: `assign-timeout:${params.taskId}` },
      );
    }),
  },
}).createMachine({
  id: 'pool',
  context: ({ input, spawn }) => {
    const slots: Record<SlotId, SlotActorRef> = {};
    const slotStates: Record<SlotId, SlotState> = {};
    for (const spec of input.slots) {
      slots[spec.id] = spawn('slot', {
        id: spec.id,
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
      slots,
      slotOrder: input.slots.map((spec) => spec.id),
      slotStates,
      removing: [],
      runningJobs: {},
      queue: [],
      running: {},
      ledger: {
        limitMicrodollars: input.config.budgetMicrodollars,
        spentMicrodollars: input.spentMicrodollars ?? 0,
        reservations: {},
        defaultReserveMicrodollars: input.config.defaultTaskReserveMicrodollars,
      },
      drainCancelled: [],
    };
  },
  initial: 'running',
  on: {
    // Accepted in every state: they finish or report work already under way.
    'SLOT.RUN_FINISHED': {
      actions: [
        enqueueActions(({ context, event, enqueue, self }) => {
          const { taskId, outcome } = event;
          if (!(taskId in context.running)) return;
          const job = context.runningJobs[taskId];
          const result = bookedResult(outcome, job);
          const running = { ...context.running };
          delete running[taskId];
          const runningJobs = { ...context.runningJobs };
          delete runningJobs[taskId];
          enqueue.assign({ running, runningJobs, ledger: settle(context.ledger, taskId, result.costMicrodollars) });
          const task = liveTask(self, taskId);
          if (task) {
            const at = context.clock();
            if (outcome.kind === 'ok') enqueue.sendTo(task, { type: 'FINISH', result, at });
            else enqueue.sendTo(task, { type: 'FAIL', result, at });
          }
        }),
      ],
    },
    'SLOT.STATE': {
      actions: [
        enqueueActions(({ context, event, enqueue }) => {
          const { slotId, state } = event;
          if (!(slotId in context.slots)) return;
          // A slot the pool just gave work reports Idle before it takes the job; keep the pool's view.
          const assigned = Object.values(context.running).includes(slotId);
          const viewed: SlotState = state === 'idle' && assigned ? 'busy' : state;
          enqueue.assign({ slotStates: { ...context.slotStates, [slotId]: viewed } });
          if (state === 'stopped' && context.removing.includes(slotId)) {
            const slots = { ...context.slots };
            delete slots[slotId];
            const slotStates = { ...context.slotStates };
            delete slotStates[slotId];
            enqueue.assign({
              slots,
              slotStates,
              slotOrder: context.slotOrder.filter((id) => id !== slotId),
              removing: context.removing.filter((id) => id !== slotId),
            });
            enqueue.stopChild(slotId);
          }
          if (state === 'errored' && context.supervising) {
            const restarts = context.slots[slotId].getSnapshot().context.record.restartCount;
            if (restarts < context.config.maxRestarts && !context.removing.includes(slotId)) {
              enqueue.raise(
                { type: 'RESTART_SLOT', slotId },
                { delay: context.restartDelayMs, id: `restart:${slotId}` },
              );
            }
          }
        }),
        { type: 'dispatch' },
      ],
    },
    /** A restart the supervisor scheduled; still honoured while draining so queued work can finish. */
    RESTART_SLOT: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const slot = context.slots[event.slotId];
        if (!slot || context.slotStates[event.slotId] !== 'errored' || !context.supervising) return;
        enqueue.sendTo(slot, { type: 'RESTART' });
      }),
    },
    'TASK.ENDED': {
      actions: enqueueActions(({ event, enqueue, self }) => {
        if (self.getSnapshot().children[event.taskId]) enqueue.stopChild(event.taskId);
      }),
    },
    CANCEL: {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        if (context.queue.some((job) => job.taskId === event.taskId)) {
          enqueue.assign({ queue: context.queue.filter((job) => job.taskId !== event.taskId) });
          enqueue.cancel(`assign-timeout:${event.taskId}`);
        }
        const task = liveTask(self, event.taskId);
        if (!task) return;
        const at = context.clock();
        enqueue.sendTo(task, { type: 'CANCEL', at });
        const slotId = context.running[event.taskId];
        if (slotId) enqueue.sendTo(context.slots[slotId], { type: 'CANCEL_RUN', taskId: event.taskId });
      }),
    },
    APPROVE: {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        const task = liveTask(self, event.taskId);
        if (task) enqueue.sendTo(task, { type: 'APPROVE', at: context.clock() });
      }),
    },
    REJECT: {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        const task = liveTask(self, event.taskId);
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
    ASSIGN_TIMEOUT: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        if (!context.queue.some((job) => job.taskId === event.taskId)) return;
        enqueue.assign({ queue: context.queue.filter((job) => job.taskId !== event.taskId) });
        const seconds = context.config.slotAssignmentTimeoutSecs;
        enqueue.sendTo(event.taskId, {
          type: 'FAIL',
          result: poolFailure(`no slot available after waiting ${seconds}s`, 'no_slot_available'),
          at: context.clock(),
        });
      }),
    },
  },
  states: {
    running: {
      on: {
        SUBMIT: {
          actions: [
            enqueueActions(({ event, enqueue }) => {
              enqueue.spawnChild('task', { id: event.record.id, input: event.record });
            }),
            {
              type: 'enqueueTask',
              params: ({ event }) => ({ taskId: event.record.id, job: jobOf(event.record) }),
            },
            { type: 'dispatch' },
          ],
        },
        /** A task restored from the store in PendingReview: it waits for its reviewer, not for a slot. */
        RESTORE_REVIEW: {
          actions: enqueueActions(({ event, enqueue }) => {
            enqueue.spawnChild('task', { id: event.record.id, input: event.record });
          }),
        },
        'TASK.REQUEUED': {
          actions: [
            {
              type: 'enqueueTask',
              params: ({ context, event }) => ({
                taskId: event.taskId,
                job: jobOf(event.record),
              }),
            },
            { type: 'dispatch' },
          ],
        },
        CLAIM: {
          actions: { type: 'dispatch', params: ({ event }) => ({ onlySlot: event.slotId, force: true }) },
        },
        SCALE_UP: {
          actions: [
            assign(({ context, event, spawn }) => {
              const slots = { ...context.slots };
              const slotStates = { ...context.slotStates };
              for (const spec of event.slots) {
                slots[spec.id] = spawn('slot', {
                  id: spec.id,
                  input: {
                    record: newSlotRecord(spec),
                    crashThreshold: context.config.crashThreshold,
                    cancelGraceMs: context.cancelGraceMs,
                  },
                });
                slotStates[spec.id] = 'idle';
              }
              return { slots, slotStates, slotOrder: [...context.slotOrder, ...event.slots.map((spec) => spec.id)] };
            }),
            { type: 'dispatch' },
          ],
        },
        SCALE_DOWN: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const victims = chooseSlotsToRemove(context, event.count);
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
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (event.queued === 'finish') return;
            const at = context.clock();
            for (const { taskId } of context.queue) {
              enqueue.cancel(`assign-timeout:${taskId}`);
              enqueue.sendTo(taskId, { type: 'CANCEL', at });
            }
            enqueue.assign({ queue: [], drainCancelled: context.queue.map((job) => job.taskId) });
          }),
        },
      },
    },
    draining: {
      always: { guard: 'drained', target: 'stopped' },
      on: {
        'TASK.REQUEUED': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.sendTo(event.taskId, {
              type: 'FAIL',
              result: poolFailure('pool is shut down', 'pool_shutdown'),
              at: context.clock(),
            });
          }),
        },
        FORCE_STOP: {
          actions: enqueueActions(({ context, enqueue, self }) => {
            const at = context.clock();
            for (const { taskId } of context.queue) {
              enqueue.cancel(`assign-timeout:${taskId}`);
              enqueue.sendTo(taskId, { type: 'CANCEL', at });
            }
            enqueue.assign({
              queue: [],
              drainCancelled: [...context.drainCancelled, ...context.queue.map((job) => job.taskId)],
            });
            for (const [taskId, slotId] of Object.entries(context.running)) {
              const task = liveTask(self, taskId);
              if (task) enqueue.sendTo(task, { type: 'CANCEL', at });
              enqueue.sendTo(context.slots[slotId], { type: 'CANCEL_RUN', taskId });
            }
          }),
        },
      },
    },
    stopped: {
      entry: enqueueActions(({ context, enqueue }) => {
        for (const id of context.slotOrder) enqueue.sendTo(context.slots[id], { type: 'STOP' });
        for (const id of context.slotOrder) enqueue.cancel(`restart:${id}`);
        enqueue.assign({ supervising: false });
      }),
      on: {
        'TASK.REQUEUED': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.sendTo(event.taskId, {
              type: 'FAIL',
              result: poolFailure('pool is shut down', 'pool_shutdown'),
              at: context.clock(),
            });
          }),
        },
      },
    },
  },
});

/** The task actor with this id, while it can still take events (an ended task is let go by the pool). */
function liveTask(self: { getSnapshot(): { children: Record<string, unknown> } }, taskId: TaskId): TaskActorRef | undefined {
  const child = self.getSnapshot().children[taskId] as TaskActorRef | undefined;
  return child && isActive(child) ? child : undefined;
}

/** True while an actor can still take events (a task in a final state cannot). */
export function isActive(ref: { getSnapshot(): { status: string } } | undefined): boolean {
  return ref !== undefined && ref.getSnapshot().status === 'active';
}

/** The work a task record asks for. */
export function jobOf(record: TaskRecord): SlotJob {
  return { taskId: record.id, prompt: record.prompt, overrides: record.config, workingDir: record.workingDir };
}

/** The result a task gets for a finished run, with the over-cap flag set when it spent more than its cap. */
function bookedResult(outcome: RunOutcome, job: SlotJob | undefined): TaskResult {
  const cap = job?.overrides?.maxBudgetUsd;
  if (cap !== undefined && outcome.result.costMicrodollars > usdToMicrodollars(cap)) {
    return { ...outcome.result, budgetExceeded: true };
  }
  return outcome.result;
}

/** The pool machine's type, for actor refs. */
export type PoolMachine = typeof poolMachine;
