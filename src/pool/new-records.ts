/**
 * New task and chain records, made the same way wherever work is submitted: a local pool, or a cluster node.
 */
import type { ChainStep, TaskId, TaskOverrides, TaskRecord } from '../../machines/types.js';
import { validateDirectory, validateOverrides, validatePrompt, validateTags } from '../config.js';
import { InvalidInput } from '../errors.js';
import { newId } from '../ids.js';

/** What a task submission asks for besides the prompt. */
export interface TaskSubmission {
  config?: TaskOverrides;
  tags?: string[];
  workingDir?: string;
  /** The result must be approved; at most this many rejections (an integer ≥ 1). */
  review?: { maxRejections: number };
}

/** Validates a submission (typed errors for bad input) and makes its new, pending task record. */
export function newTaskRecord(prompt: string, submission: TaskSubmission, id: TaskId = newId('task')): TaskRecord {
  validatePrompt(prompt);
  validateOverrides(submission.config);
  validateTags(submission.tags);
  if (submission.workingDir !== undefined) validateDirectory(submission.workingDir);
  const maxRejections = submission.review?.maxRejections ?? 3;
  if (!Number.isInteger(maxRejections) || maxRejections < 1) {
    throw new InvalidInput(`maxRejections must be an integer >= 1, got ${maxRejections}`);
  }
  return {
    id,
    prompt,
    state: 'pending',
    tags: [...(submission.tags ?? [])],
    config: submission.config,
    workingDir: submission.workingDir,
    reviewRequired: submission.review !== undefined,
    maxRejections,
    rejectionCount: 0,
    originalPrompt: submission.review ? prompt : undefined,
    kind: 'task',
    createdAtMs: Date.now(),
  };
}

/** Validates a chain's tags and makes its record (state `running`; the chain's steps are validated apart). */
export function newChainRecord(steps: readonly ChainStep[], tags: string[] | undefined): TaskRecord {
  validateTags(tags);
  return {
    id: newId('chain'),
    prompt: `chain: ${steps.length} steps`,
    state: 'running',
    tags: [...(tags ?? [])],
    reviewRequired: false,
    maxRejections: 0,
    rejectionCount: 0,
    kind: 'chain',
    createdAtMs: Date.now(),
  };
}
