/**
 * Model-based tests of the chain statechart, level (a): generated paths replayed on the machine with actors that
 * never finish on their own (the path delivers their results as `xstate.done.actor.*` / `xstate.error.actor.*`).
 * Level (b) for chains is covered by test/chains/ through the public API.
 */
import { describe, expect, it } from 'vitest';
import { fromPromise, type AnyEventObject } from 'xstate';
import { chainMachine, type ChainContext, type RunStepOutput } from '../../machines/chain.js';
import type { ChainStep, TaskRecord, TaskResult } from '../../machines/types.js';
import { Coverage, generatePaths, replayPure, type ModelSpec } from './harness.js';

const record: TaskRecord = {
  id: 'chain-model',
  prompt: 'chain',
  state: 'pending',
  tags: [],
  reviewRequired: false,
  maxRejections: 0,
  rejectionCount: 0,
  kind: 'chain',
  createdAtMs: 0,
};
// Step one may retry once and then recover (retriesLeft, hasRecovery true); step two may do neither (both false).
const steps: ChainStep[] = [
  {
    name: 'one',
    action: { type: 'prompt', prompt: 'one' },
    failurePolicy: { retries: 1, recoveryPrompt: 'fix {error}' },
  },
  { name: 'two', action: { type: 'prompt', prompt: 'two' } },
];

const result = (success: boolean): TaskResult => ({
  output: success ? 'ok' : 'failed',
  success,
  costMicrodollars: 1,
  turnsUsed: 1,
  elapsedMs: 1,
});
const step = (success: boolean): RunStepOutput => ({ taskId: 'task-step', result: result(success) });
const never = fromPromise<never, unknown>(() => new Promise<never>(() => {}));

const done = (id: string, output: unknown) => ({ type: `xstate.done.actor.${id}`, output });
const error = (id: string) => ({ type: `xstate.error.actor.${id}`, error: new Error(`${id} failed`) });
const events: AnyEventObject[] = [
  { type: 'CANCEL', immediate: true },
  { type: 'CANCEL', immediate: false },
  { type: 'STEP.OUTPUT', chunk: 'partial' },
  done('0.chain.preparing', {}),
  error('0.chain.preparing'),
  done('0.chain.running.attempting', step(true)),
  done('0.chain.running.attempting', step(false)),
  error('0.chain.running.attempting'),
  done('0.chain.running.recovering', step(true)),
  done('0.chain.running.recovering', step(false)), // a failed recovery ends the chain (endsFailed)
  error('0.chain.running.recovering'),
  done('0.chain.cleaningUp', undefined),
  error('0.chain.cleaningUp'),
];

const spec: ModelSpec = {
  name: 'chain',
  machine: chainMachine,
  scenarios: [{ name: 'two steps', input: { record, steps, isolation: 'none', clock: () => 1_000 }, events }],
  // Partial output only grows; what the chain does next depends on the rest.
  abstract: (snapshot) => {
    const { progress, ...context } = snapshot.context as ChainContext;
    return { value: snapshot.value, context, status: progress.status };
  },
  eventLabel: (event) => {
    const match = /^xstate\.(done|error)\.actor\.0\.chain\.(?:running\.)?(\w+)$/.exec(event.type);
    if (!match) return event.type === 'CANCEL' ? `CANCEL(${event.immediate ? 'now' : 'after step'})` : event.type;
    const success = (event.output as RunStepOutput | undefined)?.result?.success;
    return `${match[1]}:${match[2]}${success === undefined ? '' : success ? '(ok)' : '(failed)'}`;
  },
  simpleDepth: 7,
  maxSimplePaths: 200,
  implementations: { actors: { runStep: never, isolate: never, cleanup: never } },
  check: (run, _event, expected) => {
    // A chain tells the pool it has ended exactly once, as it reaches a final state (the pool then stops it).
    const ended = run.sentToParent.filter((e) => e.type === 'CHAIN.ENDED');
    const final = FINAL.has(String(expected.value));
    expect(ended, `CHAIN.ENDED in ${JSON.stringify(expected.value)}`).toEqual(
      final ? [{ type: 'CHAIN.ENDED', chainId: record.id }] : [],
    );
    const context = run.actor.getSnapshot().context as ChainContext;
    if (final) {
      // Its last progress says how it ended, with the warnings it gathered (a failed cleanup, say).
      expect(context.progress.status).toBe(expected.value);
      expect(context.progress.warnings).toEqual(context.warnings.length > 0 ? context.warnings : undefined);
      expect(context.record.state).toBe(expected.value);
    }
  },
};

const FINAL = new Set(['completed', 'failed', 'cancelled']);

const paths = generatePaths(spec);
const coverage = new Coverage('chain (level a: the machine)', chainMachine);

describe('chain model, level (a): paths replayed on the machine', () => {
  it.each(paths.map((p) => [`(${p.kinds.join(', ')}): ${p.name}`, p] as const))('%s', (_name, generated) => {
    replayPure(spec, generated, coverage);
  });

  it('covers every state, transition and guard outcome', () => {
    console.log(coverage.report([`${paths.length} paths generated`]));
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingTransitions()).toEqual([]);
    expect(coverage.missingGuardOutcomes()).toEqual([]);
  });
});
