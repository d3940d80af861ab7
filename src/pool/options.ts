/**
 * The options and small result types of the Pool's public methods.
 */
import type { DrainQueuedPolicy } from '../../machines/pool.js';
import type { SlotId, SlotState, TaskId, TaskOverrides } from '../../machines/types.js';

/** A chunk of text an agent streamed while running a task. */
export interface OutputChunk {
  taskId: TaskId;
  slotId: SlotId;
  text: string;
}

/** Options of `run`. */
export interface RunOptions {
  config?: TaskOverrides;
  /** Run in this directory instead of the slot's. */
  workingDir?: string;
  /** Receives every text chunk as the agent streams it. */
  onOutput?: (chunk: string) => void;
  tags?: string[];
  /** Receives the task id as soon as the task is queued. */
  onSubmitted?: (taskId: TaskId) => void;
  /** Aborting it cancels the task (its process is killed); `run` then rejects with `TaskCancelled`. */
  signal?: AbortSignal;
}

/** Options of `submitWithConfig` and friends. */
export interface SubmitOptions {
  config?: TaskOverrides;
  tags?: string[];
  /** `fanOut` only: aborting it cancels every task still running or queued. */
  signal?: AbortSignal;
  workingDir?: string;
}

/** Options of `drain`. */
export interface DrainOptions {
  /** `cancel` (default): queued tasks are cancelled. `finish`: they still run before the pool stops. */
  queued?: DrainQueuedPolicy;
  /** After this long, running tasks are cancelled (their processes killed). Default: wait for them. */
  timeoutMs?: number;
}

/** Filter of `findSlots`; omitted fields match everything. */
export interface SlotQuery {
  name?: string;
  role?: string;
  state?: SlotState;
}

/** The handle `startSupervisor` returns. */
export interface SupervisorHandle {
  stop(): void;
}

/** The outcome of one chain of `fanOutChains`: its id, or why it was not submitted. */
export type FanOutChainOutcome = { chainId: TaskId } | { error: { code: string; message: string } };

/** Options of `cancelChain`. */
export interface CancelChainOptions {
  /** Kill the running step too (default: let it finish and keep its result). */
  immediate?: boolean;
}
