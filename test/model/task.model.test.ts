/**
 * Model-based tests of the task statechart: (a) every generated path replayed on the machine itself, and
 * (b) on the real Pool with the simulated agent, comparing the model, the task actor, the projection and the
 * store after every step.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AnyActorRef, AnyEventObject, AnyMachineSnapshot } from 'xstate';
import { taskMachine, taskStateOf } from '../../machines/task.js';
import type { PendingPermission, TaskRecord, TaskResult } from '../../machines/types.js';
import type { Pool } from '../../src/pool/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import {
  actorsOf,
  Coverage,
  dropPrefixes,
  generatePaths,
  recordCoverage,
  replayPure,
  type GeneratedPath,
  type ModelSpec,
} from './harness.js';
import { compareStep, eventually } from './real.js';

const at = 1_000;
const success: TaskResult = { output: 'done', success: true, costMicrodollars: 10, turnsUsed: 1, elapsedMs: 5 };
const failure: TaskResult = { ...success, output: 'max turns', success: false, subtype: 'error_max_turns' };
const crash: TaskResult = { ...failure, output: 'crashed', errorCode: 'crashed' };

function record(reviewRequired: boolean): TaskRecord {
  return {
    id: 'task-model',
    prompt: 'model task',
    state: 'pending',
    tags: [],
    reviewRequired,
    maxRejections: 2,
    rejectionCount: 0,
    originalPrompt: reviewRequired ? 'model task' : undefined,
    kind: 'task',
    createdAtMs: 0,
  };
}

/**
 * A task restored from the store after a restart while it awaited review: it has its result, and its record says
 * `pending_review` (the machine's `start` goes straight to PendingReview: `awaitingReview` true).
 */
function restoredRecord(): TaskRecord {
  return {
    ...record(true),
    id: 'task-restored',
    prompt: 'restored model task',
    originalPrompt: 'restored model task',
    state: 'pending_review',
    slotId: 'slot-0',
    startedAtMs: 500,
    completedAtMs: 900,
    result: success,
  };
}

const events: AnyEventObject[] = [
  { type: 'ASSIGN', slotId: 'slot-0', at },
  { type: 'FINISH', result: success, at },
  { type: 'FINISH', result: failure, at },
  { type: 'FAIL', result: crash, at },
  { type: 'CANCEL', at },
  { type: 'APPROVE', at },
  { type: 'REJECT', feedback: 'again', at },
];

/** A tool-permission question the agent asks (`q1`, `q2`): the model's PERMISSION.REQUESTED payload. */
function question(requestId: string): PendingPermission {
  return {
    requestId,
    toolName: 'Write',
    input: { file_path: `${requestId}.txt` },
    requestedAtMs: at,
    deadlineAtMs: at + 1,
  };
}

/** Questions asked and answered while running: one open, two open at once, answered in either order. */
const permissionEvents: AnyEventObject[] = [
  { type: 'ASSIGN', slotId: 'slot-0', at },
  { type: 'PERMISSION.REQUESTED', request: question('q1') },
  { type: 'PERMISSION.REQUESTED', request: question('q2') },
  { type: 'PERMISSION.ANSWERED', requestId: 'q1', at },
  { type: 'PERMISSION.ANSWERED', requestId: 'q2', at },
  { type: 'FINISH', result: success, at },
  { type: 'CANCEL', at },
];

const spec: ModelSpec = {
  name: 'task',
  machine: taskMachine,
  scenarios: [
    // needsReview false on success; resultFailed true and false.
    { name: 'plain', input: record(false), events, onlyListed: true },
    // needsReview true; lastRejection false at the first rejection, true at the second (maxRejections 2).
    { name: 'review', input: record(true), events, onlyListed: true },
    // Restored in PendingReview (awaitingReview true; false in every other scenario), then reviewed as usual.
    { name: 'restored', input: restoredRecord(), events, onlyListed: true },
    // Stray and late events (a result after a cancel, an approval of a running task, …) change nothing.
    { name: 'stray', input: record(true), events, unhandled: true, onlyListed: true },
    // Running.Working ⇄ Running.AwaitingPermission: lastQuestionAnswered true and false.
    { name: 'permissions', input: record(false), events: permissionEvents, onlyListed: true },
  ],
  eventLabel: (event) =>
    event.type === 'FINISH'
      ? `FINISH(${(event.result as TaskResult).success ? 'success' : 'failure'})`
      : event.type === 'PERMISSION.REQUESTED'
        ? `REQUESTED(${(event.request as PendingPermission).requestId})`
        : event.type === 'PERMISSION.ANSWERED'
          ? `ANSWERED(${String(event.requestId)})`
          : event.type,
  simpleDepth: 7,
  check: (run, event, expected, previous) => {
    // A rejection that is not the last tells the pool to queue the task again.
    if (event.type === 'REJECT' && previous.value === 'pendingReview' && expected.value === 'pending') {
      const { id } = (expected.context as { record: TaskRecord }).record;
      expect(run.sentToParent.at(-1)).toMatchObject({ type: 'TASK.REQUEUED', taskId: id });
    }
    // Entering PendingReview tells the pool the task awaits its reviewer (it is then neither queued nor running).
    const reviews = run.sentToParent.filter((e) => e.type === 'TASK.REVIEW');
    const entered = expected.value === 'pendingReview' && previous.value !== 'pendingReview';
    const before = reviewsSeen.get(run) ?? (previous.value === 'pendingReview' ? 1 : 0);
    expect(reviews.length - before, `TASK.REVIEW after ${String(event.type)}`).toBe(entered ? 1 : 0);
    reviewsSeen.set(run, reviews.length);
    if (entered)
      expect(reviews.at(-1)).toEqual({
        type: 'TASK.REVIEW',
        taskId: (expected.context as { record: TaskRecord }).record.id,
      });
  },
};

/** Per level-(a) run: the TASK.REVIEW reports the checks have counted. */
const reviewsSeen = new WeakMap<object, number>();

const paths = generatePaths(spec);
const label = spec.eventLabel as (event: AnyEventObject) => string;
const coverage = new Coverage('task (level a: the machine)', taskMachine);

describe('task model, level (a): paths replayed on the machine', () => {
  it.each(paths.map((p) => [`${p.scenario.name} (${p.kinds.join(', ')}): ${p.name}`, p] as const))(
    '%s',
    (_name, generated) => {
      replayPure(spec, generated, coverage);
    },
  );

  it('covers every state, transition and guard outcome', () => {
    console.log(coverage.report());
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingTransitions()).toEqual([]);
    expect(coverage.missingGuardOutcomes()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------- level (b)

/** How long a run lasts at least, so the test sees it Running before it ends. */
const DELAY = '[[sim:delay 150]]';

/** What each run of the task must do, in order: the questions it asks, then the event that ends it decides. */
function runScripts(generated: GeneratedPath): string[] {
  const steps = generated.path.steps.slice(1);
  const scripts: string[] = [];
  steps.forEach((step, i) => {
    if (step.event.type !== 'ASSIGN') return;
    const endAt = steps.findIndex((s, j) => j > i && ['FINISH', 'FAIL', 'CANCEL'].includes(s.event.type));
    const end = endAt < 0 ? undefined : steps[endAt];
    const asks = steps
      .slice(i + 1, endAt < 0 ? undefined : endAt)
      .filter((s) => s.event.type === 'PERMISSION.REQUESTED')
      .map((s) => `[[sim:ask Write ${(s.event.request as PendingPermission).requestId}.txt "yes"]]`);
    if (asks.length > 0) {
      // The agent asks, one question after the other (each answered from outside); an unanswered one waits.
      const ask = asks.join(' ');
      if (!end || end.event.type === 'CANCEL') scripts.push(`${ask} [[sim:hang-after-tools]]`);
      else if ((end.event.result as TaskResult).success) scripts.push(`${DELAY} ${ask}`);
      else scripts.push(`${DELAY} ${ask} [[sim:error max-turns ${asks.length}]]`);
    } else if (!end || end.event.type === 'CANCEL') scripts.push('[[sim:hang]]');
    else if (end.event.type === 'FAIL') scripts.push(`${DELAY} [[sim:crash]]`);
    else if ((end.event.result as TaskResult).success) scripts.push(DELAY);
    else scripts.push(`${DELAY} [[sim:error max-turns]]`);
  });
  return scripts;
}

/**
 * Paths the simulated agent can play: it asks one question at a time (its tool rounds run one after the other),
 * so a second question while one is open is not drivable, and a run does not end while its question is open
 * (the question is answered first). Those edges are covered at level (a).
 */
function drivable(generated: GeneratedPath): boolean {
  const steps = generated.path.steps;
  return steps.every((step, i) => {
    if (i === 0) return true;
    const from = JSON.stringify(steps[i - 1].state.value);
    const waiting = from === JSON.stringify({ running: 'awaitingPermission' });
    if (!waiting) return true;
    if (step.event.type === 'CANCEL') return true;
    // Only the open question can be answered (an unknown id is refused: \`PermissionRequestNotFound\`).
    const open = (steps[i - 1].state.context as { record: TaskRecord }).record.pendingPermissions ?? [];
    return step.event.type === 'PERMISSION.ANSWERED' && open.some((q) => q.requestId === step.event.requestId);
  });
}

/** A pending task fails only when no slot takes it in time: such paths get a short assignment timeout. */
function failsWhilePending(generated: GeneratedPath): boolean {
  const steps = generated.path.steps;
  return steps.some((step, i) => i > 0 && step.event.type === 'FAIL' && steps[i - 1].state.value === 'pending');
}

/** A task in review when the pool starts is restored from its store (the `restored` scenario). */
function isRestored(generated: GeneratedPath): boolean {
  return (generated.scenario.input as TaskRecord).state === 'pending_review';
}

interface TaskRun {
  pool: Pool;
  id: string;
  /** The task's actor (an ended task stops itself and leaves the system; its last snapshot stays readable). */
  actor: AnyActorRef;
}

/**
 * The kind of failure the real task's result carries after a step: a FAIL while pending is the assignment
 * timeout, a FAIL while running is the crash its run was scripted to do, a failed FINISH the max-turns error it
 * was scripted to report; a rejection carries its own (the machine makes it).
 */
function expectedFailureKind(
  before: AnyMachineSnapshot,
  event: AnyEventObject,
  after: AnyMachineSnapshot,
): string | undefined {
  const result = (after.context as { record: TaskRecord }).record.result;
  if (!result || result.success) return undefined;
  if (result.failure) return result.failure.kind;
  if (event.type === 'FAIL') return before.value === 'pending' ? 'no_slot_available' : 'crashed';
  return 'max_turns';
}

const FINAL = new Set(['completed', 'failed', 'cancelled']);

function actorValue(run: TaskRun): unknown {
  return (run.actor.getSnapshot() as AnyMachineSnapshot).value;
}

async function applyReal(run: TaskRun, event: AnyEventObject, feedback: () => string): Promise<void> {
  const { pool, id } = run;
  const state = () => pool.records.tasks.get(id)?.state;
  switch (event.type) {
    case 'ASSIGN':
      expect(await pool.claim('slot-0')).toBe(id);
      return;
    case 'FINISH':
    case 'FAIL':
      // The run (or the assignment timeout) ends on its own: wait for the task to move.
      {
        const from = state();
        await eventually(() => state() !== from, 10_000);
      }
      return;
    case 'CANCEL':
      await pool.cancel(id);
      return;
    case 'PERMISSION.REQUESTED':
      // The agent asks on its own: wait for the question to reach the task.
      await eventually(() => (pool.records.tasks.get(id)?.pendingPermissions?.length ?? 0) > 0, 10_000);
      return;
    case 'PERMISSION.ANSWERED': {
      const open = pool.pendingPermissions().filter((request) => request.taskId === id);
      expect(open).toHaveLength(1);
      pool.answerPermission(open[0].requestId, { behavior: 'allow' });
      return;
    }
    case 'APPROVE':
      await pool.approveResult(id);
      return;
    case 'REJECT':
      await pool.rejectResult(id, feedback());
      return;
    default:
      throw new Error(`no public operation drives ${event.type}`);
  }
}

const realPaths = dropPrefixes(
  paths.filter((p) => !p.scenario.unhandled && drivable(p)),
  label,
);
const realCoverage = new Coverage('task (level b: real Pool, simulated agent)', taskMachine, { guards: false });
/** Transitions the pool never takes, and why (they are covered at level (a)). */
const NOT_DRIVABLE: Record<string, string> = {
  'task.start --always--> task.pending':
    'the pool creates a task directly in Pending (startTask resolves its snapshot there), not through Start',
  'task.start --always [awaitingReview]--> task.pendingReview':
    'the pool creates a task restored in review directly in PendingReview (RESTORE_REVIEW), not through Start',
  'task.running.awaitingPermission --PERMISSION.REQUESTED--> (stays)':
    'the simulated agent asks one question at a time (its tool rounds are sequential); covered at level (a)',
  'task.running.awaitingPermission --PERMISSION.ANSWERED--> (stays)':
    'an answer that leaves a question open needs two open at once (see above); covered at level (a)',
};
for (const [edge, reason] of Object.entries(NOT_DRIVABLE)) realCoverage.excuse(edge, reason);

describe('task model, level (b): paths replayed on the real Pool', () => {
  afterEach(cleanupPools);

  it.each(realPaths.map((p) => [`${p.scenario.name}: ${p.name}`, p] as const))('%s', async (_name, generated) => {
    const scripts = runScripts(generated);
    const timeout = failsWhilePending(generated) ? 0.4 : 300;
    const input = generated.scenario.input as TaskRecord;
    const restored = isRestored(generated);
    // A task awaiting review when the pool starts: the store the pool is built on already holds it, and the
    // pool restores it into PendingReview (RESTORE_REVIEW) while it starts.
    const store = new MemoryStore();
    if (restored) await store.putTask({ ...input, createdAtMs: Date.now() });
    const pool = await simPool((b) =>
      b
        .slots(1)
        .autoDispatch(false)
        .store(store)
        .config({ slotAssignmentTimeoutSecs: timeout, crashThreshold: 100, permissionMode: 'default' })
        .permissions({ answerTimeoutMs: 600_000 })
        .inspect(recordCoverage(realCoverage, actorsOf('task'))),
    );
    // Run 1 follows the original prompt; every later run the feedback of the rejection before it (the prompt
    // carries the latest one). A restored task has had its first run already: its first run here is rejection 1's.
    const prompt = `model task ${scripts[0] ?? ''}`;
    const id = restored
      ? input.id
      : input.reviewRequired
        ? await pool.submitWithReview(prompt, undefined, undefined, input.maxRejections)
        : await pool.submit(prompt);
    // The task's actor lives in the pool's actor system (not among the supervisor's children).
    const actor = pool.actor(id);
    if (!actor) throw new Error(`the pool has no actor for ${id}`);
    expect(pool.supervisor.system.get(id), 'the task is registered in the actor system under its id').toBe(actor);
    const run: TaskRun = { pool, id, actor };
    let nextRun = restored ? 0 : 1;
    const feedback = () => `try again ${scripts[nextRun++] ?? ''}`;
    const [initial, ...steps] = generated.path.steps;
    const observe = async () => {
      await pool.flush();
      const stored = await pool.store().getTask(id);
      const final = FINAL.has(String(actorValue(run)));
      if (final) await eventually(() => pool.actor(id) === undefined, 10_000, 'the ended task to leave the system');
      return {
        live: pool.actor(id) === actor && pool.supervisor.system.get(id) === actor,
        actor: actorValue(run),
        projection: pool.records.tasks.get(id),
        stored,
      };
    };
    /** The failure the stored result carries: none while it succeeded, else why the run failed. */
    let failureKind: string | undefined;
    const check = async (where: string, expected: typeof initial.state) => {
      const seen = await observe();
      const model = expected.context.record as TaskRecord;
      compareStep(where, {
        'actor state': [seen.actor, expected.value],
        'projected state': [seen.projection?.state, taskStateOf(expected.value as string)],
        'stored state': [seen.stored?.state, taskStateOf(expected.value as string)],
        'open questions': [seen.projection?.pendingPermissions?.length ?? 0, model.pendingPermissions?.length ?? 0],
        'stored rejection count': [seen.stored?.rejectionCount, model.rejectionCount],
        'stored result success': [seen.stored?.result?.success, model.result?.success],
        'stored failure kind': [seen.stored?.result?.failure?.kind, failureKind],
        // A live task is reachable by its id; an ended one has stopped itself and left the actor system.
        'reachable by id': [seen.live, !FINAL.has(String(expected.value))],
      });
    };
    await check('init', initial.state);
    for (const [index, step] of steps.entries()) {
      await applyReal(run, step.event, feedback);
      failureKind = expectedFailureKind(index === 0 ? initial.state : steps[index - 1].state, step.event, step.state);
      await check(`step ${index + 1} (${label(step.event)})`, step.state);
    }
    realCoverage.countPath(generated.kinds[0]);
  });

  it('drives every transition of the task machine through the public API', () => {
    console.log(realCoverage.report());
    // Start is transient and the pool never enters it: every other state is reached.
    expect(realCoverage.missingStates()).toEqual(['task.start']);
    expect(realCoverage.unexplained()).toEqual([]);
  });
});

afterAll(() => {
  // Keep the summary visible at the end of the run as well.
  console.log(`[model] task: ${paths.length} generated paths, ${realPaths.length} replayed on the real pool`);
});
