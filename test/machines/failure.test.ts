/**
 * Failures as data: the failure and code a run's outcome turns into.
 */
import { describe, expect, it } from 'vitest';
import { errorCodeOf, failureOfRun, poolFailure, withFailure } from '../../machines/failure.js';
import type { RunOutcome, TaskResult } from '../../machines/types.js';

const result = (over: Partial<TaskResult> = {}): TaskResult => ({
  output: 'out',
  success: false,
  costMicrodollars: 5,
  turnsUsed: 1,
  elapsedMs: 10,
  ...over,
});
const outcome = (kind: RunOutcome['kind'], over: Partial<TaskResult> = {}): RunOutcome => ({
  kind,
  result: result(over),
});

describe('errorCodeOf', () => {
  it('is the kind, except for a permission prompt', () => {
    expect(errorCodeOf({ kind: 'timeout' })).toBe('timeout');
    expect(errorCodeOf({ kind: 'max_rejections', rejections: 2 })).toBe('max_rejections');
    expect(errorCodeOf({ kind: 'permission_prompt', tool: 'Bash' })).toBe('permission_prompt_detected');
  });
});

describe('poolFailure', () => {
  it('is a failed result with nothing spent, carrying the failure and its code', () => {
    expect(poolFailure('no slot', { kind: 'no_slot_available', reason: 'none' })).toEqual({
      output: 'no slot',
      success: false,
      costMicrodollars: 0,
      turnsUsed: 0,
      elapsedMs: 0,
      errorCode: 'no_slot_available',
      failure: { kind: 'no_slot_available', reason: 'none' },
    });
  });
});

describe('failureOfRun', () => {
  it('is undefined for a success', () => {
    expect(failureOfRun(outcome('ok', { success: true }))).toBeUndefined();
  });
  it('keeps a failure the run already carries', () => {
    expect(failureOfRun(outcome('ok', { failure: { kind: 'max_budget' } }))).toEqual({ kind: 'max_budget' });
    expect(failureOfRun(outcome('ok', { success: true, failure: { kind: 'interrupted' } }))).toEqual({
      kind: 'interrupted',
    });
  });
  it('names a cancelled, timed-out or never-started run', () => {
    expect(failureOfRun(outcome('aborted'))).toEqual({ kind: 'cancelled' });
    expect(failureOfRun(outcome('timeout'))).toEqual({ kind: 'timeout' });
    expect(failureOfRun(outcome('spawn_failed'))).toEqual({ kind: 'spawn_failed' });
  });
  it('describes a crash with its exit code and signal when known', () => {
    // Unknown details are left out, not set to undefined (records are stored as JSON).
    expect(failureOfRun(outcome('crashed'))).toStrictEqual({ kind: 'crashed' });
    expect(failureOfRun(outcome('crashed', { exitCode: 0 }))).toEqual({ kind: 'crashed', exitCode: 0 });
    expect(failureOfRun(outcome('crashed', { exitCode: 3, signal: 'SIGKILL' }))).toEqual({
      kind: 'crashed',
      exitCode: 3,
      signal: 'SIGKILL',
    });
    expect(failureOfRun(outcome('crashed', { signal: 'SIGTERM' }))).toEqual({ kind: 'crashed', signal: 'SIGTERM' });
    expect(failureOfRun(outcome('crashed', { signal: '' }))).toStrictEqual({ kind: 'crashed' });
    expect(failureOfRun(outcome('crashed', { signal: 'SIGTERM' }))).toStrictEqual({
      kind: 'crashed',
      signal: 'SIGTERM',
    });
    expect(failureOfRun(outcome('ok'))).toStrictEqual({ kind: 'agent_error' });
  });
  it('reports a fault inside the pool as an internal error, not a crash', () => {
    expect(failureOfRun(outcome('crashed', { errorCode: 'internal_error' }))).toEqual({ kind: 'internal_error' });
  });
  it('reads a failed result line: API error, turns, budget, or another agent error', () => {
    expect(failureOfRun(outcome('ok', { apiErrorStatus: 529, subtype: 'error_max_turns' }))).toEqual({
      kind: 'api_error',
      status: 529,
    });
    expect(failureOfRun(outcome('ok', { subtype: 'error_max_turns' }))).toEqual({ kind: 'max_turns' });
    expect(failureOfRun(outcome('ok', { subtype: 'error_max_budget_usd' }))).toEqual({ kind: 'max_budget' });
    expect(failureOfRun(outcome('ok', { subtype: 'error_during_execution' }))).toEqual({
      kind: 'agent_error',
      subtype: 'error_during_execution',
    });
    expect(failureOfRun(outcome('ok'))).toEqual({ kind: 'agent_error' });
  });
});

describe('withFailure', () => {
  it('leaves a success as it is', () => {
    const o = outcome('ok', { success: true });
    expect(withFailure(o)).toBe(o.result);
  });
  it('fills in the failure and its code', () => {
    expect(withFailure(outcome('timeout'))).toEqual({
      ...result(),
      failure: { kind: 'timeout' },
      errorCode: 'timeout',
    });
  });
  it('keeps a code the run already set', () => {
    expect(withFailure(outcome('aborted', { errorCode: 'task_cancelled' }))).toMatchObject({
      errorCode: 'task_cancelled',
      failure: { kind: 'cancelled' },
    });
  });
});
