/**
 * Model-based tests of the slot statechart: (a) every generated path replayed on the machine with a fake agent and
 * the simulated clock, and (b) on a one-slot real Pool with the simulated agent, comparing the model, the slot
 * actor, the projection and the store after every step.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  fromCallback,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type InspectionEvent,
} from 'xstate';
import {
  slotMachine,
  type AgentActorCommand,
  type AgentActorEvent,
  type AgentActorInput,
  type SlotContext,
} from '../../machines/slot.js';
import type { RunOutcome, SlotRecord, SlotState } from '../../machines/types.js';
import type { Pool } from '../../src/pool/index.js';
import { simulatedClaude } from '../../src/agent/simulated/path.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import {
  actorsOf,
  Coverage,
  coverEdges,
  dropPrefixes,
  generatePaths,
  recordCoverage,
  replayPure,
  type GeneratedPath,
  type ModelSpec,
} from './harness.js';
import { compareStep, eventually, NotDrivable } from './real.js';

function outcome(kind: RunOutcome['kind'], success = kind === 'ok'): RunOutcome {
  return {
    kind,
    result: { output: kind, success, costMicrodollars: 5, turnsUsed: 1, elapsedMs: 1, sessionId: 'session-1' },
  };
}

const events: AnyEventObject[] = [
  { type: 'RUN', job: { taskId: 'task-1', prompt: 'model run' } },
  { type: 'CANCEL_RUN', taskId: 'task-1' }, // isCurrentTask true
  { type: 'CANCEL_RUN', taskId: 'task-other' }, // isCurrentTask false
  { type: 'RETIRE' },
  { type: 'STOP' },
  { type: 'RESTART' },
  { type: 'CONFIGURE', config: { name: 'model' } },
  // spawnFailed true; crashedTooOften true at the second crash in a row (threshold 2), false at the first.
  { type: 'AGENT.DONE', outcome: outcome('ok') },
  { type: 'AGENT.DONE', outcome: outcome('ok', false) },
  { type: 'AGENT.DONE', outcome: outcome('crashed') },
  { type: 'AGENT.DONE', outcome: outcome('spawn_failed') },
  { type: 'AGENT.DONE', outcome: outcome('aborted') },
];

const input = {
  record: {
    id: 'slot-0',
    state: 'idle' as SlotState,
    config: {},
    tasksCompleted: 0,
    costMicrodollars: 0,
    restartCount: 0,
    consecutiveCrashes: 0,
  } satisfies SlotRecord,
  crashThreshold: 2,
  cancelGraceMs: 50,
};

/**
 * The runs the fake agent of a level-(a) run was given: each records the commands it gets while it is the
 * current run, can report back, and is `stopped` once the slot detaches it (or the agent stops with it).
 */
const agents: { sendBack: (event: AgentActorEvent) => void; commands: AgentActorCommand[]; stopped: boolean }[] = [];
const fakeAgent = fromCallback<AgentActorCommand, AgentActorInput>(({ sendBack, receive }) => {
  let current: (typeof agents)[number] | undefined;
  receive((command) => {
    if (command.type === 'RUN') {
      current = { sendBack: sendBack as (event: AgentActorEvent) => void, commands: [], stopped: false };
      agents.push(current);
    } else if (command.type === 'DETACH') {
      if (current) current.stopped = true;
      current = undefined;
    } else current?.commands.push(command);
  });
  return () => {
    if (current) current.stopped = true;
  };
});

function outcomeLabel(event: AnyEventObject): string {
  const o = event.outcome as RunOutcome;
  return o.kind === 'ok' ? (o.result.success ? 'ok' : 'ok-failed') : o.kind;
}

const spec: ModelSpec = {
  name: 'slot',
  machine: slotMachine,
  scenarios: [{ name: 'slot', input, events }],
  // Counters that only grow (tasks, cost, restarts) and the config are not part of the model state. The crash
  // streak counts up to the threshold: past `crashThreshold - 1` every streak behaves the same.
  abstract: (snapshot: AnyMachineSnapshot) => {
    const context = snapshot.context as SlotContext;
    return {
      value: snapshot.value,
      state: context.record.state,
      crashes: Math.min(context.record.consecutiveCrashes, context.crashThreshold - 1),
      retire: context.retireRequested,
      job: context.job !== undefined,
      current: context.record.currentTask !== undefined,
    };
  },
  eventLabel: (event) => {
    if (event.type === 'AGENT.DONE') return `AGENT.DONE(${outcomeLabel(event)})`;
    if (event.type === 'CANCEL_RUN') return event.taskId === 'task-1' ? 'CANCEL_RUN' : 'CANCEL_RUN(other task)';
    if (event.type.startsWith('xstate.after.')) return `after ${event.type.split('.')[2]}`;
    return event.type;
  },
  simpleDepth: 6,
  maxSimplePaths: 150,
  implementations: { actors: { agent: fakeAgent } },
  apply: (_run, event) => {
    if (event.type !== 'AGENT.DONE') return false;
    // The result comes from the invoked agent, as in production.
    const agent = agents.at(-1);
    if (!agent || agent.stopped) throw new Error('AGENT.DONE with no running agent');
    agent.sendBack(event as AgentActorEvent);
    return true;
  },
  check: (run, event, expected, previous) => {
    const value = JSON.stringify(expected.value);
    const before = JSON.stringify(previous.value);
    const record = (expected.context as SlotContext).record;
    if (value === '{"busy":"cancelling"}' && before !== value) {
      expect(agents.at(-1)?.commands).toEqual([{ type: 'ABORT' }]);
    }
    const reports = run.sentToParent.slice(reported.get(run) ?? 0);
    reported.set(run, run.sentToParent.length);
    if (before.startsWith('{"busy"') && !value.startsWith('{"busy"')) {
      // Leaving Busy detaches the run and reports it to the pool, with where the slot went.
      expect(agents.at(-1)?.stopped).toBe(true);
      const finished = reports.filter((e) => e.type === 'SLOT.RUN_FINISHED');
      expect(finished, 'one SLOT.RUN_FINISHED per run').toHaveLength(1);
      expect(finished[0]).toMatchObject({ slotId: 'slot-0', taskId: 'task-1', state: record.state });
      if (event.type === 'AGENT.DONE') expect(finished[0].outcome).toEqual(event.outcome);
      else expect((finished[0].outcome as RunOutcome).kind).toBe('aborted');
    } else {
      expect(
        reports.filter((e) => e.type === 'SLOT.RUN_FINISHED'),
        'a run finished outside Busy',
      ).toEqual([]);
    }
    // The pool always knows the slot's state: it made the slot Busy itself (RUN); every other change is
    // reported, by the run's report (where the slot went) or by SLOT.STATE (retiring, stopped, restarted).
    let known = poolView.get(run) ?? 'idle';
    if (event.type === 'RUN' && before === '"idle"') known = 'busy';
    for (const report of reports) {
      if (report.type === 'SLOT.STATE' || report.type === 'SLOT.RUN_FINISHED') known = report.state as SlotState;
    }
    poolView.set(run, known);
    expect(known, `the pool's view of the slot after ${String(event.type)}`).toBe(record.state);
    // Nothing is reported when nothing changed.
    if (before === value && record.state === (previous.context as SlotContext).record.state) {
      expect(reports).toEqual([]);
    }
  },
};

/** Per level-(a) run: how many reports the checks have read, and the slot's state as the pool knows it. */
const reported = new WeakMap<object, number>();
const poolView = new WeakMap<object, SlotState>();

const paths = generatePaths(spec);
const abstract = spec.abstract as (snapshot: AnyMachineSnapshot) => unknown;
const label = spec.eventLabel as (event: AnyEventObject) => string;
const coverage = new Coverage('slot (level a: the machine)', slotMachine);

describe('slot model, level (a): paths replayed on the machine', () => {
  it.each(paths.map((p) => [`(${p.kinds.join(', ')}): ${p.name}`, p] as const))('%s', (_name, generated) => {
    replayPure(spec, generated, coverage);
  });

  it('covers every state, transition and guard outcome', () => {
    console.log(coverage.report());
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingTransitions()).toEqual([]);
    expect(coverage.missingGuardOutcomes()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------- level (b)

/** How long a run lasts at least, so the test sees it Busy (and can retire it) before it ends. */
const DELAY = '[[sim:delay 200]]';

/** Transitions no public operation can cause, and why (they are covered at level (a)). */
const NOT_DRIVABLE: Record<string, string> = {
  'slot.busy.cancelling --AGENT.DONE [crashedTooOften]--> slot.errored':
    'a cancelled run is interrupted by the pool, so the runner reports it as aborted, never as a crash',
  'slot.busy --STOP--> slot.stopped':
    'the pool stops its slots only once nothing runs (drain waits for running tasks; FORCE_STOP cancels them instead)',
};

/** One run of a path: what it does, and whether it must sit out the interrupt of its cancel. */
interface PlannedRun {
  prompt: string;
  /** The agent binary is missing when this run starts (a real spawn failure). */
  spawnFails?: boolean;
  /**
   * The run is cancelled and the grace period runs out before it ends (`after cancelGrace`). The simulated
   * agent has no directive that ignores SIGINT (it answers the interrupt with its result and exits at once;
   * only while the result is being written is SIGINT ignored), so the test makes the process unresponsive
   * itself: the run writes its pid (`[[sim:pidfile …]]`), the process is stopped (SIGSTOP) just before the
   * cancel, so the interrupt stays pending, and continued (SIGCONT) once the slot has given up on it.
   */
  ignoresInterrupt?: boolean;
}

interface Plan {
  /** The runs, in order. */
  runs: PlannedRun[];
}

/** Decides what each run does from the event that ends it; throws NotDrivable for steps no operation can cause. */
function plan(generated: GeneratedPath): Plan {
  const steps = generated.path.steps;
  const runs: Plan['runs'] = [];
  steps.forEach((step, i) => {
    if (i === 0) return;
    const before = JSON.stringify(steps[i - 1].state.value);
    const e = step.event;
    if (e.type === 'CANCEL_RUN' && e.taskId !== 'task-1')
      throw new NotDrivable('a cancel reaches only the slot running the task');
    if (e.type === 'STOP' && before.startsWith('{"busy"')) throw new NotDrivable('STOP while busy');
    if (e.type === 'CONFIGURE' && before === '"stopped"') throw new NotDrivable('a stopped slot cannot be configured');
    if (e.type === 'AGENT.DONE') {
      const kind = (e.outcome as RunOutcome).kind;
      // After an abort the run ends as `aborted`; a run not aborted never does.
      if ((before === '{"busy":"cancelling"}') !== (kind === 'aborted')) throw new NotDrivable(`${kind} in ${before}`);
      if (kind === 'spawn_failed' && before !== '{"busy":"working"}') throw new NotDrivable('spawn failure after RUN');
      if (kind === 'spawn_failed' && steps[i - 1].event.type !== 'RUN')
        throw new NotDrivable('spawn failure after RUN');
    }
    if (e.type !== 'RUN') return;
    const rest = steps.slice(i + 1);
    const endIndex = rest.findIndex((s, k) => {
      const from = JSON.stringify((k === 0 ? step : rest[k - 1]).state.value);
      return from.startsWith('{"busy"') && !JSON.stringify(s.state.value).startsWith('{"busy"');
    });
    const cancelled = rest.slice(0, endIndex < 0 ? undefined : endIndex).some((s) => s.event.type === 'CANCEL_RUN');
    const end = endIndex < 0 ? undefined : rest[endIndex].event;
    if (!end || cancelled || end.type !== 'AGENT.DONE') {
      const graceExpires = end?.type.startsWith('xstate.after.') ?? false;
      runs.push({ prompt: `model run [[sim:hang]]`, ignoresInterrupt: graceExpires });
      return;
    }
    const o = end.outcome as RunOutcome;
    if (o.kind === 'spawn_failed') runs.push({ prompt: 'model run', spawnFails: true });
    else if (o.kind === 'crashed') runs.push({ prompt: `model run ${DELAY} [[sim:crash]]` });
    else if (o.result.success) runs.push({ prompt: `model run ${DELAY}` });
    else runs.push({ prompt: `model run ${DELAY} [[sim:error max-turns]]` });
  });
  return { runs };
}

function drivable(generated: GeneratedPath): boolean {
  try {
    plan(generated);
    return true;
  } catch (error) {
    if (error instanceof NotDrivable) return false;
    throw error;
  }
}

interface SlotRun {
  pool: Pool;
  slot: AnyActorRef;
  runs: Plan['runs'];
  taskIds: string[];
  cancels: Promise<void>[];
  background: Promise<unknown>[];
  retired: boolean;
  /** Where runs that ignore their interrupt write their pid. */
  pidDir: string;
  /** Agent processes stopped with SIGSTOP and not yet continued. */
  frozen: number[];
  /** The event of every transition the slot actor took, in order (from the pool's inspection events). */
  taken: string[];
  /** The pool's agent binary: a link to the simulated agent, removed while a run must fail to spawn. */
  binary: string;
}

/** Records the events of the transitions the slot actor takes. */
function recordTaken(taken: string[]) {
  const isSlot = actorsOf('slot');
  return (event: InspectionEvent): void => {
    if (event.type === '@xstate.microstep' && event._transitions.length > 0 && isSlot(event.actorRef as AnyActorRef)) {
      taken.push(event.event.type);
    }
  };
}

/** The run ended as the model says: by the agent's report, or by the grace period running out. */
function expectEndedBy(run: SlotRun, type: string): void {
  expect(run.taken.at(-1)?.startsWith(type), `the run ended by ${run.taken.at(-1)}, not ${type}`).toBe(true);
}

function pidFileOf(run: SlotRun, index: number): string {
  return join(run.pidDir, `run-${index}.pid`);
}

/** Stops the agent process of run `index` (once it has written its pid), so it cannot answer an interrupt. */
async function freeze(run: SlotRun, index: number): Promise<void> {
  const file = pidFileOf(run, index);
  let pid = 0;
  await eventually(
    () => {
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      pid = text.endsWith('\n') ? Number(text.trim()) : 0;
      return pid > 0;
    },
    10_000,
    `run ${index} to write its pid`,
  );
  process.kill(pid, 'SIGSTOP');
  run.frozen.push(pid);
}

/** Continues the stopped agent processes: each answers its pending interrupt and exits. */
function thaw(run: SlotRun): void {
  for (const pid of run.frozen.splice(0)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Already gone.
    }
  }
}

function slotValue(run: SlotRun): string {
  return JSON.stringify(run.slot.getSnapshot().value);
}

async function applyReal(run: SlotRun, event: AnyEventObject): Promise<void> {
  const { pool } = run;
  const before = slotValue(run);
  const moved = (what: string) => eventually(() => slotValue(run) !== before, 10_000, what);
  switch (event.type) {
    case 'RUN': {
      const index = run.taskIds.length;
      const next = run.runs[index];
      if (next.ignoresInterrupt) {
        run.taskIds.push(await pool.submit(`${next.prompt} [[sim:pidfile ${JSON.stringify(pidFileOf(run, index))}]]`));
      } else if (next.spawnFails) {
        // Take the agent binary away for this run only: its spawn fails for real.
        rmSync(run.binary, { force: true });
        const result = pool.run(next.prompt);
        run.background.push(result.catch(() => undefined));
        const [latest] = (await pool.listTasks()).slice(-1);
        run.taskIds.push(latest.id);
      } else {
        run.taskIds.push(await pool.submit(next.prompt));
      }
      return;
    }
    case 'CANCEL_RUN': {
      const index = run.taskIds.length - 1;
      if (run.runs[index].ignoresInterrupt) await freeze(run, index);
      // Not awaited: the slot is Cancelling until the process is gone.
      const cancel = pool.cancel(run.taskIds.at(-1) as string);
      run.cancels.push(cancel);
      return;
    }
    case 'AGENT.DONE':
      await moved('the run to end');
      expectEndedBy(run, 'AGENT.DONE');
      if (!existsSync(run.binary)) symlinkSync(simulatedClaude, run.binary);
      return;
    case 'RETIRE':
      run.retired = true;
      await pool.scaleDown(1);
      return;
    case 'STOP':
      await pool.drain();
      return;
    case 'RESTART': {
      const supervisor = pool.startSupervisor();
      await moved('the supervisor to restart the slot');
      supervisor?.stop();
      return;
    }
    case 'CONFIGURE':
      pool.configureSlot('slot-0', { name: 'model' });
      return;
    default:
      if (event.type.startsWith('xstate.after.')) {
        await moved('the cancel grace period to end');
        expectEndedBy(run, 'xstate.after.');
        // The slot gave up on the run: let its process answer the interrupt and end.
        thaw(run);
        return;
      }
      throw new NotDrivable(event.type);
  }
}

const realPaths = coverEdges(spec, dropPrefixes(paths.filter(drivable), label));
const realCoverage = new Coverage('slot (level b: real Pool, simulated agent)', slotMachine, { guards: false });
for (const [edge, reason] of Object.entries(NOT_DRIVABLE)) realCoverage.excuse(edge, reason);

describe('slot model, level (b): paths replayed on the real Pool', () => {
  afterEach(cleanupPools);

  it.each(realPaths.map((p) => [p.name, p] as const))('%s', async (_name, generated) => {
    const { runs } = plan(generated);
    const taken: string[] = [];
    const graceExpires = generated.path.steps.some((s) => s.event.type.startsWith('xstate.after.'));
    const pidDir = mkdtempSync(join(tmpdir(), 'claude-pool-model-pids-'));
    const binary = join(pidDir, 'claude');
    symlinkSync(simulatedClaude, binary);
    const pool = await simPool(
      (b) =>
        b
          .slots(1)
          // A run that ignores its interrupt is given up on after 50 ms; any other cancelled run ends well before.
          .cancelGraceMs(graceExpires ? 50 : 5000)
          .restartDelayMs(10)
          .config({
            crashThreshold: 2,
            supervisorEnabled: true,
            maxRestarts: 10,
            scaling: { minSlots: 0, maxSlots: 4 },
          })
          .inspect((event) => {
            recordCoverage(realCoverage, actorsOf('slot'))(event);
            recordTaken(taken)(event);
          }),
      undefined,
      binary,
    );
    const slot = pool.supervisor.getSnapshot().context.slots['slot-0'] as AnyActorRef;
    const run: SlotRun = {
      pool,
      slot,
      runs,
      taskIds: [],
      cancels: [],
      background: [],
      retired: false,
      pidDir,
      frozen: [],
      taken,
      binary,
    };
    const check = async (where: string, expected: AnyMachineSnapshot) => {
      const model = (expected.context as SlotContext).record;
      // What the actors show now (synchronously), then what the store holds once written through.
      const actor = run.slot.getSnapshot() as AnyMachineSnapshot;
      const projected = pool.records.slots.get('slot-0');
      await pool.flush();
      const stored = await pool.store().getSlot('slot-0');
      const removed = expected.value === 'stopped' && run.retired;
      compareStep(where, {
        'slot actor state': [actor.value, expected.value],
        // State, crash streak (up to the threshold), retire request, job in hand.
        'slot actor model state': [abstract(actor), abstract(expected)],
        'projected state': [projected?.state, removed ? undefined : model.state],
        // The store holds what the projection holds (the record is deleted once a retired slot is removed).
        'stored record': [stored, pool.records.slots.get('slot-0')],
      });
      if (pool.records.slots.get('slot-0') === projected) {
        compareStep(where, { 'stored state': [stored?.state, removed ? undefined : model.state] });
      }
    };
    const [initial, ...steps] = generated.path.steps;
    try {
      await check('init', initial.state);
      for (const [index, step] of steps.entries()) {
        await applyReal(run, step.event);
        await check(`step ${index + 1} (${label(step.event)})`, step.state);
      }
      await Promise.all([...run.cancels, ...run.background]);
    } finally {
      thaw(run);
      rmSync(pidDir, { recursive: true, force: true });
    }
    realCoverage.countPath(generated.kinds[0]);
  });

  it('drives every transition of the slot machine that the public API can cause', () => {
    console.log(realCoverage.report());
    expect(realCoverage.missingStates()).toEqual([]);
    expect(realCoverage.unexplained()).toEqual([]);
  });
});

afterAll(() => {
  console.log(`[model] slot: ${paths.length} generated paths, ${realPaths.length} replayed on the real pool`);
});
