/**
 * The slot statechart, driven directly with a stand-in agent actor: runs, crashes, cancels with a grace
 * period, retiring, restarting and stopping, and what the slot reports to the pool.
 */
import { describe, expect, it } from 'vitest';
import { fromCallback } from 'xstate';
import {
  abandonedOutcome,
  slotMachine,
  type AgentActorCommand,
  type AgentActorInput,
  type AgentRun,
} from '../../machines/slot.js';
import type { RunOutcome, SlotJob, SlotRecord } from '../../machines/types.js';
import { underParent } from './harness.js';

const record: SlotRecord = {
  id: 'slot-0',
  state: 'stopped',
  config: { model: 'sonnet' } as SlotRecord['config'],
  tasksCompleted: 0,
  costMicrodollars: 0,
  restartCount: 0,
  consecutiveCrashes: 0,
};

const job = (taskId = 't1'): SlotJob => ({ taskId, prompt: `run ${taskId}` });

const outcome = (
  kind: RunOutcome['kind'],
  over: Partial<RunOutcome['result']> = {},
  sessionCostUsd?: number,
): RunOutcome => ({
  kind,
  result: {
    output: `${kind} output`,
    success: kind === 'ok',
    costMicrodollars: 100,
    turnsUsed: 1,
    elapsedMs: 1,
    ...over,
  },
  ...(sessionCostUsd !== undefined && { sessionCostUsd }),
});

function start(opts: { crashThreshold?: number; cancelGraceMs?: number; record?: Partial<SlotRecord> } = {}) {
  // The slot's agent: the runs it is given (`inputs`), the aborts it is asked for (`commands`), and the runs
  // the slot left behind (`stopped`: a detach, or the agent stopping with a run in hand).
  const inputs: AgentRun[] = [];
  const commands: AgentActorCommand[] = [];
  let stopped = 0;
  const agent = fromCallback<AgentActorCommand, AgentActorInput>(({ receive }) => {
    let running = false;
    receive((command) => {
      if (command.type === 'RUN') {
        inputs.push({ slot: command.slot, job: command.job });
        running = true;
      } else if (command.type === 'DETACH') {
        if (running) stopped++;
        running = false;
      } else commands.push(command);
    });
    return () => {
      if (running) stopped++;
    };
  });
  const h = underParent(slotMachine.provide({ actors: { agent } }), {
    record: { ...record, ...opts.record },
    crashThreshold: opts.crashThreshold ?? 3,
    cancelGraceMs: opts.cancelGraceMs ?? 5_000,
  });
  const snap = () => h.child.getSnapshot();
  return {
    ...h,
    inputs,
    commands,
    stoppedAgents: () => stopped,
    rec: () => snap().context.record,
    value: () => snap().value,
    done: (o: RunOutcome) => h.child.send({ type: 'AGENT.DONE', outcome: o }),
  };
}

describe('slot runs', () => {
  it('starts idle and runs a job on the agent with its record', () => {
    const s = start({ record: { state: 'errored' } });
    expect(s.value()).toBe('idle');
    expect(s.rec().state).toBe('idle');
    s.child.send({ type: 'RUN', job: job() });
    expect(s.value()).toEqual({ busy: 'working' });
    expect(s.rec()).toMatchObject({ state: 'busy', currentTask: 't1' });
    expect(s.inputs).toHaveLength(1);
    expect(s.inputs[0].job).toEqual(job());
    expect(s.inputs[0].slot).toMatchObject({ id: 'slot-0', currentTask: 't1' });
    expect(s.child.getSnapshot().context.job).toEqual(job());
    // The pool made it busy itself: nothing reported on the way in.
    expect(s.sent).toEqual([]);
  });

  it('books a successful run and goes back to idle, reporting the outcome', () => {
    const s = start({ record: { consecutiveCrashes: 2, costMicrodollars: 50 } });
    s.child.send({ type: 'RUN', job: job() });
    const o = outcome('ok', { sessionId: 'sess-1' }, 0.25);
    s.done(o);
    expect(s.value()).toBe('idle');
    expect(s.rec()).toMatchObject({
      state: 'idle',
      tasksCompleted: 1,
      costMicrodollars: 150,
      consecutiveCrashes: 0,
      sessionId: 'sess-1',
      sessionCostUsd: 0.25,
    });
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.child.getSnapshot().context.job).toBeUndefined();
    expect(s.sent).toEqual([{ type: 'SLOT.RUN_FINISHED', slotId: 'slot-0', taskId: 't1', outcome: o, state: 'idle' }]);
    expect(s.stoppedAgents()).toBe(1);
  });

  it('keeps the earlier session when a run reports none', () => {
    const s = start({ record: { sessionId: 'old', sessionCostUsd: 0.1 } });
    s.child.send({ type: 'RUN', job: job() });
    s.done(outcome('ok'));
    expect(s.rec()).toMatchObject({ sessionId: 'old', sessionCostUsd: 0.1, tasksCompleted: 1 });
  });

  it('does not count a failed result line as a completed task, but it ends the crash streak', () => {
    const s = start({ record: { consecutiveCrashes: 1 } });
    s.child.send({ type: 'RUN', job: job() });
    s.done(outcome('ok', { success: false }));
    expect(s.rec()).toMatchObject({ tasksCompleted: 0, consecutiveCrashes: 0 });
    expect(s.rec().lastError).toBeUndefined();
  });

  it('counts crashes in a row and goes errored at the threshold', () => {
    const s = start({ crashThreshold: 2 });
    s.child.send({ type: 'RUN', job: job('a') });
    s.done(outcome('crashed', { output: 'died once' }));
    expect(s.value()).toBe('idle');
    expect(s.rec()).toMatchObject({
      consecutiveCrashes: 1,
      lastError: 'died once',
      tasksCompleted: 0,
      costMicrodollars: 100,
    });
    s.child.send({ type: 'RUN', job: job('b') });
    s.done(outcome('crashed', { output: 'died twice' }));
    expect(s.value()).toBe('errored');
    expect(s.rec()).toMatchObject({ state: 'errored', consecutiveCrashes: 2, lastError: 'died twice' });
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent.at(-1)).toMatchObject({ type: 'SLOT.RUN_FINISHED', taskId: 'b', state: 'errored' });
  });

  it('goes errored when the process never starts', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job() });
    s.done(outcome('spawn_failed', { output: 'no such binary' }));
    expect(s.value()).toBe('errored');
    expect(s.rec()).toMatchObject({
      state: 'errored',
      lastError: 'no such binary',
      consecutiveCrashes: 0,
      tasksCompleted: 0,
    });
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.child.getSnapshot().context.job).toBeUndefined();
    expect(s.sent).toEqual([expect.objectContaining({ type: 'SLOT.RUN_FINISHED', state: 'errored' })]);
  });

  it('books a timed-out run without counting it as completed or crashed', () => {
    const s = start({ record: { consecutiveCrashes: 1 } });
    s.child.send({ type: 'RUN', job: job() });
    s.done(outcome('timeout'));
    expect(s.value()).toBe('idle');
    expect(s.rec()).toMatchObject({ tasksCompleted: 0, consecutiveCrashes: 1, costMicrodollars: 100 });
    expect(s.rec().lastError).toBeUndefined();
  });

  it('fails every run when no agent is provided', () => {
    const h = underParent(slotMachine, { record, crashThreshold: 3, cancelGraceMs: 10 });
    h.child.send({ type: 'RUN', job: job() });
    expect(h.child.getSnapshot().value).toBe('errored');
    expect(h.sent[0]).toMatchObject({
      type: 'SLOT.RUN_FINISHED',
      outcome: {
        kind: 'spawn_failed',
        result: {
          success: false,
          errorCode: 'spawn_failed',
          output: 'no agent implementation was provided to the slot',
        },
      },
    });
  });

  it('applies new configuration in any state', () => {
    const s = start();
    s.child.send({ type: 'CONFIGURE', config: { maxTurns: 4 } as SlotRecord['config'] });
    expect(s.rec().config).toEqual({ model: 'sonnet', maxTurns: 4 });
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'CONFIGURE', config: { model: 'opus' } as SlotRecord['config'] });
    expect(s.rec().config).toEqual({ model: 'opus', maxTurns: 4 });
  });
});

describe('cancelling a run', () => {
  it('asks the agent to stop only for its own task', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job('mine') });
    s.child.send({ type: 'CANCEL_RUN', taskId: 'other' });
    expect(s.value()).toEqual({ busy: 'working' });
    expect(s.commands).toEqual([]);
    s.child.send({ type: 'CANCEL_RUN', taskId: 'mine' });
    expect(s.value()).toEqual({ busy: 'cancelling' });
    expect(s.commands).toEqual([{ type: 'ABORT' }]);
  });

  it('books what the cancelled run reports and goes idle', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'CANCEL_RUN', taskId: 't1' });
    const o = outcome('aborted', { costMicrodollars: 30 });
    s.done(o);
    expect(s.value()).toBe('idle');
    expect(s.rec().costMicrodollars).toBe(30);
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent).toEqual([{ type: 'SLOT.RUN_FINISHED', slotId: 'slot-0', taskId: 't1', outcome: o, state: 'idle' }]);
  });

  it('abandons the run after the grace period and goes idle', () => {
    const s = start({ cancelGraceMs: 5_000 });
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'CANCEL_RUN', taskId: 't1' });
    s.clock.increment(4_999);
    expect(s.value()).toEqual({ busy: 'cancelling' });
    s.clock.increment(1);
    expect(s.value()).toBe('idle');
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent).toEqual([
      {
        type: 'SLOT.RUN_FINISHED',
        slotId: 'slot-0',
        taskId: 't1',
        outcome: abandonedOutcome('the run was stopped before it finished'),
        state: 'idle',
      },
    ]);
    expect(s.stoppedAgents()).toBe(1);
  });

  it('goes errored when the cancelled run crashed once too often', () => {
    const s = start({ crashThreshold: 1 });
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'CANCEL_RUN', taskId: 't1' });
    s.done(outcome('crashed', { output: 'died while cancelled' }));
    expect(s.value()).toBe('errored');
    expect(s.rec()).toMatchObject({ consecutiveCrashes: 1, lastError: 'died while cancelled', costMicrodollars: 100 });
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent.at(-1)).toMatchObject({ state: 'errored' });
  });
});

describe('retiring', () => {
  it('stops at once when idle', () => {
    const s = start();
    s.child.send({ type: 'RETIRE' });
    expect(s.value()).toBe('stopped');
    expect(s.sent).toEqual([{ type: 'SLOT.STATE', slotId: 'slot-0', state: 'stopped' }]);
  });

  it('finishes the current run, then stops', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'RETIRE' });
    expect(s.value()).toEqual({ busy: 'retiring' });
    expect(s.rec().state).toBe('retiring');
    expect(s.sent).toEqual([{ type: 'SLOT.STATE', slotId: 'slot-0', state: 'retiring' }]);
    const o = outcome('ok');
    s.done(o);
    expect(s.value()).toBe('stopped');
    expect(s.rec()).toMatchObject({ state: 'stopped', tasksCompleted: 1 });
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.child.getSnapshot().status).toBe('done');
    expect(s.sent.slice(1)).toEqual([
      { type: 'SLOT.RUN_FINISHED', slotId: 'slot-0', taskId: 't1', outcome: o, state: 'stopped' },
      { type: 'SLOT.STATE', slotId: 'slot-0', state: 'stopped' },
    ]);
  });

  it('can still cancel the run while retiring, and then stops', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'RETIRE' });
    s.child.send({ type: 'CANCEL_RUN', taskId: 'other' });
    expect(s.value()).toEqual({ busy: 'retiring' });
    s.child.send({ type: 'CANCEL_RUN', taskId: 't1' });
    expect(s.value()).toEqual({ busy: 'cancelling' });
    s.done(outcome('aborted'));
    expect(s.value()).toBe('stopped');
    expect(s.sent.find((e) => e.type === 'SLOT.RUN_FINISHED')).toMatchObject({ state: 'stopped' });
  });

  it('stops instead of going idle when scaled down while cancelling', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'CANCEL_RUN', taskId: 't1' });
    s.child.send({ type: 'RETIRE' });
    expect(s.value()).toEqual({ busy: 'cancelling' });
    s.done(outcome('aborted', { costMicrodollars: 70 }));
    expect(s.value()).toBe('stopped');
    expect(s.rec().costMicrodollars).toBe(70);
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent[0]).toMatchObject({
      type: 'SLOT.RUN_FINISHED',
      state: 'stopped',
      outcome: { result: { costMicrodollars: 70 } },
    });
  });

  it('stops after the grace period when retired while cancelling', () => {
    const s = start({ cancelGraceMs: 100 });
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'CANCEL_RUN', taskId: 't1' });
    s.child.send({ type: 'RETIRE' });
    s.clock.increment(100);
    expect(s.value()).toBe('stopped');
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent[0]).toEqual({
      type: 'SLOT.RUN_FINISHED',
      slotId: 'slot-0',
      taskId: 't1',
      outcome: abandonedOutcome('the run was stopped before it finished'),
      state: 'stopped',
    });
  });
});

describe('stopping and restarting', () => {
  it('stops while busy, reporting the run as abandoned', () => {
    const s = start();
    s.child.send({ type: 'RUN', job: job() });
    s.child.send({ type: 'STOP' });
    expect(s.value()).toBe('stopped');
    expect(s.rec().currentTask).toBeUndefined();
    expect(s.sent).toEqual([
      {
        type: 'SLOT.RUN_FINISHED',
        slotId: 'slot-0',
        taskId: 't1',
        outcome: abandonedOutcome('the run was stopped before it finished'),
        state: 'stopped',
      },
      { type: 'SLOT.STATE', slotId: 'slot-0', state: 'stopped' },
    ]);
    expect(s.stoppedAgents()).toBe(1);
  });

  it('stops when idle', () => {
    const s = start();
    s.child.send({ type: 'STOP' });
    expect(s.value()).toBe('stopped');
  });

  it('restarts an errored slot with a clean slate and says it is idle', () => {
    const s = start({ record: { sessionId: 'sess', sessionCostUsd: 1, restartCount: 1 } });
    s.child.send({ type: 'RUN', job: job() });
    s.done(outcome('spawn_failed'));
    s.child.send({ type: 'RESTART' });
    expect(s.value()).toBe('idle');
    const r = s.rec();
    expect(r).toMatchObject({ state: 'idle', restartCount: 2, consecutiveCrashes: 0 });
    expect(r.sessionId).toBeUndefined();
    expect(r.sessionCostUsd).toBeUndefined();
    expect(r.lastError).toBeUndefined();
    expect(s.sent.at(-1)).toEqual({ type: 'SLOT.STATE', slotId: 'slot-0', state: 'idle' });
  });

  it('resets the crash streak on restart', () => {
    const s = start({ crashThreshold: 1 });
    s.child.send({ type: 'RUN', job: job() });
    s.done(outcome('crashed'));
    expect(s.rec().consecutiveCrashes).toBe(1);
    s.child.send({ type: 'RESTART' });
    expect(s.rec().consecutiveCrashes).toBe(0);
  });

  it('stops from errored on STOP or RETIRE', () => {
    for (const type of ['STOP', 'RETIRE'] as const) {
      const s = start();
      s.child.send({ type: 'RUN', job: job() });
      s.done(outcome('spawn_failed'));
      s.child.send({ type });
      expect(s.value()).toBe('stopped');
      expect(s.sent.at(-1)).toEqual({ type: 'SLOT.STATE', slotId: 'slot-0', state: 'stopped' });
    }
  });
});

describe('naming', () => {
  it('is named slot, as inspection and the diagrams show it', () => {
    expect(slotMachine.id).toBe('slot');
  });
});

describe('abandonedOutcome', () => {
  it('is an aborted, cancelled result with nothing spent', () => {
    expect(abandonedOutcome('why')).toEqual({
      kind: 'aborted',
      result: {
        output: 'why',
        success: false,
        costMicrodollars: 0,
        turnsUsed: 0,
        elapsedMs: 0,
        errorCode: 'cancelled',
      },
    });
  });
});
