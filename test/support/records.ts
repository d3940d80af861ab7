/**
 * Test support: hand-built records.
 */
import type { TaskRecord } from '../../machines/types.js';

/** A minimal pending task record; `extra` overrides any field. */
export function taskRecord(id: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id,
    prompt: `prompt of ${id}`,
    state: 'pending',
    tags: [],
    reviewRequired: false,
    maxRejections: 3,
    rejectionCount: 0,
    kind: 'task',
    createdAtMs: 1_000,
    ...extra,
  };
}
