/**
 * The task statechart: Pending → Running (Working ⇄ AwaitingPermission) → (PendingReview →) Completed | Failed |
 * Cancelled.
 *
 * Pure: no I/O and no clock. Every event that stamps a time carries it (`at`, Unix ms). Final states are
 * truly final, so a late result can never turn Cancelled into Completed.
 */
import { assign, sendParent, setup } from 'xstate';
import type { PendingPermission, SlotId, TaskRecord, TaskResult, TaskState } from './types.js';

/** Events a task accepts. */
export type TaskEvent =
  | { type: 'ASSIGN'; slotId: SlotId; at: number }
  /** The agent asks to use a tool and waits for the answer. */
  | { type: 'PERMISSION.REQUESTED'; request: PendingPermission }
  /** A question of the agent was answered (allowed or denied). */
  | { type: 'PERMISSION.ANSWERED'; requestId: string; at: number }
  | { type: 'FINISH'; result: TaskResult; at: number }
  | { type: 'FAIL'; result: TaskResult; at: number }
  | { type: 'CANCEL'; at: number }
  | { type: 'APPROVE'; at: number }
  | { type: 'REJECT'; feedback: string; at: number };

/**
 * Events a task sends to its parent (the pool): I await review; queue me again. That it has ended the pool
 * learns from XState's own done event, which every final task sends its parent with the task's output.
 */
/** What a task outputs when it reaches a final state (the payload of its done event). */
export interface TaskOutput {
  taskId: string;
  state: TaskState;
}

export type TaskParentEvent =
  { type: 'TASK.REVIEW'; taskId: string } | { type: 'TASK.REQUEUED'; taskId: string; record: TaskRecord };

/** The statechart state names, in the order of the lifecycle. */
export const TASK_STATE_NODES = ['pending', 'running', 'pendingReview', 'completed', 'failed', 'cancelled'] as const;

/**
 * Maps a statechart state value to the published `TaskState` (Running's substates, `working` and
 * `awaitingPermission`, are both `running`; the record's `pendingPermissions` tells them apart).
 */
export function taskStateOf(value: string | Record<string, unknown>): TaskState {
  const top = typeof value === 'string' ? value : (Object.keys(value)[0] ?? '');
  return top === 'pendingReview' ? 'pending_review' : (top as TaskState);
}

/** The prompt a rejected task runs next: the original prompt, then the latest feedback. */
export function rejectedPrompt(record: TaskRecord, feedback: string): string {
  const attempt = record.rejectionCount + 1;
  const base = record.originalPrompt ?? record.prompt;
  return `${base}\n\n--- Rejection feedback (attempt ${attempt}/${record.maxRejections}) ---\n${feedback}`;
}

/** The failed result of a task rejected for the last time. */
export function rejectedTooOftenResult(record: TaskRecord, feedback: string): TaskResult {
  const count = record.rejectionCount + 1;
  return {
    output: `task rejected ${count} times (max: ${record.maxRejections}). Last feedback: ${feedback}`,
    success: false,
    costMicrodollars: 0,
    turnsUsed: 0,
    elapsedMs: 0,
    errorCode: 'max_rejections',
    failure: { kind: 'max_rejections', rejections: count },
  };
}

/** The task statechart. Input: the new record (state `pending`), or one restored in `pending_review`. */
export const taskMachine = setup({
  types: {
    context: {} as { record: TaskRecord },
    events: {} as TaskEvent,
    input: {} as TaskRecord,
  },
  guards: {
    /** The result succeeded and a reviewer must look at it. */
    needsReview: ({ context, event }) =>
      event.type === 'FINISH' && context.record.reviewRequired && event.result.success,
    /** The run ended, but the agent reported a failure. */
    resultFailed: ({ event }) => event.type === 'FINISH' && !event.result.success,
    /** The task was restored from the store in PendingReview. */
    awaitingReview: ({ context }) => context.record.state === 'pending_review',
    /** This rejection is the last one allowed. */
    lastRejection: ({ context }) => context.record.rejectionCount + 1 >= context.record.maxRejections,
    /** The answer is to the only question still open: the agent works again. */
    lastQuestionAnswered: ({ context, event }) => {
      if (event.type !== 'PERMISSION.ANSWERED') return false;
      const open = context.record.pendingPermissions ?? [];
      return open.length === 1 && open[0].requestId === event.requestId;
    },
  },
  actions: {
    assignSlot: assign(({ context, event }) => {
      if (event.type !== 'ASSIGN') return {};
      return { record: { ...context.record, state: 'running', slotId: event.slotId, startedAtMs: event.at } };
    }),
    storeResult: assign(({ context, event }) => {
      if (event.type !== 'FINISH' && event.type !== 'FAIL') return {};
      return { record: { ...context.record, result: event.result } };
    }),
    /** Enters a state that ends the run: stamps when, and publishes the state (one copy of the record). */
    stampCompleted: assign(({ context, event }, params: { state: TaskState }) => ({
      record: {
        ...context.record,
        state: params.state,
        completedAtMs: 'at' in event ? event.at : context.record.completedAtMs,
      },
    })),
    storeRejectedTooOften: assign(({ context, event }) => {
      if (event.type !== 'REJECT') return {};
      return {
        record: {
          ...context.record,
          rejectionCount: context.record.rejectionCount + 1,
          result: rejectedTooOftenResult(context.record, event.feedback),
        },
      };
    }),
    requeueWithFeedback: assign(({ context, event }) => {
      if (event.type !== 'REJECT') return {};
      const {
        slotId: _slot,
        result: _result,
        startedAtMs: _started,
        completedAtMs: _completed,
        ...rest
      } = context.record;
      return {
        record: {
          ...rest,
          prompt: rejectedPrompt(context.record, event.feedback),
          originalPrompt: context.record.originalPrompt ?? context.record.prompt,
          rejectionCount: context.record.rejectionCount + 1,
        },
      };
    }),
    notifyRequeued: sendParent(({ context }) => ({
      type: 'TASK.REQUEUED',
      taskId: context.record.id,
      record: context.record,
    })),
    notifyReview: sendParent(({ context }) => ({ type: 'TASK.REVIEW', taskId: context.record.id })),
    addQuestion: assign(({ context, event }) => {
      if (event.type !== 'PERMISSION.REQUESTED') return {};
      const open = (context.record.pendingPermissions ?? []).filter((p) => p.requestId !== event.request.requestId);
      return { record: { ...context.record, pendingPermissions: [...open, event.request] } };
    }),
    removeQuestion: assign(({ context, event }) => {
      if (event.type !== 'PERMISSION.ANSWERED') return {};
      const open = (context.record.pendingPermissions ?? []).filter((p) => p.requestId !== event.requestId);
      return { record: { ...context.record, pendingPermissions: open } };
    }),
    clearQuestions: assign(({ context }) => {
      if (context.record.pendingPermissions === undefined) return {};
      const { pendingPermissions: _open, ...record } = context.record;
      return { record };
    }),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => ({ record: input }),
  /** What the task's parent receives with XState's done event: which task ended, and how. */
  output: ({ context }) => ({ taskId: context.record.id, state: context.record.state }),
  initial: 'start',
  states: {
    /** A new task waits in Pending; one restored from the store while awaiting review goes back there. */
    start: {
      always: [{ guard: 'awaitingReview', target: 'pendingReview' }, { target: 'pending' }],
    },
    pending: {
      entry: assign(({ context }) => ({ record: { ...context.record, state: 'pending' } })),
      on: {
        ASSIGN: { target: 'running', actions: 'assignSlot' },
        FAIL: { target: 'failed', actions: 'storeResult' },
        CANCEL: { target: 'cancelled' },
      },
    },
    /**
     * The agent runs. While it waits for the answer to a tool-permission question it is in AwaitingPermission
     * (the record lists the open questions); each answer lets it go on, the last one back to Working.
     */
    running: {
      initial: 'working',
      exit: 'clearQuestions',
      states: {
        working: {
          on: {
            'PERMISSION.REQUESTED': { target: 'awaitingPermission', actions: 'addQuestion' },
          },
        },
        awaitingPermission: {
          on: {
            'PERMISSION.REQUESTED': { actions: 'addQuestion' },
            'PERMISSION.ANSWERED': [
              { guard: 'lastQuestionAnswered', target: 'working', actions: 'removeQuestion' },
              { actions: 'removeQuestion' },
            ],
          },
        },
      },
      on: {
        FINISH: [
          { guard: 'needsReview', target: 'pendingReview', actions: 'storeResult' },
          { guard: 'resultFailed', target: 'failed', actions: 'storeResult' },
          { target: 'completed', actions: 'storeResult' },
        ],
        FAIL: { target: 'failed', actions: 'storeResult' },
        CANCEL: { target: 'cancelled' },
      },
    },
    pendingReview: {
      entry: [{ type: 'stampCompleted', params: { state: 'pending_review' } }, 'notifyReview'],
      on: {
        APPROVE: { target: 'completed' },
        REJECT: [
          { guard: 'lastRejection', target: 'failed', actions: 'storeRejectedTooOften' },
          { target: 'requeued', actions: 'requeueWithFeedback' },
        ],
        CANCEL: { target: 'cancelled' },
      },
    },
    /** Transient: a rejected task tells the pool to queue it again, then waits in Pending. */
    requeued: {
      entry: 'notifyRequeued',
      always: { target: 'pending' },
    },
    completed: {
      type: 'final',
      entry: { type: 'stampCompleted', params: { state: 'completed' } },
    },
    failed: {
      type: 'final',
      entry: { type: 'stampCompleted', params: { state: 'failed' } },
    },
    cancelled: {
      type: 'final',
      entry: { type: 'stampCompleted', params: { state: 'cancelled' } },
    },
  },
});

/** The task machine's type, for actor refs. */
export type TaskMachine = typeof taskMachine;
