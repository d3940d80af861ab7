/**
 * The chain statechart: Preparing (isolation) → Running (step by step, with retries and recovery) →
 * CleaningUp → Completed | Failed | Cancelled.
 *
 * Each attempt of a step is an invoked `runStep` actor (provided from `src/`) that submits a task to the pool
 * and resolves with its result; leaving the attempt (an immediate cancel) stops it, which cancels the task
 * and kills its process. `isolate` makes the chain's worktree or clone, `cleanup` removes it.
 */
import { assign, fromPromise, sendParent, setup } from 'xstate';
import { extractOutputVar } from './templating.js';
import type {
  ChainIsolation,
  ChainProgress,
  ChainResult,
  ChainStatus,
  ChainStep,
  StepResult,
  TaskId,
  TaskRecord,
  TaskResult,
} from './types.js';

/** Input of the `runStep` actor: everything needed to render and run one attempt. */
export interface RunStepInput {
  chainId: TaskId;
  step: ChainStep;
  stepIndex: number;
  /** `attempt`: the step's own prompt; `recovery`: its recovery prompt. */
  mode: 'attempt' | 'recovery';
  attempt: number;
  previousOutput: string;
  vars: Readonly<Record<string, string>>;
  lastError: string;
  workingDir?: string;
}

/** What the `runStep` actor resolves with. */
export interface RunStepOutput {
  taskId: TaskId;
  result: TaskResult;
}

/** Input of the `isolate` actor. */
export interface IsolateInput {
  chainId: TaskId;
  isolation: ChainIsolation;
}

/** What `isolate` resolves with: the directory to run in (none = the slot's), and a warning if it fell back. */
export interface IsolateOutput {
  workingDir?: string;
  warning?: string;
}

/** Input of the `cleanup` actor. */
export interface CleanupInput {
  chainId: TaskId;
  isolation: ChainIsolation;
  workingDir?: string;
}

/** Input of a chain. */
export interface ChainInput {
  record: TaskRecord;
  steps: ChainStep[];
  isolation: ChainIsolation;
  clock: () => number;
}

/** Events a chain sends to its parent (the pool): it has ended (the pool lets it go). */
export type ChainParentEvent = { type: 'CHAIN.ENDED'; chainId: TaskId };

/** Events a chain accepts. */
export type ChainEvent = { type: 'CANCEL'; immediate: boolean } | { type: 'STEP.OUTPUT'; chunk: string };

/** The chain's context. */
export interface ChainContext {
  record: TaskRecord;
  steps: ChainStep[];
  isolation: ChainIsolation;
  clock: () => number;
  workingDir?: string;
  stepIndex: number;
  /** Attempts made of the current step. */
  attempt: number;
  /** Cost of every attempt of the current step so far. */
  stepCost: number;
  previousOutput: string;
  vars: Record<string, string>;
  lastError: string;
  results: StepResult[];
  totalCost: number;
  cancelRequested: boolean;
  /** How the chain ends once it has cleaned up. */
  outcome?: ChainStatus;
  warnings: string[];
  progress: ChainProgress;
}

const notProvided = (name: string) =>
  fromPromise<never, unknown>(async () => {
    throw new Error(`the chain's ${name} actor was not provided`);
  });

/** The chain's result as it stands. */
export function chainResultOf(context: ChainContext): ChainResult {
  return {
    steps: context.results,
    finalOutput: context.previousOutput,
    totalCostMicrodollars: context.totalCost,
    success: context.outcome === 'completed',
  };
}

function failureText(output: RunStepOutput | undefined, error: unknown): string {
  if (output) return output.result.output;
  return error instanceof Error ? error.message : String(error);
}

function withProgress(context: ChainContext, patch: Partial<ChainProgress>): ChainProgress {
  return { ...context.progress, ...patch };
}

const idleProgress = {
  currentStep: undefined,
  currentStepName: undefined,
  currentStepPartialOutput: undefined,
  currentStepStartedAt: undefined,
} as const;

/** What the `runStep` actor gets for the current step. */
function stepInput(context: ChainContext, mode: RunStepInput['mode']): RunStepInput {
  return {
    chainId: context.record.id,
    step: context.steps[context.stepIndex],
    stepIndex: context.stepIndex,
    mode,
    attempt: context.attempt,
    previousOutput: context.previousOutput,
    vars: context.vars,
    lastError: context.lastError,
    workingDir: context.workingDir,
  };
}

/** While a step runs: its streamed output is kept; a cancel kills it (immediate) or waits for it to end. */
const whileStepRuns = {
  'STEP.OUTPUT': { actions: 'appendOutput' },
  CANCEL: [{ guard: 'immediate', target: '#chain.cleaningUp', actions: 'skipRemaining' }, { actions: 'requestCancel' }],
} as const;

/** The chain statechart. */
export const chainMachine = setup({
  types: {
    context: {} as ChainContext,
    events: {} as ChainEvent,
    input: {} as ChainInput,
  },
  actors: {
    runStep: notProvided('runStep') as unknown as ReturnType<typeof fromPromise<RunStepOutput, RunStepInput>>,
    isolate: notProvided('isolate') as unknown as ReturnType<typeof fromPromise<IsolateOutput, IsolateInput>>,
    cleanup: notProvided('cleanup') as unknown as ReturnType<typeof fromPromise<void, CleanupInput>>,
  },
  guards: {
    cancelRequested: ({ context }) => context.cancelRequested,
    allStepsDone: ({ context }) => context.stepIndex >= context.steps.length,
    /** The attempt's task succeeded. */
    attemptSucceeded: ({ event }) => {
      const output = (event as unknown as { output?: RunStepOutput }).output;
      return output?.result.success === true;
    },
    /** Another attempt is allowed (and no cancel is pending). */
    retriesLeft: ({ context }) =>
      !context.cancelRequested && context.attempt <= (context.steps[context.stepIndex]?.failurePolicy?.retries ?? 0),
    /** The step has a recovery prompt (and no cancel is pending). */
    hasRecovery: ({ context }) =>
      !context.cancelRequested && Boolean(context.steps[context.stepIndex]?.failurePolicy?.recoveryPrompt),
    immediate: ({ event }) => event.type === 'CANCEL' && event.immediate,
    endsCompleted: ({ context }) => context.outcome === 'completed',
    endsCancelled: ({ context }) => context.outcome === 'cancelled',
    endsFailed: ({ context }) => context.outcome === 'failed',
  },
  actions: {
    startStep: assign(({ context }) => {
      const step = context.steps[context.stepIndex];
      return {
        progress: withProgress(context, {
          currentStep: context.stepIndex,
          currentStepName: step.name,
          currentStepPartialOutput: '',
          currentStepStartedAt: context.clock(),
          completedSteps: context.results,
          status: 'running',
        }),
      };
    }),
    beginAttempt: assign(({ context }) => ({
      attempt: context.attempt + 1,
      progress: withProgress(context, { currentStepPartialOutput: '' }),
    })),
    appendOutput: assign(({ context, event }) => {
      if (event.type !== 'STEP.OUTPUT') return {};
      return {
        progress: withProgress(context, {
          currentStepPartialOutput: (context.progress.currentStepPartialOutput ?? '') + event.chunk,
        }),
      };
    }),
    /** Books a failed attempt: its cost and its error. */
    bookFailedAttempt: assign(({ context, event }) => {
      const output = (event as unknown as { output?: RunStepOutput }).output;
      const error = (event as unknown as { error?: unknown }).error;
      return {
        stepCost: context.stepCost + (output?.result.costMicrodollars ?? 0),
        lastError: failureText(output, error),
      };
    }),
    /** Books the step's final result (success, or a recovery's result), extracts its output variables. */
    completeStep: assign(({ context, event }) => {
      const output = (event as unknown as { output: RunStepOutput }).output;
      const step = context.steps[context.stepIndex];
      const cost = context.stepCost + output.result.costMicrodollars;
      const result: StepResult = {
        name: step.name,
        output: output.result.output,
        success: output.result.success,
        costMicrodollars: cost,
        retriesUsed: context.attempt - 1,
        skipped: false,
      };
      const vars = { ...context.vars };
      const warnings = [...context.warnings];
      if (result.success) {
        for (const [name, path] of Object.entries(step.outputVars ?? {})) {
          const value = extractOutputVar(result.output, path);
          if (value === undefined) warnings.push(`step '${step.name}': output var '${name}' not found at '${path}'`);
          else vars[`${step.name}.${name}`] = value;
        }
      }
      const results = [...context.results, result];
      return {
        results,
        vars,
        warnings,
        previousOutput: result.output,
        totalCost: context.totalCost + cost,
        stepIndex: context.stepIndex + 1,
        attempt: 0,
        stepCost: 0,
        lastError: '',
        outcome: result.success ? context.outcome : ('failed' as const),
        progress: withProgress(context, { completedSteps: results }),
      };
    }),
    /** Books a step that failed for good (no attempt or recovery succeeded). */
    failStep: assign(({ context }) => {
      const step = context.steps[context.stepIndex];
      const results: StepResult[] = [
        ...context.results,
        {
          name: step.name,
          output: context.lastError,
          success: false,
          costMicrodollars: context.stepCost,
          retriesUsed: Math.max(0, context.attempt - 1),
          skipped: false,
        },
      ];
      return {
        results,
        previousOutput: context.lastError,
        totalCost: context.totalCost + context.stepCost,
        stepCost: 0,
        stepIndex: context.stepIndex + 1,
        outcome: 'failed' as const,
        progress: withProgress(context, { completedSteps: results }),
      };
    }),
    requestCancel: assign({ cancelRequested: true }),
    notifyEnded: sendParent(({ context }): ChainParentEvent => ({ type: 'CHAIN.ENDED', chainId: context.record.id })),
    /** Records every step not run (the current one too, when it was killed) as skipped. */
    skipRemaining: assign(({ context }) => {
      const skipped: StepResult[] = context.steps.slice(context.stepIndex).map((step, i) => ({
        name: step.name,
        output: '',
        success: false,
        costMicrodollars: i === 0 ? context.stepCost : 0,
        retriesUsed: 0,
        skipped: true,
      }));
      const results = [...context.results, ...skipped];
      return {
        results,
        totalCost: context.totalCost + context.stepCost,
        stepCost: 0,
        outcome: 'cancelled' as const,
        progress: withProgress(context, { completedSteps: results }),
      };
    }),
    markCompleted: assign({ outcome: 'completed' as const }),
    noteCleanupFailure: assign(({ context, event }) => {
      const error = (event as unknown as { error?: unknown }).error;
      const message = error instanceof Error ? error.message : String(error);
      return { warnings: [...context.warnings, `cleanup failed: ${message}`] };
    }),
    storeIsolation: assign(({ context, event }) => {
      const output = (event as unknown as { output?: IsolateOutput }).output;
      return {
        workingDir: output?.workingDir,
        warnings: output?.warning ? [...context.warnings, output.warning] : context.warnings,
      };
    }),
    isolationFailed: assign(({ event }) => {
      const error = (event as unknown as { error?: unknown }).error;
      const message = error instanceof Error ? error.message : String(error);
      return { outcome: 'failed' as const, previousOutput: message, lastError: message };
    }),
    /** Writes the final record and progress. */
    finish: assign(({ context }) => {
      const status = context.outcome ?? 'failed';
      const result = chainResultOf({ ...context, outcome: status });
      const taskResult: TaskResult = {
        output: JSON.stringify(result),
        success: result.success,
        costMicrodollars: result.totalCostMicrodollars,
        turnsUsed: 0,
        elapsedMs: context.clock() - (context.record.startedAtMs ?? context.record.createdAtMs),
      };
      return {
        record: { ...context.record, state: status, result: taskResult, completedAtMs: context.clock() },
        progress: withProgress(context, {
          ...idleProgress,
          completedSteps: context.results,
          status,
          ...(context.warnings.length > 0 && { warnings: context.warnings }),
        }),
      };
    }),
  },
}).createMachine({
  id: 'chain',
  context: ({ input }) => ({
    record: { ...input.record, state: 'running', startedAtMs: input.clock() },
    steps: input.steps,
    isolation: input.isolation,
    clock: input.clock,
    stepIndex: 0,
    attempt: 0,
    stepCost: 0,
    previousOutput: '',
    vars: {},
    lastError: '',
    results: [],
    totalCost: 0,
    cancelRequested: false,
    warnings: [],
    progress: { chainId: input.record.id, totalSteps: input.steps.length, completedSteps: [], status: 'running' },
  }),
  initial: 'preparing',
  states: {
    preparing: {
      invoke: {
        src: 'isolate',
        input: ({ context }) => ({ chainId: context.record.id, isolation: context.isolation }),
        onDone: { target: 'running', actions: 'storeIsolation' },
        onError: { target: 'cleaningUp', actions: 'isolationFailed' },
      },
      on: {
        CANCEL: { target: 'cleaningUp', actions: 'skipRemaining' },
      },
    },
    running: {
      initial: 'nextStep',
      states: {
        nextStep: {
          always: [
            { guard: 'cancelRequested', target: '#chain.cleaningUp', actions: 'skipRemaining' },
            { guard: 'allStepsDone', target: '#chain.cleaningUp', actions: 'markCompleted' },
            { target: 'attempting', actions: 'startStep' },
          ],
        },
        attempting: {
          entry: 'beginAttempt',
          invoke: {
            src: 'runStep',
            input: ({ context }) => stepInput(context, 'attempt'),
            onDone: [
              { guard: 'attemptSucceeded', target: 'stepDone', actions: 'completeStep' },
              { guard: 'retriesLeft', target: 'attempting', reenter: true, actions: 'bookFailedAttempt' },
              { guard: 'hasRecovery', target: 'recovering', actions: 'bookFailedAttempt' },
              { target: 'stepFailed', actions: 'bookFailedAttempt' },
            ],
            onError: [
              { guard: 'retriesLeft', target: 'attempting', reenter: true, actions: 'bookFailedAttempt' },
              { guard: 'hasRecovery', target: 'recovering', actions: 'bookFailedAttempt' },
              { target: 'stepFailed', actions: 'bookFailedAttempt' },
            ],
          },
          on: whileStepRuns,
        },
        recovering: {
          entry: assign(({ context }) => ({ progress: withProgress(context, { currentStepPartialOutput: '' }) })),
          invoke: {
            src: 'runStep',
            input: ({ context }) => stepInput(context, 'recovery'),
            onDone: { target: 'stepDone', actions: 'completeStep' },
            onError: { target: 'stepFailed', actions: 'bookFailedAttempt' },
          },
          on: whileStepRuns,
        },
        /** A step ended with a result: go on, unless it was a failed recovery. */
        stepDone: {
          always: [{ guard: 'endsFailed', target: '#chain.cleaningUp' }, { target: 'nextStep' }],
        },
        /** No attempt and no recovery succeeded: the chain fails (or ends cancelled, if that was asked). */
        stepFailed: {
          always: [
            { guard: 'cancelRequested', target: '#chain.cleaningUp', actions: ['failStep', 'skipRemaining'] },
            { target: '#chain.cleaningUp', actions: 'failStep' },
          ],
        },
      },
    },
    /** Removes the chain's worktree or clone, whatever the outcome. */
    cleaningUp: {
      invoke: {
        src: 'cleanup',
        input: ({ context }) => ({
          chainId: context.record.id,
          isolation: context.isolation,
          workingDir: context.workingDir,
        }),
        onDone: [
          { guard: 'endsCompleted', target: 'completed' },
          { guard: 'endsCancelled', target: 'cancelled' },
          { target: 'failed' },
        ],
        onError: [
          { guard: 'endsCompleted', target: 'completed', actions: 'noteCleanupFailure' },
          { guard: 'endsCancelled', target: 'cancelled', actions: 'noteCleanupFailure' },
          { target: 'failed', actions: 'noteCleanupFailure' },
        ],
      },
    },
    completed: { type: 'final', entry: ['finish', 'notifyEnded'] },
    failed: { type: 'final', entry: ['finish', 'notifyEnded'] },
    cancelled: { type: 'final', entry: ['finish', 'notifyEnded'] },
  },
});

/** The chain machine's type, for actor refs. */
export type ChainMachine = typeof chainMachine;
