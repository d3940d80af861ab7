/**
 * The chain statechart, driven directly with stand-in step, isolation and cleanup actors: steps in order,
 * output variables, retries, recovery, cancellation, isolation and cleanup failures, and the final record.
 */
import { describe, expect, it } from 'vitest';
import { fromPromise, waitFor } from 'xstate';
import {
  chainMachine,
  chainResultOf,
  type ChainContext,
  type CleanupInput,
  type IsolateInput,
  type IsolateOutput,
  type RunStepInput,
  type RunStepOutput,
} from '../../machines/chain.js';
import type { ChainIsolation, ChainResult, ChainStep, TaskResult } from '../../machines/types.js';
import { taskRecord } from '../support/records.js';
import { underParent } from './harness.js';

const result = (output: string, success = true, cost = 10): TaskResult => ({
  output,
  success,
  costMicrodollars: cost,
  turnsUsed: 1,
  elapsedMs: 1,
});

const step = (name: string, extra: Partial<ChainStep> = {}): ChainStep => ({
  name,
  action: { type: 'prompt', prompt: `do ${name}` },
  ...extra,
});

interface Call {
  input: RunStepInput;
  resolve(output: RunStepOutput): void;
  reject(error: unknown): void;
}

function startChain(
  steps: ChainStep[],
  options: {
    isolation?: ChainIsolation;
    isolate?: () => Promise<IsolateOutput>;
    cleanup?: (input: CleanupInput) => Promise<void>;
  } = {},
) {
  const calls: Call[] = [];
  const waiters: { count: number; resolve(): void }[] = [];
  const cleanups: CleanupInput[] = [];
  const isolations: IsolateInput[] = [];
  let now = 5_000;
  const runStep = fromPromise<RunStepOutput, RunStepInput>(
    ({ input }) =>
      new Promise((resolve, reject) => {
        calls.push({ input, resolve, reject });
        for (const w of waiters.filter((w) => calls.length >= w.count)) w.resolve();
      }),
  );
  const isolateWith = options.isolate ?? (async () => ({ workingDir: '/iso' }));
  const isolate = fromPromise<IsolateOutput, IsolateInput>(({ input }) => {
    isolations.push(input);
    return isolateWith();
  });
  const cleanup = fromPromise<void, CleanupInput>(async ({ input }) => {
    cleanups.push(input);
    if (options.cleanup) await options.cleanup(input);
  });
  const h = underParent(chainMachine.provide({ actors: { runStep, isolate, cleanup } }), {
    record: taskRecord('ch', { kind: 'chain', createdAtMs: 4_000 }),
    steps,
    isolation: options.isolation ?? 'worktree',
    clock: () => now,
  });
  const context = (): ChainContext => h.child.getSnapshot().context;
  return {
    ...h,
    calls,
    cleanups,
    isolations,
    context,
    setNow: (ms: number) => void (now = ms),
    /** Resolves once the `n`-th step attempt has started. */
    call(n: number): Promise<Call> {
      if (calls.length >= n) return Promise.resolve(calls[n - 1]);
      return new Promise((resolve) => waiters.push({ count: n, resolve: () => resolve(calls[n - 1]) }));
    },
    async ended() {
      await waitFor(h.child, (s) => s.status === 'done');
      const record = context().record;
      // The chain ends in the final state its record names.
      expect(h.child.getSnapshot().value).toBe(record.state);
      expect(h.sent).toEqual([{ type: 'CHAIN.ENDED', chainId: 'ch' }]);
      return {
        record,
        result: JSON.parse(record.result?.output ?? 'null') as ChainResult,
        progress: context().progress,
      };
    },
  };
}

describe('a chain that succeeds', () => {
  it('runs its steps in order, each given the previous output, and completes', async () => {
    const c = startChain([step('one'), step('two')]);
    expect(c.context().record).toMatchObject({ state: 'running', startedAtMs: 5_000 });
    const first = await c.call(1);
    expect(first.input).toEqual({
      chainId: 'ch',
      step: step('one'),
      stepIndex: 0,
      mode: 'attempt',
      attempt: 1,
      previousOutput: '',
      vars: {},
      lastError: '',
      workingDir: '/iso',
    });
    expect(c.context().progress).toMatchObject({
      chainId: 'ch',
      totalSteps: 2,
      currentStep: 0,
      currentStepName: 'one',
      currentStepPartialOutput: '',
      currentStepStartedAt: 5_000,
      status: 'running',
    });
    c.setNow(6_000);
    first.resolve({ taskId: 'x1', result: result('first out', true, 10) });
    const second = await c.call(2);
    expect(second.input).toMatchObject({ stepIndex: 1, attempt: 1, previousOutput: 'first out', mode: 'attempt' });
    expect(c.context().progress).toMatchObject({ currentStep: 1, currentStepName: 'two', currentStepStartedAt: 6_000 });
    expect(c.context().progress.completedSteps).toHaveLength(1);
    c.setNow(9_000);
    second.resolve({ taskId: 'x2', result: result('second out', true, 15) });
    const { record, result: chainResult, progress } = await c.ended();
    expect(chainResult).toEqual({
      steps: [
        { name: 'one', output: 'first out', success: true, costMicrodollars: 10, retriesUsed: 0, skipped: false },
        { name: 'two', output: 'second out', success: true, costMicrodollars: 15, retriesUsed: 0, skipped: false },
      ],
      finalOutput: 'second out',
      totalCostMicrodollars: 25,
      success: true,
    });
    expect(record).toMatchObject({
      state: 'completed',
      completedAtMs: 9_000,
      result: { success: true, costMicrodollars: 25, turnsUsed: 0, elapsedMs: 4_000 },
    });
    expect(progress).toEqual({
      chainId: 'ch',
      totalSteps: 2,
      currentStep: undefined,
      currentStepName: undefined,
      currentStepPartialOutput: undefined,
      currentStepStartedAt: undefined,
      completedSteps: chainResult.steps,
      status: 'completed',
    });
    expect(c.sent).toEqual([{ type: 'CHAIN.ENDED', chainId: 'ch' }]);
    expect(c.cleanups).toEqual([{ chainId: 'ch', isolation: 'worktree', workingDir: '/iso' }]);
  });

  it('shows its progress from the start, and isolates itself with its id and isolation', async () => {
    const c = startChain([step('one'), step('two')], { isolation: 'clone', isolate: () => new Promise(() => {}) });
    expect(c.child.getSnapshot().value).toBe('preparing');
    expect(c.context().progress).toEqual({ chainId: 'ch', totalSteps: 2, completedSteps: [], status: 'running' });
    expect(c.isolations).toEqual([{ chainId: 'ch', isolation: 'clone' }]);
    expect(chainMachine.id).toBe('chain');
  });

  it('keeps the variables of every earlier step', async () => {
    const c = startChain([step('a', { outputVars: { x: 'x' } }), step('b', { outputVars: { y: 'y' } }), step('c')]);
    (await c.call(1)).resolve({ taskId: '1', result: result('{"x": "1"}') });
    (await c.call(2)).resolve({ taskId: '2', result: result('{"y": "2"}') });
    const third = await c.call(3);
    expect(third.input.vars).toEqual({ 'a.x': '1', 'b.y': '2' });
    third.resolve({ taskId: '3', result: result('done') });
    await c.ended();
  });

  it('shows every step’s result while it cleans up, however it ended', async () => {
    for (const end of ['completed', 'failed', 'cancelled'] as const) {
      let release!: () => void;
      const c = startChain([step('one')], { cleanup: () => new Promise<void>((resolve) => (release = resolve)) });
      const first = await c.call(1);
      if (end === 'cancelled') c.child.send({ type: 'CANCEL', immediate: true });
      else first.resolve({ taskId: 'a', result: result('out', end === 'completed') });
      await waitFor(c.child, (s) => s.value === 'cleaningUp');
      expect(c.context().progress.completedSteps).toEqual([
        expect.objectContaining({ name: 'one', skipped: end === 'cancelled' }),
      ]);
      release();
      expect((await c.ended()).record.state).toBe(end);
    }
  });

  it('completes at once with no steps', async () => {
    const c = startChain([]);
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('completed');
    expect(r).toEqual({ steps: [], finalOutput: '', totalCostMicrodollars: 0, success: true });
    expect(c.calls).toEqual([]);
  });

  it('takes output variables from a step’s JSON output for later steps, and warns about missing ones', async () => {
    const c = startChain([
      step('plan', { outputVars: { title: 'title', deep: '.a.b', gone: 'missing' } }),
      step('use'),
    ]);
    (await c.call(1)).resolve({ taskId: 'x', result: result('```json\n{"title": "T", "a": {"b": 2}}\n```') });
    const second = await c.call(2);
    expect(second.input.vars).toEqual({ 'plan.title': 'T', 'plan.deep': '2' });
    second.resolve({ taskId: 'y', result: result('ok') });
    const { progress } = await c.ended();
    expect(progress.warnings).toEqual(["step 'plan': output var 'gone' not found at 'missing'"]);
  });

  it('keeps the streamed output of the running step, afresh for each attempt', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 1 } })]);
    const first = await c.call(1);
    c.child.send({ type: 'STEP.OUTPUT', chunk: 'hel' });
    c.child.send({ type: 'STEP.OUTPUT', chunk: 'lo' });
    expect(c.context().progress.currentStepPartialOutput).toBe('hello');
    first.resolve({ taskId: 'x', result: result('bad', false) });
    await c.call(2);
    expect(c.context().progress.currentStepPartialOutput).toBe('');
  });
});

describe('retries and recovery', () => {
  it('retries a failed step, booking every attempt’s cost and passing the last error', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 2 } })]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('first failure', false, 5) });
    const second = await c.call(2);
    expect(second.input).toMatchObject({ attempt: 2, lastError: 'first failure', mode: 'attempt' });
    second.reject(new Error('runner broke'));
    const third = await c.call(3);
    expect(third.input).toMatchObject({ attempt: 3, lastError: 'runner broke' });
    third.resolve({ taskId: 'c', result: result('finally', true, 7) });
    const { result: r } = await c.ended();
    expect(r.steps).toEqual([
      { name: 'one', output: 'finally', success: true, costMicrodollars: 12, retriesUsed: 2, skipped: false },
    ]);
    expect(r.totalCostMicrodollars).toBe(12);
    expect(r.success).toBe(true);
  });

  it('fails the chain when the last attempt fails and there is no recovery', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 1 } }), step('two')]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('no', false, 5) });
    (await c.call(2)).resolve({ taskId: 'b', result: result('still no', false, 6) });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('failed');
    expect(r).toEqual({
      steps: [
        { name: 'one', output: 'still no', success: false, costMicrodollars: 11, retriesUsed: 1, skipped: false },
      ],
      finalOutput: 'still no',
      totalCostMicrodollars: 11,
      success: false,
    });
    expect(record.result).toMatchObject({ success: false, costMicrodollars: 11 });
    expect(c.calls).toHaveLength(2);
  });

  it('fails on a step whose runner throws something that is not an Error', async () => {
    const c = startChain([step('one')]);
    (await c.call(1)).reject('plain text');
    const { result: r } = await c.ended();
    expect(r.steps[0]).toEqual({
      name: 'one',
      output: 'plain text',
      success: false,
      costMicrodollars: 0,
      retriesUsed: 0,
      skipped: false,
    });
  });

  it('runs the recovery prompt after the last failed attempt and goes on when it succeeds', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 0, recoveryPrompt: 'fix {error}' } }), step('two')]);
    const attempt = await c.call(1);
    c.child.send({ type: 'STEP.OUTPUT', chunk: 'partial attempt' });
    attempt.resolve({ taskId: 'a', result: result('broke', false, 5) });
    const recovery = await c.call(2);
    expect(recovery.input).toMatchObject({ mode: 'recovery', stepIndex: 0, lastError: 'broke', attempt: 1 });
    expect(c.context().progress.currentStepPartialOutput).toBe('');
    c.child.send({ type: 'STEP.OUTPUT', chunk: 'x' });
    expect(c.context().progress.currentStepPartialOutput).toBe('x');
    recovery.resolve({ taskId: 'b', result: result('recovered', true, 3) });
    const next = await c.call(3);
    expect(next.input).toMatchObject({ stepIndex: 1, previousOutput: 'recovered', lastError: '' });
    next.resolve({ taskId: 'c', result: result('done') });
    const { result: r } = await c.ended();
    expect(r.steps[0]).toEqual({
      name: 'one',
      output: 'recovered',
      success: true,
      costMicrodollars: 8,
      retriesUsed: 0,
      skipped: false,
    });
    expect(r.success).toBe(true);
  });

  it('recovers after an attempt whose runner threw', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 0, recoveryPrompt: 'fix' } })]);
    (await c.call(1)).reject(new Error('boom'));
    const recovery = await c.call(2);
    expect(recovery.input).toMatchObject({ mode: 'recovery', lastError: 'boom' });
    recovery.resolve({ taskId: 'b', result: result('ok') });
    expect((await c.ended()).record.state).toBe('completed');
  });

  it('fails the chain when the recovery fails, running no further step', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 0, recoveryPrompt: 'fix' } }), step('two')]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('broke', false, 5) });
    (await c.call(2)).resolve({ taskId: 'b', result: result('could not', false, 4) });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('failed');
    expect(r.steps).toEqual([
      { name: 'one', output: 'could not', success: false, costMicrodollars: 9, retriesUsed: 0, skipped: false },
    ]);
    expect(c.calls).toHaveLength(2);
  });

  it('fails the chain when the recovery’s runner throws', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 0, recoveryPrompt: 'fix' } })]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('broke', false, 5) });
    (await c.call(2)).reject(new Error('recovery crashed'));
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('failed');
    expect(r.steps).toEqual([
      { name: 'one', output: 'recovery crashed', success: false, costMicrodollars: 5, retriesUsed: 0, skipped: false },
    ]);
    expect(r.finalOutput).toBe('recovery crashed');
  });

  it('does not extract output variables from a failed recovery', async () => {
    const c = startChain([
      step('one', { outputVars: { v: 'v' }, failurePolicy: { retries: 0, recoveryPrompt: 'fix' } }),
    ]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('broke', false) });
    (await c.call(2)).resolve({ taskId: 'b', result: result('{"v": "x"}', false) });
    await c.ended();
    expect(c.context().vars).toEqual({});
    expect(c.context().warnings).toEqual([]);
  });
});

describe('cancelling a chain', () => {
  it('stops at once on an immediate cancel, recording the steps not run as skipped', async () => {
    const c = startChain([step('one'), step('two', { failurePolicy: { retries: 1 } }), step('three')]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('done') });
    (await c.call(2)).resolve({ taskId: 'b', result: result('no', false, 4) });
    await c.call(3);
    c.child.send({ type: 'CANCEL', immediate: true });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('cancelled');
    expect(r.steps).toEqual([
      { name: 'one', output: 'done', success: true, costMicrodollars: 10, retriesUsed: 0, skipped: false },
      { name: 'two', output: '', success: false, costMicrodollars: 4, retriesUsed: 0, skipped: true },
      { name: 'three', output: '', success: false, costMicrodollars: 0, retriesUsed: 0, skipped: true },
    ]);
    expect(r.totalCostMicrodollars).toBe(14);
    expect(r.success).toBe(false);
    expect(c.calls).toHaveLength(3);
  });

  it('lets the current step finish on a graceful cancel, then stops', async () => {
    const c = startChain([step('one'), step('two')]);
    const first = await c.call(1);
    c.child.send({ type: 'CANCEL', immediate: false });
    expect(c.context().cancelRequested).toBe(true);
    first.resolve({ taskId: 'a', result: result('done') });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('cancelled');
    expect(r.steps.map((s) => [s.name, s.skipped])).toEqual([
      ['one', false],
      ['two', true],
    ]);
    expect(c.calls).toHaveLength(1);
  });

  it('does not retry or recover after a graceful cancel', async () => {
    const c = startChain([
      step('zero'),
      step('one', { failurePolicy: { retries: 3, recoveryPrompt: 'fix' } }),
      step('two'),
    ]);
    (await c.call(1)).resolve({ taskId: 'z', result: result('fine', true, 1) });
    const attempt = await c.call(2);
    c.child.send({ type: 'CANCEL', immediate: false });
    attempt.resolve({ taskId: 'a', result: result('no', false, 2) });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('cancelled');
    expect(r.steps).toEqual([
      { name: 'zero', output: 'fine', success: true, costMicrodollars: 1, retriesUsed: 0, skipped: false },
      { name: 'one', output: 'no', success: false, costMicrodollars: 2, retriesUsed: 0, skipped: false },
      { name: 'two', output: '', success: false, costMicrodollars: 0, retriesUsed: 0, skipped: true },
    ]);
    expect(r.totalCostMicrodollars).toBe(3);
    expect(c.calls).toHaveLength(2);
  });

  it('cancels during the recovery', async () => {
    const c = startChain([step('one', { failurePolicy: { retries: 0, recoveryPrompt: 'fix' } })]);
    (await c.call(1)).resolve({ taskId: 'a', result: result('no', false, 2) });
    await c.call(2);
    c.child.send({ type: 'CANCEL', immediate: true });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('cancelled');
    expect(r.steps).toEqual([
      { name: 'one', output: '', success: false, costMicrodollars: 2, retriesUsed: 0, skipped: true },
    ]);
  });

  it('skips every step when cancelled while preparing', async () => {
    const c = startChain([step('one'), step('two')], { isolate: () => new Promise(() => {}) });
    c.child.send({ type: 'CANCEL', immediate: false });
    const { record, result: r } = await c.ended();
    expect(record.state).toBe('cancelled');
    expect(r.steps.every((s) => s.skipped)).toBe(true);
    expect(r.steps).toHaveLength(2);
    expect(c.calls).toEqual([]);
  });
});

describe('isolation and cleanup', () => {
  it('fails without running a step when isolation fails, and still cleans up', async () => {
    const c = startChain([step('one')], { isolate: async () => Promise.reject(new Error('no git')) });
    const { record, result: r, progress } = await c.ended();
    expect(record.state).toBe('failed');
    expect(r).toEqual({ steps: [], finalOutput: 'no git', totalCostMicrodollars: 0, success: false });
    expect(c.calls).toEqual([]);
    expect(c.cleanups).toHaveLength(1);
    expect(progress.status).toBe('failed');
  });

  it('reports a non-Error isolation failure as text', async () => {
    const c = startChain([step('one')], { isolate: async () => Promise.reject('odd') });
    expect((await c.ended()).result.finalOutput).toBe('odd');
  });

  it('runs in the shared directory with a warning when isolation falls back', async () => {
    const c = startChain([step('one')], { isolate: async () => ({ warning: 'not a git repository' }) });
    const first = await c.call(1);
    expect(first.input.workingDir).toBeUndefined();
    first.resolve({ taskId: 'a', result: result('ok') });
    const { progress } = await c.ended();
    expect(progress.warnings).toEqual(['not a git repository']);
  });

  it('keeps the outcome when cleanup fails, with a warning', async () => {
    for (const [finish, state] of [
      [(call: Call) => call.resolve({ taskId: 'a', result: result('ok') }), 'completed'],
      [(call: Call) => call.resolve({ taskId: 'a', result: result('no', false) }), 'failed'],
      [(_call: Call, cancel: () => void) => cancel(), 'cancelled'],
    ] as const) {
      const c = startChain([step('one')], { cleanup: async () => Promise.reject(new Error('rm failed')) });
      finish(await c.call(1), () => c.child.send({ type: 'CANCEL', immediate: true }));
      const { record, progress } = await c.ended();
      expect(record.state).toBe(state);
      expect(progress.warnings).toEqual(['cleanup failed: rm failed']);
    }
  });

  it('words a non-Error cleanup failure as text', async () => {
    const c = startChain([], { cleanup: async () => Promise.reject('busy') });
    expect((await c.ended()).progress.warnings).toEqual(['cleanup failed: busy']);
  });

  it('fails when no isolation actor is provided', async () => {
    const h = underParent(chainMachine, {
      record: taskRecord('bare', { kind: 'chain' }),
      steps: [step('one')],
      isolation: 'none',
      clock: () => 1,
    });
    await waitFor(h.child, (s) => s.status === 'done');
    expect(h.child.getSnapshot().context.record.state).toBe('failed');
    expect(h.child.getSnapshot().context.previousOutput).toBe("the chain's isolate actor was not provided");
  });

  it('gives the chain’s result as it stands', () => {
    const context = { results: [], previousOutput: 'p', totalCost: 3, outcome: 'failed' } as unknown as ChainContext;
    expect(chainResultOf(context)).toEqual({ steps: [], finalOutput: 'p', totalCostMicrodollars: 3, success: false });
  });
});
