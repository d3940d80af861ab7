/**
 * Test support: the pool statechart run directly, with stand-in agent, isolate, cleanup and step actors, a
 * hand-moved clock, and every task's latest record and every emitted decision recorded.
 */
import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyActorRef } from 'xstate';
import { chainMachine, type IsolateOutput, type RunStepInput, type RunStepOutput } from '../../machines/chain.js';
import { poolMachine, type PoolContext, type SlotSpec, type SupervisorEmitted } from '../../machines/pool.js';
import { slotMachine, type AgentActorCommand, type AgentActorInput, type AgentRun } from '../../machines/slot.js';
import { taskMachine } from '../../machines/task.js';
import type { PoolConfig, RunOutcome, SlotId, TaskRecord, TaskResult } from '../../machines/types.js';
import { completePoolConfig, type PoolConfigInput } from '../../src/config.js';
import { taskRecord } from '../support/records.js';

/** A run outcome with a result line (`ok`) or another kind, costing `cost` microdollars. */
export function outcome(kind: RunOutcome['kind'], cost = 0, over: Partial<TaskResult> = {}): RunOutcome {
  return {
    kind,
    result: {
      output: `${kind} output`,
      success: kind === 'ok',
      costMicrodollars: cost,
      turnsUsed: 1,
      elapsedMs: 1,
      ...over,
    },
  };
}

/** Options of a test pool. */
export interface TestPoolOptions {
  slots?: number;
  specs?: SlotSpec[];
  config?: PoolConfigInput;
  autoDispatch?: boolean;
  spentMicrodollars?: number;
  restartDelayMs?: number;
  cancelGraceMs?: number;
  /** The random source of the rate-limit backoff's jitter (default: always 0, the shortest wait). */
  random?: () => number;
  /** How chain steps end: by default each succeeds with output `out of <step>` and costs 10. */
  runStep?: (input: RunStepInput) => Promise<RunStepOutput>;
  isolate?: () => Promise<IsolateOutput>;
  cleanup?: () => Promise<void>;
}

/** Starts a pool with stand-in actors. */
export function testPool(options: TestPoolOptions = {}) {
  let now = 1_000;
  const clock = new SimulatedClock();
  const runs: AgentRun[] = [];
  const aborts: string[] = [];
  const tasks = new Map<string, TaskRecord>();
  const emitted: SupervisorEmitted[] = [];
  // Each slot's agent: records the runs it is given and the aborts of its current run.
  const agent = fromCallback<AgentActorCommand, AgentActorInput>(({ receive }) => {
    let current: string | undefined;
    receive((command) => {
      if (command.type === 'RUN') {
        runs.push({ slot: command.slot, job: command.job });
        current = command.job.taskId;
      } else if (command.type === 'ABORT' && current !== undefined) aborts.push(current);
      else if (command.type === 'DETACH') current = undefined;
    });
  });
  const chain = chainMachine.provide({
    actors: {
      isolate: fromPromise(options.isolate ?? (async () => ({}))),
      cleanup: fromPromise(options.cleanup ?? (async () => undefined)),
      runStep: fromPromise<RunStepOutput, RunStepInput>(async ({ input }) =>
        (
          options.runStep ??
          (async (i: RunStepInput) => ({
            taskId: `${i.chainId}-${i.stepIndex}`,
            result: {
              output: `out of ${i.step.name}`,
              success: true,
              costMicrodollars: 10,
              turnsUsed: 1,
              elapsedMs: 1,
            },
          }))
        )(input),
      ),
    },
  });
  const config: PoolConfig = completePoolConfig({ minTaskReserveMicrodollars: 0, ...options.config });
  const specs =
    options.specs ?? Array.from({ length: options.slots ?? 1 }, (_, i): SlotSpec => ({ id: `slot-${i}`, config: {} }));
  const actor = createActor(
    poolMachine.provide({ actors: { slot: slotMachine.provide({ actors: { agent } }), chain } }),
    {
      input: {
        config,
        slots: specs,
        clock: () => now,
        restartDelayMs: options.restartDelayMs,
        cancelGraceMs: options.cancelGraceMs,
        autoDispatch: options.autoDispatch,
        spentMicrodollars: options.spentMicrodollars,
        random: options.random ?? (() => 0),
      },
      clock,
      inspect: (event) => {
        if (event.type !== '@xstate.snapshot') return;
        const ref = event.actorRef as AnyActorRef & { logic?: unknown };
        if (ref.logic !== taskMachine) return;
        const { record } = (event.snapshot as unknown as { context: { record: TaskRecord } }).context;
        tasks.set(record.id, record);
      },
    },
  );
  actor.on('*', (event) => void emitted.push(event as SupervisorEmitted));
  actor.start();
  const context = (): PoolContext => actor.getSnapshot().context;
  return {
    actor,
    runs,
    aborts,
    emitted,
    context,
    state: () => actor.getSnapshot().value,
    /** The latest record of a task (also after it ended and left the system). */
    task: (id: string) => tasks.get(id),
    slot: (id: SlotId) => context().slots[id]?.getSnapshot(),
    /** Moves the pool's clock and its timers. */
    advance(ms: number) {
      now += ms;
      clock.increment(ms);
    },
    now: () => now,
    submit(id: string, extra: Partial<TaskRecord> = {}, internal?: boolean) {
      actor.send({ type: 'SUBMIT', record: taskRecord(id, extra), ...(internal !== undefined && { internal }) });
    },
    /** Ends the run on a slot as the agent would. */
    finish(slotId: SlotId, result: RunOutcome) {
      context().slots[slotId].send({ type: 'AGENT.DONE', outcome: result });
    },
    decisions: (requestId: string) => emitted.filter((e) => e.type === 'decision' && e.requestId === requestId),
    queued: () => {
      const q = context().queue;
      return q.items.slice(q.head, q.tail).map((e) => e.job.taskId);
    },
  };
}

/** A test pool. */
export type TestPool = ReturnType<typeof testPool>;
