import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput, PoolShutdown, SlotNotFound, TaskNotFound } from '../../src/errors.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

describe('building a pool', () => {
  it('registers every slot Idle, in the actors and in the store', async () => {
    const pool = await simPool((b) => b.slots(3));
    expect(pool.slots().map((slot) => [slot.id, slot.state])).toEqual([
      ['slot-0', 'idle'],
      ['slot-1', 'idle'],
      ['slot-2', 'idle'],
    ]);
    await pool.flush();
    const stored = await pool.store().listSlots();
    expect(stored.map((slot) => [slot.id, slot.state, slot.tasksCompleted])).toEqual([
      ['slot-0', 'idle', 0],
      ['slot-1', 'idle', 0],
      ['slot-2', 'idle', 0],
    ]);
    expect(pool.status()).toMatchObject({ totalSlots: 3, idleSlots: 3, busySlots: 0, shutdown: false });
  });

  it('gives slot configs in order: the first call to slot-0, the next to slot-1, the rest defaults', async () => {
    const pool = await simPool((b) =>
      b
        .slots(3)
        .slotConfig({ name: 'ada', role: 'reviewer', description: 'Reads diffs.' })
        .slotConfig({ name: 'bob', model: 'haiku' }),
    );
    const [first, second, third] = pool.slots();
    expect(first.config).toEqual({ name: 'ada', role: 'reviewer', description: 'Reads diffs.' });
    expect(second.config).toEqual({ name: 'bob', model: 'haiku' });
    expect(third.config).toEqual({});
  });

  it('delivers the slot identity and the model of its config to the agent', async () => {
    const pool = await simPool((b) => b.slots(1).slotConfig({ name: 'ada', role: 'reviewer', model: 'haiku' }));
    const result = await pool.run('who are you [[sim:echo-system]]');
    expect(result.success).toBe(true);
    expect(result.output).toContain('You are ada, a reviewer.');
    expect(result.model).toBe('claude-haiku-5-5');
  });

  it('rejects bad builder input with a typed error', async () => {
    const { Pool } = await import('../../src/pool/index.js');
    expect(() => Pool.builder().slots(-1)).toThrow(InvalidInput);
    expect(() => Pool.builder().slotConfig({ permissionMode: 'yolo' as never })).toThrow(
      /permissionMode must be one of/,
    );
    await expect(
      Pool.builder()
        .config({ scaling: { minSlots: 5, maxSlots: 2 } })
        .build(),
    ).rejects.toThrow(/minSlots \(5\) is more than scaling.maxSlots \(2\)/);
  });
});

describe('shared context', () => {
  it('sets, gets, lists and deletes entries, and injects them into the system prompt', async () => {
    const pool = await simPool((b) => b.slots(1));
    pool.setContext('repo', 'claude-pool');
    pool.setContext('branch', 'main');
    expect(pool.getContext('repo')).toBe('claude-pool');
    expect(pool.listContext()).toEqual([
      ['repo', 'claude-pool'],
      ['branch', 'main'],
    ]);
    const result = await pool.run('show context [[sim:echo-system]]');
    expect(result.output).toContain('## Shared Context');
    expect(result.output).toContain('- **repo**: claude-pool');
    expect(result.output).toContain('- **branch**: main');
    expect(pool.deleteContext('repo')).toBe('claude-pool');
    expect(pool.deleteContext('repo')).toBeUndefined();
    expect(pool.getContext('repo')).toBeUndefined();
    expect(pool.listContext()).toEqual([['branch', 'main']]);
    expect(() => pool.setContext('', 'x')).toThrow(InvalidInput);
  });
});

describe('tasks', () => {
  it('runs a prompt and returns the result the agent reported', async () => {
    const pool = await simPool((b) => b.slots(1));
    const chunks: string[] = [];
    const result = await pool.run(
      'hello [[sim:text "Hello there, pool."]] [[sim:chunks 3]] [[sim:cost 0.0125]] [[sim:turns 2]]',
      {
        onOutput: (chunk) => chunks.push(chunk),
      },
    );
    expect(result).toMatchObject({
      output: 'Hello there, pool.',
      success: true,
      costMicrodollars: 12_500,
      turnsUsed: 2,
      model: 'claude-opus-5-5',
    });
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.elapsedMs).toBeGreaterThan(0);
    expect(chunks.join('')).toBe('Hello there, pool.');
    expect(chunks.length).toBe(3);
  });

  it('submits, reports no result while running, then the result; the store agrees with the actors', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submitWithConfig('slow [[sim:delay 300]] [[sim:text done]]', { model: 'sonnet' }, ['a', 'b']);
    expect(id).toMatch(/^task-/);
    expect(await pool.result(id)).toBeUndefined();
    const running = await pool.task(id);
    expect(['pending', 'running']).toContain(running.state);
    const { eventually } = await import('../support/sim-pool.js');
    await eventually(async () => (await pool.result(id)) !== undefined);
    const result = await pool.result(id);
    expect(result?.output).toBe('done');
    expect(result?.model).toBe('claude-sonnet-5-5');
    await pool.flush();
    const stored = await pool.store().getTask(id);
    expect(stored).toEqual(await pool.task(id));
    expect(stored).toMatchObject({
      state: 'completed',
      tags: ['a', 'b'],
      slotId: 'slot-0',
      config: { model: 'sonnet' },
    });
    expect(stored?.startedAtMs).toBeGreaterThanOrEqual(stored?.createdAtMs ?? Infinity);
    expect(stored?.completedAtMs).toBeGreaterThanOrEqual(stored?.startedAtMs ?? Infinity);
    expect(await pool.store().listTasks({ tags: ['b'] })).toHaveLength(1);
    expect(await pool.store().listTasks({ tags: ['zzz'] })).toHaveLength(0);
    const slot = await pool.store().getSlot('slot-0');
    expect(slot).toMatchObject({ state: 'idle', tasksCompleted: 1 });
  });

  it('fails a task whose run ends without a result line, with the command, exit code and stderr', async () => {
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.run('break [[sim:crash "simulated segfault"]]');
    expect(result.success).toBe(false);
    expect(result.errorCode).toBe('crashed');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('simulated segfault');
    expect(result.failedCommand).toContain('--output-format stream-json');
    expect((await pool.task((await pool.listTasks())[0].id)).state).toBe('failed');
  });

  it('decides from the result line: an error result is a failure even with cost, a denial is not', async () => {
    const pool = await simPool((b) => b.slots(1));
    const maxTurns = await pool.run('loop [[sim:error max-turns]]', { config: { maxTurns: 2 } });
    expect(maxTurns.success).toBe(false);
    expect(maxTurns.subtype).toBe('error_max_turns');
    expect(maxTurns.output).toContain('Reached maximum number of turns (2)');
    const denied = await pool.run('write it [[sim:deny Write out.txt]]');
    expect(denied.success).toBe(true);
    expect(denied.permissionDenials?.[0]?.toolName).toBe('Write');
  });

  it('resumes the slot session on its next task and charges only what that run spent', async () => {
    const pool = await simPool((b) => b.slots(1).warmSlots(false));
    const first = await pool.run('one [[sim:cost 0.01]]');
    const second = await pool.run('two [[sim:cost 0.02]] [[sim:echo-args]]');
    expect(second.output).toContain('--resume');
    expect(second.output).toContain(first.sessionId);
    expect(second.sessionId).toBe(first.sessionId);
    expect(first.costMicrodollars).toBe(10_000);
    expect(second.costMicrodollars).toBe(20_000);
    expect(pool.slots()[0]).toMatchObject({ costMicrodollars: 30_000, tasksCompleted: 2 });
  });

  it('throws typed errors for unknown ids and bad input, and loses nothing', async () => {
    const pool = await simPool((b) => b.slots(1));
    await expect(pool.result('task-nope')).rejects.toBeInstanceOf(TaskNotFound);
    await expect(pool.cancel('task-nope')).rejects.toMatchObject({ code: 'task_not_found' });
    expect(() => pool.readMessages('slot-9')).toThrow(SlotNotFound);
    await expect(pool.run('')).rejects.toBeInstanceOf(InvalidInput);
    await expect(pool.run('x', { config: { maxBudgetUsd: -1 } })).rejects.toThrow(
      /maxBudgetUsd must be a number greater than 0/,
    );
    await expect(pool.run('x', { config: { effort: 'ultra' as never } })).rejects.toThrow(/effort must be one of/);
    expect(await pool.listTasks()).toHaveLength(0);
  });

  it('runs four prompts on two slots: all complete, both slots work, never more than two at once', async () => {
    const pool = await simPool((b) => b.slots(2));
    const results = await pool.fanOut([
      'a [[sim:delay 150]]',
      'b [[sim:delay 150]]',
      'c [[sim:delay 150]]',
      'd [[sim:delay 150]]',
    ]);
    expect(results.map((r) => r.success)).toEqual([true, true, true, true]);
    const tasks = await pool.listTasks();
    expect(new Set(tasks.map((t) => t.slotId))).toEqual(new Set(['slot-0', 'slot-1']));
    // At the moment each task starts, at most two tasks are running (itself included).
    for (const task of tasks) {
      const at = task.startedAtMs ?? 0;
      const active = tasks.filter((other) => (other.startedAtMs ?? 0) <= at && at < (other.completedAtMs ?? 0));
      expect(active.length).toBeLessThanOrEqual(2);
    }
    expect(pool.slots().map((s) => s.tasksCompleted)).toEqual([2, 2]);
  });

  it('fanOut returns every result in input order, failures included', async () => {
    const pool = await simPool((b) => b.slots(2));
    const results = await pool.fanOut([
      'first [[sim:text one]]',
      'second [[sim:crash]]',
      'third [[sim:text three]] [[sim:delay 50]]',
    ]);
    expect(results.map((r) => [r.success, r.success ? r.output : r.errorCode])).toEqual([
      [true, 'one'],
      [false, 'crashed'],
      [true, 'three'],
    ]);
  });
});

describe('fanOut as one batch', () => {
  it('queues the batch in input order, answers bad input per prompt, and loses nothing', async () => {
    const pool = await simPool((b) => b.slots(1));
    const prompts = ['one [[sim:text 1]]', '', 'three [[sim:text 3]] [[sim:delay 20]]', 'four [[sim:text 4]]'];
    const results = await pool.fanOut(prompts);
    expect(results.map((r) => (r.success ? r.output : r.errorCode))).toEqual(['1', 'invalid_input', '3', '4']);
    const tasks = await pool.listTasks();
    // One slot: the tasks ran one after the other, in the order given.
    expect(tasks.map((t) => t.prompt)).toEqual([prompts[0], prompts[2], prompts[3]]);
    const starts = tasks.map((t) => t.startedAtMs ?? 0);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it('is refused as a whole while the pool drains and once it has stopped, each with the typed error', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submit('long [[sim:delay 200]]');
    await firstValueFrom(pool.task$(id).pipe(filter((task) => task.state === 'running')));
    const drained = pool.drain({ queued: 'finish' });
    const whileDraining = await pool.fanOut(['a', 'b']);
    expect(whileDraining.map((r) => r.errorCode)).toEqual(['pool_shutdown', 'pool_shutdown']);
    await drained;
    expect((await pool.task(id)).state).toBe('completed');
    const afterStop = await pool.fanOut(['c']);
    expect(afterStop.map((r) => r.errorCode)).toEqual(['pool_shutdown']);
    expect((await pool.listTasks()).map((t) => t.prompt)).toEqual(['long [[sim:delay 200]]']);
  });
});

describe('drain', () => {
  it('waits for running work, stops every slot, refuses new work and reports the totals', async () => {
    const pool = await simPool((b) => b.slots(2));
    await pool.run('a [[sim:cost 0.01]]');
    const running = pool.run('b [[sim:cost 0.02]] [[sim:delay 200]]');
    const summary = await pool.drain();
    expect((await running).success).toBe(true);
    expect(summary).toMatchObject({ totalCostMicrodollars: 30_000, totalTasksCompleted: 2 });
    expect(pool.slots().map((s) => s.state)).toEqual(['stopped', 'stopped']);
    expect((await pool.store().listSlots()).map((s) => s.state)).toEqual(['stopped', 'stopped']);
    await expect(pool.run('c')).rejects.toBeInstanceOf(PoolShutdown);
    await expect(pool.submit('c')).rejects.toBeInstanceOf(PoolShutdown);
    expect(pool.status().shutdown).toBe(true);
    expect(await pool.drain()).toEqual(summary);
  });

  it('cancels queued work by default and reports it; with queued: finish it runs first', async () => {
    const pool = await simPool((b) => b.slots(1));
    const first = await pool.submit('a [[sim:delay 200]]');
    const queued = await pool.submit('b');
    const summary = await pool.drain();
    expect(summary.cancelledTasks).toEqual([queued]);
    expect((await pool.task(queued)).state).toBe('cancelled');
    expect((await pool.task(first)).state).toBe('completed');

    const other = await simPool((b) => b.slots(1));
    await other.submit('a [[sim:delay 100]]');
    const later = await other.submit('b');
    const finished = await other.drain({ queued: 'finish' });
    expect(finished.cancelledTasks).toEqual([]);
    expect((await other.task(later)).state).toBe('completed');
    expect(finished.totalTasksCompleted).toBe(2);
  });

  it('with a timeout, cancels running tasks that outlive it and kills their processes', async () => {
    const pool = await simPool((b) => b.slots(1));
    const id = await pool.submit('forever [[sim:hang]]');
    const { eventually } = await import('../support/sim-pool.js');
    await eventually(async () => (await pool.task(id)).state === 'running');
    const summary = await pool.drain({ timeoutMs: 200 });
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(summary.totalTasksCompleted).toBe(0);
    expect(pool.slots()[0].state).toBe('stopped');
  });
});
