/**
 * The slot statechart: Idle ⇄ Busy (working / cancelling / retiring) → Errored | Stopped.
 *
 * The slot invokes one `agent` actor for its whole life: its port to the agent runner. Entering Busy tells
 * the agent to run the job; Cancelling asks it to abort (the run still reports what it spent); leaving Busy
 * for any other reason detaches the run (it is aborted, its process group killed, and it never reports). One
 * actor per slot rather than one per run keeps a run's cost to the events it needs. The real `agent` is
 * provided from `src/agent` with `slotMachine.provide({ actors: { agent } })`.
 */
import { assign, fromCallback, sendParent, sendTo, setup } from 'xstate';
import type { RunOutcome, SlotConfig, SlotId, SlotJob, SlotRecord, SlotState, TaskId } from './types.js';

/** Input of the `agent` actor: the slot it serves. */
export interface AgentActorInput {
  slotId: SlotId;
}

/** One run the slot asks of its agent: the slot as it is now and the job to run. */
export interface AgentRun {
  slot: SlotRecord;
  job: SlotJob;
}

/** Events the `agent` actor sends back to its slot: the run it was given has ended. */
export type AgentActorEvent = { type: 'AGENT.DONE'; outcome: RunOutcome };

/**
 * Events the slot sends to the `agent` actor: run a job; abort the run (it still reports); detach the run
 * (abort it, and it never reports: the slot has moved on).
 */
export type AgentActorCommand = ({ type: 'RUN' } & AgentRun) | { type: 'ABORT' } | { type: 'DETACH' };

/** Events a slot accepts. */
export type SlotEvent =
  | { type: 'RUN'; job: SlotJob }
  | { type: 'CANCEL_RUN'; taskId: TaskId }
  | { type: 'RETIRE' }
  | { type: 'STOP' }
  | { type: 'RESTART' }
  | { type: 'CONFIGURE'; config: SlotConfig }
  | AgentActorEvent;

/** Events a slot sends to its parent (the pool). */
export type SlotParentEvent =
  /** The run ended; `state` is where the slot went (so no separate SLOT.STATE follows). */
  | { type: 'SLOT.RUN_FINISHED'; slotId: SlotId; taskId: TaskId; outcome: RunOutcome; state: SlotState }
  | { type: 'SLOT.STATE'; slotId: SlotId; state: SlotState };

/** Input of a slot: its record and the limits it applies to itself. */
export interface SlotInput {
  record: SlotRecord;
  /** Consecutive crashed runs that move the slot to Errored. */
  crashThreshold: number;
  /** How long a cancelled run may take to exit on its own before it is killed. */
  cancelGraceMs: number;
}

/** The slot's context: its record, the job in hand and its limits. */
export interface SlotContext {
  record: SlotRecord;
  job?: SlotJob;
  crashThreshold: number;
  cancelGraceMs: number;
  /** Stop once the current run ends. */
  retireRequested: boolean;
}

/** The outcome reported for a run the slot had to abandon (stopped or killed after the grace period). */
export function abandonedOutcome(reason: string): RunOutcome {
  return {
    kind: 'aborted',
    result: {
      output: reason,
      success: false,
      costMicrodollars: 0,
      turnsUsed: 0,
      elapsedMs: 0,
      errorCode: 'cancelled',
    },
  };
}

/** Placeholder agent: fails every run. The pool provides the real one. */
const missingAgent = fromCallback<AgentActorCommand, AgentActorInput>(({ sendBack, receive }) => {
  receive((command) => {
    if (command.type !== 'RUN') return;
    sendBack({
      type: 'AGENT.DONE',
      outcome: {
        kind: 'spawn_failed',
        result: {
          output: 'no agent implementation was provided to the slot',
          success: false,
          costMicrodollars: 0,
          turnsUsed: 0,
          elapsedMs: 0,
          errorCode: 'spawn_failed',
        },
      },
    });
  });
});

/** The `reportFinished` action, telling the pool where the slot goes. */
const finished = (state: SlotState) => ({ type: 'reportFinished' as const, params: { state } });
/** The `reportAbandoned` action, telling the pool where the slot goes. */
const abandoned = (state: SlotState) => ({ type: 'reportAbandoned' as const, params: { state } });

function withState(context: SlotContext, state: SlotState): { record: SlotRecord } {
  return { record: { ...context.record, state } };
}

/** The slot statechart. */
export const slotMachine = setup({
  types: {
    context: {} as SlotContext,
    events: {} as SlotEvent,
    input: {} as SlotInput,
  },
  actors: { agent: missingAgent },
  delays: {
    cancelGrace: ({ context }) => context.cancelGraceMs,
  },
  guards: {
    /** The process never started: the slot cannot work. */
    spawnFailed: ({ event }) => event.type === 'AGENT.DONE' && event.outcome.kind === 'spawn_failed',
    /** This crash is one too many in a row. */
    crashedTooOften: ({ context, event }) =>
      event.type === 'AGENT.DONE' &&
      event.outcome.kind === 'crashed' &&
      context.record.consecutiveCrashes + 1 >= context.crashThreshold,
    /** The run being cancelled is this slot's. */
    isCurrentTask: ({ context, event }) => event.type === 'CANCEL_RUN' && context.job?.taskId === event.taskId,
    retireRequested: ({ context }) => context.retireRequested,
  },
  actions: {
    /** Takes the job: the slot is busy with its task from now on. */
    takeJob: assign(({ context, event }) => {
      if (event.type !== 'RUN') return {};
      return { job: event.job, record: { ...context.record, state: 'busy', currentTask: event.job.taskId } };
    }),
    /**
     * Books the run on the slot's record (counters, spend, session to resume, crash streak) and lets go of
     * the job, in one step. Runs after the report, which names the job's task.
     */
    bookOutcome: assign(({ context, event }) => {
      if (event.type !== 'AGENT.DONE') return {};
      const { outcome } = event;
      const { currentTask: _current, ...rest } = context.record;
      const record: SlotRecord = {
        ...rest,
        costMicrodollars: context.record.costMicrodollars + outcome.result.costMicrodollars,
      };
      if (outcome.kind === 'ok') {
        // A run that ended with a result line but reported a failure did not complete its task.
        if (outcome.result.success) record.tasksCompleted += 1;
        record.consecutiveCrashes = 0;
        if (outcome.result.sessionId) {
          record.sessionId = outcome.result.sessionId;
          record.sessionCostUsd = outcome.sessionCostUsd;
        }
      } else if (outcome.kind === 'crashed') {
        record.consecutiveCrashes += 1;
        record.lastError = outcome.result.output;
      } else if (outcome.kind === 'spawn_failed') {
        record.lastError = outcome.result.output;
      }
      return { record, job: undefined };
    }),
    reportFinished: sendParent(({ context, event }, params: { state: SlotState }) => ({
      type: 'SLOT.RUN_FINISHED' as const,
      slotId: context.record.id,
      taskId: context.job?.taskId ?? '',
      outcome: event.type === 'AGENT.DONE' ? event.outcome : abandonedOutcome('the run was stopped'),
      state: params.state,
    })),
    reportAbandoned: sendParent(({ context }, params: { state: SlotState }) => ({
      type: 'SLOT.RUN_FINISHED' as const,
      slotId: context.record.id,
      taskId: context.job?.taskId ?? '',
      outcome: abandonedOutcome('the run was stopped before it finished'),
      state: params.state,
    })),
    /** Tells the pool the slot is idle again after a restart (the pool cannot know otherwise). */
    reportRestarted: sendParent(({ context }) => ({
      type: 'SLOT.STATE' as const,
      slotId: context.record.id,
      state: 'idle' as const,
    })),
    clearJob: assign(({ context }) => {
      const { currentTask: _current, ...record } = context.record;
      return { job: undefined, record };
    }),
    abortAgent: sendTo('agent', { type: 'ABORT' }),
    /** Gives the agent the job the slot took. */
    startRun: sendTo('agent', ({ context }) => ({
      type: 'RUN' as const,
      slot: context.record,
      job: context.job as SlotJob,
    })),
    /** The slot left Busy: the run, if still going, is aborted and will not report. */
    detachRun: sendTo('agent', { type: 'DETACH' }),
    requestRetire: assign({ retireRequested: true }),
    reportState: sendParent(({ context }) => ({
      type: 'SLOT.STATE',
      slotId: context.record.id,
      state: context.record.state,
    })),
    applyConfig: assign(({ context, event }) => {
      if (event.type !== 'CONFIGURE') return {};
      return { record: { ...context.record, config: { ...context.record.config, ...event.config } } };
    }),
  },
}).createMachine({
  id: 'slot',
  context: ({ input }) => ({
    record: { ...input.record, state: 'idle' },
    crashThreshold: input.crashThreshold,
    cancelGraceMs: input.cancelGraceMs,
    retireRequested: false,
  }),
  initial: 'idle',
  invoke: {
    id: 'agent',
    src: 'agent',
    input: ({ context }): AgentActorInput => ({ slotId: context.record.id }),
  },
  on: {
    CONFIGURE: { actions: 'applyConfig' },
  },
  states: {
    /** The pool knows when a slot goes idle (it started there, or its run finished); a restart reports it. */
    idle: {
      entry: assign(({ context }) => withState(context, 'idle')),
      on: {
        RUN: { target: 'busy', actions: 'takeJob' },
        RETIRE: { target: 'stopped' },
        STOP: { target: 'stopped' },
      },
    },
    busy: {
      entry: 'startRun',
      exit: 'detachRun',
      initial: 'working',
      on: {
        STOP: { target: 'stopped', actions: [abandoned('stopped'), 'clearJob'] },
      },
      states: {
        /** The pool made the slot busy itself (it assigned the run), so nothing is reported. */
        working: {
          on: {
            'AGENT.DONE': [
              {
                guard: 'spawnFailed',
                target: '#slot.errored',
                actions: [finished('errored'), 'bookOutcome'],
              },
              {
                guard: 'crashedTooOften',
                target: '#slot.errored',
                actions: [finished('errored'), 'bookOutcome'],
              },
              { target: '#slot.idle', actions: [finished('idle'), 'bookOutcome'] },
            ],
            CANCEL_RUN: { guard: 'isCurrentTask', target: 'cancelling' },
            RETIRE: { target: 'retiring', actions: 'requestRetire' },
          },
        },
        retiring: {
          entry: [assign(({ context }) => withState(context, 'retiring')), 'reportState'],
          on: {
            'AGENT.DONE': { target: '#slot.stopped', actions: [finished('stopped'), 'bookOutcome'] },
            CANCEL_RUN: { guard: 'isCurrentTask', target: 'cancelling' },
          },
        },
        /** The agent was asked to stop; it gets a grace period to report what it spent. */
        cancelling: {
          entry: 'abortAgent',
          after: {
            cancelGrace: [
              { guard: 'retireRequested', target: '#slot.stopped', actions: [abandoned('stopped'), 'clearJob'] },
              { target: '#slot.idle', actions: [abandoned('idle'), 'clearJob'] },
            ],
          },
          on: {
            'AGENT.DONE': [
              {
                guard: 'retireRequested',
                target: '#slot.stopped',
                actions: [finished('stopped'), 'bookOutcome'],
              },
              {
                guard: 'crashedTooOften',
                target: '#slot.errored',
                actions: [finished('errored'), 'bookOutcome'],
              },
              { target: '#slot.idle', actions: [finished('idle'), 'bookOutcome'] },
            ],
            // Scaled down while cancelling: stop (not go idle) once the run has ended.
            RETIRE: { actions: 'requestRetire' },
          },
        },
      },
    },
    /** Only a finished run leads here, and its report tells the pool. */
    errored: {
      entry: assign(({ context }) => withState(context, 'errored')),
      on: {
        RESTART: {
          target: 'idle',
          actions: [
            assign(({ context }) => {
              const { sessionId: _session, sessionCostUsd: _cost, lastError: _error, ...rest } = context.record;
              return { record: { ...rest, restartCount: context.record.restartCount + 1, consecutiveCrashes: 0 } };
            }),
            'reportRestarted',
          ],
        },
        STOP: { target: 'stopped' },
        RETIRE: { target: 'stopped' },
      },
    },
    stopped: {
      type: 'final',
      entry: [assign(({ context }) => withState(context, 'stopped')), 'reportState'],
    },
  },
});

/** The slot machine's type, for actor refs. */
export type SlotMachine = typeof slotMachine;
