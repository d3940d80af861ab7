/**
 * The task operations a front door (the MCP tools, the REST API) offers its clients. A `Pool` is one: its tasks
 * run on its own slots. A cluster node offers another (`claude-pool/bullmq`), whose tasks go to the cluster's
 * queue and budget, so that a coordinator talking to any node hands work to the whole cluster.
 */
import type { Observable } from 'rxjs';
import type { TaskFilter, TaskId, TaskOverrides, TaskRecord, TaskResult } from '../../machines/types.js';
import type { RunOptions, SubmitOptions } from './options.js';

/** Running, submitting, reading, cancelling and reviewing tasks, as a front door needs them. */
export interface TaskFront {
  /** Runs a prompt and resolves with its result (throws the typed error of a failure). */
  run(prompt: string, options?: RunOptions): Promise<TaskResult>;
  /** Renders a registered skill with its arguments and runs it (the skill's config, then `options.config`). */
  runSkill(name: string, args?: Record<string, string>, options?: RunOptions): Promise<TaskResult>;
  /** Runs every prompt in parallel; every result in input order, failures included. */
  fanOut(prompts: string[], options?: SubmitOptions): Promise<TaskResult[]>;
  /** Queues a prompt; resolves with its task id. */
  submitWithConfig(prompt: string, config?: TaskOverrides, tags?: string[]): Promise<TaskId>;
  /** Queues a prompt whose result must be approved. */
  submitWithReview(prompt: string, config?: TaskOverrides, tags?: string[], maxRejections?: number): Promise<TaskId>;
  /** A task's record (`TaskNotFound` for an unknown id). */
  task(id: TaskId): Promise<TaskRecord>;
  /** Cancels a task. */
  cancel(id: TaskId): Promise<void>;
  /** Approves a task in PendingReview. */
  approveResult(id: TaskId): Promise<void>;
  /** Rejects a task in PendingReview with feedback. */
  rejectResult(id: TaskId, feedback: string): Promise<void>;
  /**
   * A task's record, the current one and then each change, completing when it reaches a final state
   * (PendingReview is not final). Errors (or throws) `TaskNotFound` for an unknown id.
   */
  task$(id: TaskId): Observable<TaskRecord>;
  /** The text a task's agent streams from now on, chunk by chunk. */
  taskOutput$(id: TaskId): Observable<string>;
  /** Task records, oldest first. */
  listTasks(filterBy?: TaskFilter): Promise<TaskRecord[]>;
}
