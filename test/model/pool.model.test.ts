/**
 * Model-based tests of the pool statechart (the supervisor).
 *
 * Level (a): generated paths replayed on the pool machine whose children are inert stand-ins, so the pool hears
 * exactly the events of the path: what its slots and tasks would report (SLOT.STATE, SLOT.RUN_FINISHED,
 * TASK.REQUEUED, TASK.ENDED) is part of the model's events. After every step the live pool must be where the model is, and the supervisor's invariants must hold.
 *
 * Level (b): a few generated paths over the public operations (submit, cancel, scale up/down, drain) replayed on
 * the real Pool with the simulated agent; and paths of a pool started on a store that holds a task awaiting review
 * (RESTORE_REVIEW), which is then approved, rejected or cancelled.
 */
import { taskRecord as baseTaskRecord } from '../support/records.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createMachine, type AnyEventObject, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { nextSlotIds, poolMachine, type PoolContext } from '../../machines/pool.js';
import { rejectedPrompt } from '../../machines/task.js';
import type { RunOutcome, SlotJob, SlotRecord, TaskRecord } from '../../machines/types.js';
import { completePoolConfig } from '../../src/config.js';
import type { Pool } from '../../src/pool/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import {
  actorsOf,
  Coverage,
  coverEdges,
  generatePaths,
  recordCoverage,
  replayPure,
  type GeneratedPath,
  type ModelSpec,
} from './harness.js';
import { compareStep, eventually } from './real.js';

const TASK_IDS = ['task-0', 'task-1'];
const MAX_SLOTS = 3;

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

function outcome(kind: RunOutcome['kind']): RunOutcome {
  return { kind, result: { output: kind, success: kind === 'ok', costMicrodollars: 0, turnsUsed: 1, elapsedMs: 1 } };
}

const queuedIds = (context: PoolContext): string[] =>
  (context.queue as (SlotJob | string)[]).map((job) => (typeof job === 'string' ? job : job.taskId));
const activeSlots = (context: PoolContext) =>
  context.slotOrder.filter((id) => !context.removing.includes(id) && context.slotStates[id] !== 'stopped');

/** What can happen next: every public command, and every report its slots and tasks could make now. */
function poolEvents(snapshot: AnyMachineSnapshot): AnyEventObject[] {
  const context = snapshot.context as PoolContext;
  const tasks = Object.keys(snapshot.children).filter((id) => id.startsWith('task-')).sort();
  const queued = queuedIds(context);
  const events: AnyEventObject[] = [];
  const free = TASK_IDS.find((id) => !tasks.includes(id));
  if (free) {
    events.push({ type: 'SUBMIT', record: taskRecord(free) }, { type: 'RESTORE_REVIEW', record: reviewRecord(free) });
  }
  for (const taskId of tasks) {
    events.push({ type: 'CANCEL', taskId }, { type: 'APPROVE', taskId }, { type: 'REJECT', taskId, feedback: 'again' });
    const busy = queued.includes(taskId) || taskId in context.running;
    if (!busy) {
      events.push({ type: 'TASK.REQUEUED', taskId, record: taskRecord(taskId) }, { type: 'TASK.ENDED', taskId });
    }
  }
  for (const taskId of queued) events.push({ type: 'ASSIGN_TIMEOUT', taskId });
  for (const [taskId, slotId] of Object.entries(context.running)) {
    events.push(
      { type: 'SLOT.RUN_FINISHED', slotId, taskId, outcome: outcome('ok') },
      { type: 'SLOT.RUN_FINISHED', slotId, taskId, outcome: outcome('crashed') },
    );
  }
  const assigned = new Set(Object.values(context.running));
  for (const slotId of context.slotOrder) {
    const view = context.slotStates[slotId];
    if (view === 'busy' && !assigned.has(slotId)) {
      events.push({ type: 'SLOT.STATE', slotId, state: 'idle' });
      if (slotId === 'slot-0') events.push({ type: 'SLOT.STATE', slotId, state: 'errored' });
    }
    if (view === 'errored') {
      events.push({ type: 'SLOT.STATE', slotId, state: 'idle' }, { type: 'RESTART_SLOT', slotId });
    }
    if (view !== 'stopped' && !assigned.has(slotId) && (context.removing.includes(slotId) || snapshot.value === 'stopped')) {
      events.push({ type: 'SLOT.STATE', slotId, state: 'stopped' });
    }
  }
  events.push({ type: 'CLAIM', slotId: 'slot-0' });
  // New slots get ids after the highest in use, so ids grow when older slots are removed: keep them bounded.
  const [next] = nextSlotIds(context, 1);
  if (context.slotOrder.length < MAX_SLOTS && Number(next.slice('slot-'.length)) < MAX_SLOTS) {
    events.push({ type: 'SCALE_UP', slots: [{ id: next, config: {} }] });
  }
  if (activeSlots(context).length > 1) events.push({ type: 'SCALE_DOWN', count: 1 });
  events.push(
    { type: 'CONFIGURE_SLOT', slotId: 'slot-0', config: { name: 'model' } },
    { type: 'SUPERVISOR.START' },
    { type: 'SUPERVISOR.STOP' },
    { type: 'DRAIN', queued: 'cancel' },
    { type: 'DRAIN', queued: 'finish' },
    { type: 'FORCE_STOP' },
  );
  return events;
}

/**
 * Stand-ins for the pool's children that take no part: they keep their record and never change state or talk
 * back, as in the pure traversal (where children are never started). The path's events are all the pool hears.
 */
const inertSlot = createMachine({
  id: 'slot',
  context: ({ input }: { input: { record: SlotRecord } }) => ({ record: input.record }),
  initial: 'idle',
  states: { idle: {} },
});
const inertTask = createMachine({
  id: 'task',
  context: ({ input }: { input: TaskRecord }) => ({ record: input }),
  initial: 'pending',
  states: { pending: {} },
});
const inertChildren = { actors: { slot: inertSlot, task: inertTask } };

function label(event: AnyEventObject): string {
  switch (event.type) {
    case 'SUBMIT':
    case 'RESTORE_REVIEW':
      return `${event.type} ${(event.record as TaskRecord).id}`;
    case 'SLOT.RUN_FINISHED':
      return `SLOT.RUN_FINISHED ${event.taskId}@${event.slotId} ${(event.outcome as RunOutcome).kind}`;
    case 'SLOT.STATE':
      return `SLOT.STATE ${event.slotId}=${event.state}`;
    case 'SCALE_UP':
      return `SCALE_UP ${(event.slots as { id: string }[]).map((s) => s.id).join(',')}`;
    case 'SCALE_DOWN':
      return `SCALE_DOWN ${event.count}`;
    case 'DRAIN':
      return `DRAIN(${event.queued})`;
    default: {
      const target = event.taskId ?? event.slotId;
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
    slotOrder: context.slotOrder,
    slotStates: context.slotStates,
    removing: context.removing,
    supervising: context.supervising,
    reservations: context.ledger.reservations,
    tasks: Object.keys(snapshot.children).filter((id) => id.startsWith('task-')).sort(),
    drainCancelled: context.drainCancelled,
  };
}

/** The supervisor's invariants, checked after every step of every path. */
function checkInvariants(snapshot: AnyMachineSnapshot): void {
  const context = snapshot.context as PoolContext;
  const queued = queuedIds(context);
  const running = Object.entries(context.running);
  expect(new Set(queued).size, 'a task is queued twice').toBe(queued.length);
  for (const taskId of queued) expect(context.running, `${taskId} is queued and running`).not.toHaveProperty(taskId);
  const busySlots = running.map(([, slotId]) => slotId);
  expect(new Set(busySlots).size, 'two tasks run on one slot').toBe(busySlots.length);
  for (const [taskId, slotId] of running) {
    expect(context.slotOrder, `${taskId} runs on a slot the pool does not have`).toContain(slotId);
    expect(['busy', 'retiring'], `${slotId} runs ${taskId} but the pool sees it ${context.slotStates[slotId]}`).toContain(
      context.slotStates[slotId],
    );
  }
  expect(Object.keys(context.ledger.reservations).sort(), 'reservations are exactly the running tasks').toEqual(
    Object.keys(context.running).sort(),
  );
  expect(Object.keys(context.slotStates).sort()).toEqual([...context.slotOrder].sort());
  expect(Object.keys(context.slots).sort()).toEqual([...context.slotOrder].sort());
  for (const id of context.removing) expect(context.slotOrder).toContain(id);
  if (snapshot.value === 'stopped') {
    expect(queued, 'a stopped pool has a queue').toEqual([]);
    expect(running, 'a stopped pool runs tasks').toEqual([]);
  }
  if (snapshot.value === 'draining') expect(queued.length + running.length).toBeGreaterThan(0);
}

function input(slots: number) {
  return {
    config: completePoolConfig({ maxRestarts: 1, scaling: { minSlots: 1, maxSlots: MAX_SLOTS } }),
    slots: Array.from({ length: slots }, (_, i) => ({ id: `slot-${i}`, config: {} })),
    clock: () => 1_000,
    cancelGraceMs: 100,
    restartDelayMs: 50,
  };
}

/** The pool's events restricted to some types (each scenario explores one concern, so its state graph stays small). */
function only(...types: string[]): (snapshot: AnyMachineSnapshot) => AnyEventObject[] {
  return (snapshot) => poolEvents(snapshot).filter((event) => types.includes(event.type));
}

const REPORTS = ['SLOT.RUN_FINISHED', 'SLOT.STATE', 'TASK.REQUEUED', 'TASK.ENDED'];

const spec: ModelSpec = {
  name: 'pool',
  machine: poolMachine,
  scenarios: [
    {
      name: 'dispatch',
      input: input(2),
      events: only('SUBMIT', 'CANCEL', 'APPROVE', 'REJECT', 'ASSIGN_TIMEOUT', 'CLAIM', ...REPORTS),
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
      events: only('SUBMIT', 'DRAIN', 'FORCE_STOP', 'CANCEL', ...REPORTS),
      onlyListed: true,
    },
    {
      // Tasks restored in PendingReview next to submitted ones: reviewed (their tasks then end or are requeued).
      name: 'restore',
      input: input(1),
      events: only('RESTORE_REVIEW', 'SUBMIT', 'APPROVE', 'REJECT', 'CANCEL', ...REPORTS),
      onlyListed: true,
    },
  ],
  abstract,
  // Paths are kept per coarse state: the statechart state, how much is queued and running, the slots and the flags.
  coverageKey: (snapshot) => {
    const context = snapshot.context as PoolContext;
    return [
      snapshot.value,
      queuedIds(context).length,
      Object.keys(context.running).length,
      context.slotOrder.length,
      context.removing.length,
      Object.values(context.slotStates).sort().join(','),
      context.supervising,
      Object.keys(snapshot.children).filter((id) => id.startsWith('task-')).length,
    ];
  },
  eventLabel: label,
  simpleDepth: 5,
  maxSimplePaths: 150,
  traversalLimit: 400_000,
  implementations: inertChildren,
  apply: (run, event) => {
    // The pool's own timers (assignment timeouts, restarts) are raised events: the path sends them itself.
    run.actor.send(event);
    return true;
  },
  check: (run) => checkInvariants(run.actor.getSnapshot()),
};

const started = Date.now();
const paths = generatePaths(spec);
const generationMs = Date.now() - started;
const coverage = new Coverage('pool (level a: the machine, inert children)', poolMachine);

describe('pool model, level (a): paths replayed on the machine', () => {
  it.each(paths.map((p) => [`(${p.kinds.join(', ')}): ${p.name}`, p] as const))('%s', (_name, generated) => {
    replayPure(spec, generated, coverage);
  });

  it('covers every state, transition and guard outcome', () => {
    console.log(coverage.report([`${paths.length} paths generated in ${generationMs} ms`]));
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingTransitions()).toEqual([]);
    expect(coverage.missingGuardOutcomes()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------- level (b)

/**
 * The reports the pool's slots inevitably make after a public command (every run hangs until it is cancelled):
 * a cancelled run ends and its slot reports Idle (Stopped when it is being removed); a slot chosen by scale-down
 * stops at once when idle, or reports Retiring when busy; a stopped pool stops every slot.
 */
function reportsAfter(before: AnyMachineSnapshot, event: AnyEventObject, after: AnyMachineSnapshot): AnyEventObject[] {
  const prior = before.context as PoolContext;
  const context = after.context as PoolContext;
  const reports: AnyEventObject[] = [];
  if (event.type === 'CANCEL' && typeof event.taskId === 'string' && event.taskId in prior.running) {
    const slotId = prior.running[event.taskId];
    reports.push(
      { type: 'SLOT.RUN_FINISHED', slotId, taskId: event.taskId, outcome: outcome('aborted') },
      { type: 'SLOT.STATE', slotId, state: context.removing.includes(slotId) ? 'stopped' : 'idle' },
    );
  }
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

const publicSpec: ModelSpec = {
  ...spec,
  name: 'pool (public operations)',
  scenarios: [
    {
      name: 'public',
      input: input(2),
      events: (snapshot) =>
        poolEvents(snapshot).filter((event) => {
          const context = snapshot.context as PoolContext;
          if (event.type === 'CANCEL') {
            return queuedIds(context).includes(event.taskId as string) || (event.taskId as string) in context.running;
          }
          if (event.type === 'DRAIN') return event.queued === 'cancel';
          return ['SUBMIT', 'SCALE_UP', 'SCALE_DOWN'].includes(event.type);
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
  // Keep those that use every public command between them, at most 10 (the longest cover the most).
  (p, i, all) => all.length <= 10 || i % Math.ceil(all.length / 10) === 0,
);

const RESTORED = 'task-restored';
/** The feedback of a rejection: the task runs again, and that run hangs until it is cancelled. */
const FEEDBACK = 'again [[sim:hang]]';

const taskIdsOf = (snapshot: AnyMachineSnapshot) =>
  Object.keys(snapshot.children)
    .filter((id) => id.startsWith('task-'))
    .sort();

/** A task that is neither queued nor running: the restored one, while it waits for its reviewer. */
function inReview(snapshot: AnyMachineSnapshot, taskId: string): boolean {
  const context = snapshot.context as PoolContext;
  return taskIdsOf(snapshot).includes(taskId) && !queuedIds(context).includes(taskId) && !(taskId in context.running);
}

/**
 * The reports after a review, besides those of {@link reportsAfter}: an approved or cancelled task ends (and the
 * pool lets it go); a rejected one (its first rejection of two) is queued again, and its next run hangs.
 */
function reportsAfterReview(
  before: AnyMachineSnapshot,
  event: AnyEventObject,
  after: AnyMachineSnapshot,
): AnyEventObject[] {
  const reports = reportsAfter(before, event, after);
  const taskId = event.taskId as string;
  if (event.type === 'APPROVE' || (event.type === 'CANCEL' && taskIdsOf(before).includes(taskId))) {
    reports.push({ type: 'TASK.ENDED', taskId });
  }
  if (event.type === 'REJECT') {
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
      input: input(2),
      events: (snapshot) => {
        const context = snapshot.context as PoolContext;
        const tasks = taskIdsOf(snapshot);
        const events: AnyEventObject[] = [];
        if (tasks.length === 0) events.push({ type: 'RESTORE_REVIEW', record: reviewRecord(RESTORED) });
        if (inReview(snapshot, RESTORED)) {
          events.push(
            { type: 'APPROVE', taskId: RESTORED },
            { type: 'REJECT', taskId: RESTORED, feedback: FEEDBACK },
            { type: 'CANCEL', taskId: RESTORED },
          );
        }
        if (!tasks.includes('task-0')) events.push({ type: 'SUBMIT', record: taskRecord('task-0') });
        for (const taskId of [...queuedIds(context), ...Object.keys(context.running)]) {
          events.push({ type: 'CANCEL', taskId });
        }
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

/** The parts of the pool's context the model predicts, with the real task ids renamed to the model's. */
function view(snapshot: AnyMachineSnapshot, rename: (id: string) => string, withTasks: boolean): unknown {
  const context = snapshot.context as PoolContext;
  return {
    value: snapshot.value,
    queue: queuedIds(context).map(rename),
    running: Object.fromEntries(Object.entries(context.running).map(([task, slot]) => [rename(task), slot])),
    slotOrder: context.slotOrder,
    slotStates: context.slotStates,
    removing: context.removing,
    // The model of the public operations keeps ended tasks; the restored-review model lets them go, as the pool does.
    ...(withTasks ? { tasks: taskIdsOf(snapshot).map(rename).sort() } : {}),
  };
}

const realCoverage = new Coverage('pool (level b: real Pool, simulated agent)', poolMachine, { guards: false });

/** Replays a path of public operations (and of a restored review) on a real pool, comparing after each step. */
async function replayOnPool(generated: GeneratedPath, withTasks: boolean): Promise<void> {
  const [initial, ...steps] = generated.path.steps;
  const restored = steps[0]?.event.type === 'RESTORE_REVIEW' ? (steps[0].event.record as TaskRecord) : undefined;
  // The store already holds the task awaiting review: the pool restores it (RESTORE_REVIEW) as it starts.
  const store = new MemoryStore();
  if (restored) await store.putTask({ ...restored, createdAtMs: Date.now() });
  const pool: Pool = await simPool((b) =>
    b
      .slots(2)
      .store(store)
      .config({ scaling: { minSlots: 1, maxSlots: MAX_SLOTS } })
      .inspect(recordCoverage(realCoverage, actorsOf('pool'))),
  );
  const ids = new Map<string, string>(); // real id → model id
  const rename = (id: string) => ids.get(id) ?? id;
  // The latest real task of a model id (a model id is used again once its task has ended).
  const real = (modelId: string) => [...ids].reverse().find(([, model]) => model === modelId)?.[0] ?? modelId;
  let drain: Promise<unknown> | undefined;
  try {
    const check = async (where: string, expected: AnyMachineSnapshot) => {
      const want = JSON.stringify(view(expected, (id) => id, withTasks));
      // The reports arrive on their own: wait for them, then compare.
      await eventually(
        () => JSON.stringify(view(pool.supervisor.getSnapshot(), rename, withTasks)) === want,
        10_000,
        `${where}: the pool to settle`,
      ).catch(() => undefined);
      await pool.flush();
      const status = pool.status();
      const model = expected.context as PoolContext;
      compareStep(where, {
        'supervisor state': [
          view(pool.supervisor.getSnapshot(), rename, withTasks),
          view(expected, (id) => id, withTasks),
        ],
        'status: shut down': [status.shutdown, expected.value !== 'running'],
        'status: running tasks': [status.runningTasks, Object.keys(model.running).length],
        'status: pending tasks': [status.pendingTasks, queuedIds(model).length],
      });
    };
    // A restored pool is first seen with its task restored: the state after RESTORE_REVIEW.
    if (!restored) await check('init', initial.state);
    for (const [index, step] of steps.entries()) {
      const event = step.event;
      switch (event.type) {
        case 'RESTORE_REVIEW':
          // Done while the pool started (the store held the task).
          break;
        case 'SUBMIT': {
          const id = await pool.submit(`model task [[sim:hang]]`);
          ids.set(id, (event.record as TaskRecord).id);
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
          await pool.scaleUp(1);
          break;
        case 'SCALE_DOWN':
          await pool.scaleDown(1);
          break;
        case 'DRAIN':
          drain = pool.drain();
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

describe('pool model, level (b): public operations replayed on the real Pool', () => {
  afterEach(cleanupPools);

  it.each(publicPaths.map((p) => [p.name, p] as const))('%s', async (_name, generated) => {
    await replayOnPool(generated, false);
  });

  it.each(restorePaths.map((p) => [`restored: ${p.name}`, p] as const))('%s', async (_name, generated) => {
    await replayOnPool(generated, true);
  });

  it('reports what the public operations covered', () => {
    expect([...realCoverage.edgesHit], 'RESTORE_REVIEW, from a pre-filled store').toContain(
      realCoverage.edges.find((edge) => edge.event === 'RESTORE_REVIEW')?.id,
    );
    for (const edge of realCoverage.missingTransitions()) {
      realCoverage.excused.set(edge.id, 'not one of the public operations replayed here');
    }
    console.log(
      realCoverage.report([
        `${publicPaths.length} paths over submit, cancel, scale up/down and drain`,
        `${restorePaths.length} paths of a pool restored with a task in review (approve, reject, cancel, submit)`,
      ]),
    );
    expect(realCoverage.states).toEqual(['pool.running', 'pool.draining', 'pool.stopped']);
    expect(realCoverage.missingStates()).toEqual([]);
  });
});

afterAll(() => {
  console.log(`[model] pool: ${paths.length} generated paths`);
});
