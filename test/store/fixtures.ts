/**
 * Hand-built task and slot records for the store tests.
 */
import type { SlotId, SlotRecord, TaskRecord } from '../../machines/types.js';
import { taskRecord } from '../support/records.js';

export { taskRecord };

/** A task record with every optional field set, nested objects included. */
export function fullTaskRecord(id: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return taskRecord(id, {
    prompt: 'write "tests" — with ünïcode ✓ and\nnewlines',
    state: 'completed',
    slotId: 'slot-3',
    tags: ['alpha', 'beta'],
    config: {
      model: 'sonnet',
      permissionMode: 'acceptEdits',
      maxTurns: 4,
      allowedTools: ['Read', 'Bash(git:*)'],
      disallowedTools: ['Write'],
      tools: [],
      mcpServers: { fs: { command: 'mcp-fs', args: ['--root', '/tmp'] } },
      effort: 'high',
      jsonSchema: { type: 'object', properties: { answer: { type: 'string' } } },
      maxBudgetUsd: 0.25,
      timeoutSecs: 30,
    },
    workingDir: '/tmp/work',
    reviewRequired: true,
    maxRejections: 2,
    rejectionCount: 1,
    originalPrompt: 'write tests',
    result: {
      output: '{"answer":"42"}',
      success: true,
      costMicrodollars: 123_456,
      turnsUsed: 3,
      elapsedMs: 4_567,
      model: 'claude-sonnet-4-5',
      sessionId: 'sess-1',
      permissionDenials: [{ toolName: 'Bash', toolUseId: 'tu-1', toolInput: { command: 'rm -rf /' } }],
      subtype: 'success',
      structuredOutput: { answer: '42', nested: [1, 2, { deep: null }] },
    },
    createdAtMs: 1_700_000_000_000,
    startedAtMs: 1_700_000_000_100,
    completedAtMs: 1_700_000_004_667,
    ...extra,
  });
}

/** An idle slot record; `extra` overrides any field. */
export function slotRecord(id: SlotId, extra: Partial<SlotRecord> = {}): SlotRecord {
  return {
    id,
    state: 'idle',
    config: { name: `worker ${id}`, role: 'coder', allowedTools: ['Read'] },
    tasksCompleted: 0,
    costMicrodollars: 0,
    restartCount: 0,
    consecutiveCrashes: 0,
    ...extra,
  };
}
