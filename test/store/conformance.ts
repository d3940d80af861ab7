/**
 * The store conformance suite: what every `PoolStore` must do. `describeStore` registers the tests for one
 * implementation; `stores.test.ts` runs it for each store the package ships.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../machines/types.js';
import type { PoolStore } from '../../src/store/types.js';
import { fullTaskRecord, slotRecord, taskRecord } from './fixtures.js';

/** Makes a fresh, empty store for one test. */
export type StoreFactory = () => PoolStore | Promise<PoolStore>;

/** Releases a store made by the factory (close a file, remove a directory). */
export type StoreDisposer = (store: PoolStore) => void | Promise<void>;

/** The ids of records, in order. */
function ids(records: readonly { id: string }[]): string[] {
  return records.map((record) => record.id);
}

/**
 * Registers the conformance tests for one store implementation under `describe(name)`. Each test gets a fresh
 * store from `makeStore`, released afterwards with `dispose`.
 */
export function describeStore(name: string, makeStore: StoreFactory, dispose?: StoreDisposer): void {
  describe(`PoolStore conformance: ${name}`, () => {
    const made: PoolStore[] = [];

    async function fresh(): Promise<PoolStore> {
      const store = await makeStore();
      made.push(store);
      return store;
    }

    afterEach(async () => {
      for (const store of made.splice(0)) await dispose?.(store);
    });

    /** Stores a spread of tasks used by the filter tests (deliberately not in creation order). */
    async function seed(store: PoolStore): Promise<void> {
      const records: TaskRecord[] = [
        taskRecord('task-e', { createdAtMs: 50, state: 'completed', slotId: 'slot-1', tags: ['x'] }),
        taskRecord('task-a', { createdAtMs: 10, state: 'pending', tags: ['x', 'y'] }),
        taskRecord('task-c', { createdAtMs: 30, state: 'running', slotId: 'slot-1', tags: ['y'] }),
        taskRecord('task-b', { createdAtMs: 20, state: 'running', slotId: 'slot-2', tags: [] }),
        taskRecord('task-d', { createdAtMs: 40, state: 'completed', slotId: 'slot-2', tags: ['z', 'x'] }),
        taskRecord('task-f', { createdAtMs: 60, state: 'failed', slotId: 'slot-10', tags: ['y', 'z'], kind: 'chain' }),
      ];
      for (const record of records) await store.putTask(record);
    }

    describe('tasks', () => {
      it('returns undefined for an unknown task', async () => {
        const store = await fresh();
        expect(await store.getTask('task-missing')).toBeUndefined();
      });

      it('gives back what was put, every field included', async () => {
        const store = await fresh();
        const record = fullTaskRecord('task-full');
        await store.putTask(record);
        expect(await store.getTask('task-full')).toEqual(record);
        expect(await store.listTasks()).toEqual([record]);
      });

      it('overwrites a task put again under the same id', async () => {
        const store = await fresh();
        await store.putTask(taskRecord('task-1', { state: 'pending', tags: ['old'] }));
        const updated = taskRecord('task-1', {
          state: 'running',
          slotId: 'slot-0',
          tags: ['new'],
          startedAtMs: 2_000,
        });
        await store.putTask(updated);
        expect(await store.getTask('task-1')).toEqual(updated);
        expect(await store.listTasks()).toEqual([updated]);
        // The filter columns follow the new version, not the old one.
        expect(await store.listTasks({ state: 'pending' })).toEqual([]);
        expect(await store.listTasks({ tags: ['old'] })).toEqual([]);
        expect(ids(await store.listTasks({ tags: ['new'] }))).toEqual(['task-1']);
        expect(ids(await store.listTasks({ slotId: 'slot-0' }))).toEqual(['task-1']);
      });

      it('drops a field that the new version no longer has', async () => {
        const store = await fresh();
        await store.putTask(taskRecord('task-1', { slotId: 'slot-0', state: 'running' }));
        await store.putTask(taskRecord('task-1', { state: 'pending' }));
        const stored = await store.getTask('task-1');
        expect(stored?.slotId).toBeUndefined();
        expect(await store.listTasks({ slotId: 'slot-0' })).toEqual([]);
      });

      it('deletes a task: true the first time, false after and for unknown ids', async () => {
        const store = await fresh();
        await store.putTask(taskRecord('task-1', { tags: ['t'] }));
        await store.putTask(taskRecord('task-2', { createdAtMs: 2_000 }));
        expect(await store.deleteTask('task-1')).toBe(true);
        expect(await store.getTask('task-1')).toBeUndefined();
        expect(await store.deleteTask('task-1')).toBe(false);
        expect(await store.deleteTask('task-never')).toBe(false);
        expect(ids(await store.listTasks())).toEqual(['task-2']);
        expect(await store.listTasks({ tags: ['t'] })).toEqual([]);
      });

      it('puts a deleted task back', async () => {
        const store = await fresh();
        await store.putTask(taskRecord('task-1', { tags: ['t'] }));
        await store.deleteTask('task-1');
        await store.putTask(taskRecord('task-1', { tags: ['t'], state: 'running' }));
        expect(ids(await store.listTasks({ tags: ['t'], state: 'running' }))).toEqual(['task-1']);
      });

      it('lists tasks oldest first, whatever the insertion order', async () => {
        const store = await fresh();
        await seed(store);
        expect(ids(await store.listTasks())).toEqual(['task-a', 'task-b', 'task-c', 'task-d', 'task-e', 'task-f']);
      });

      it('lists tasks created in the same millisecond in the order they were first stored (FIFO)', async () => {
        const store = await fresh();
        // Ids in reverse alphabetical order, so an id tie-break would show.
        for (const id of ['task-z', 'task-m', 'task-a']) {
          await store.putTask(taskRecord(id, { createdAtMs: 7, tags: ['t'] }));
        }
        await store.putTask(taskRecord('task-0', { createdAtMs: 6 }));
        expect(ids(await store.listTasks())).toEqual(['task-0', 'task-z', 'task-m', 'task-a']);
        // Overwriting keeps a task's place; deleting and putting it again moves it to the end of its tie.
        await store.putTask(taskRecord('task-z', { createdAtMs: 7, tags: ['t'], state: 'running' }));
        expect(ids(await store.listTasks({ tags: ['t'] }))).toEqual(['task-z', 'task-m', 'task-a']);
        await store.deleteTask('task-m');
        await store.putTask(taskRecord('task-m', { createdAtMs: 7, tags: ['t'] }));
        expect(ids(await store.listTasks({ tags: ['t'] }))).toEqual(['task-z', 'task-a', 'task-m']);
        expect(ids(await store.listTasks({ state: 'pending' }))).toEqual(['task-0', 'task-a', 'task-m']);
      });

      it('lists nothing from an empty store', async () => {
        const store = await fresh();
        expect(await store.listTasks()).toEqual([]);
        expect(await store.listTasks({ state: 'pending', slotId: 'slot-0', tags: ['x'] })).toEqual([]);
      });

      it('filters by state', async () => {
        const store = await fresh();
        await seed(store);
        expect(ids(await store.listTasks({ state: 'running' }))).toEqual(['task-b', 'task-c']);
        expect(ids(await store.listTasks({ state: 'completed' }))).toEqual(['task-d', 'task-e']);
        expect(ids(await store.listTasks({ state: 'cancelled' }))).toEqual([]);
      });

      it('filters by slot, matching the id exactly', async () => {
        const store = await fresh();
        await seed(store);
        expect(ids(await store.listTasks({ slotId: 'slot-1' }))).toEqual(['task-c', 'task-e']);
        expect(ids(await store.listTasks({ slotId: 'slot-10' }))).toEqual(['task-f']);
        expect(ids(await store.listTasks({ slotId: 'slot-9' }))).toEqual([]);
      });

      it('filters by tags: a task matches when any of its tags is asked for, and is listed once', async () => {
        const store = await fresh();
        await seed(store);
        expect(ids(await store.listTasks({ tags: ['x'] }))).toEqual(['task-a', 'task-d', 'task-e']);
        expect(ids(await store.listTasks({ tags: ['z'] }))).toEqual(['task-d', 'task-f']);
        expect(ids(await store.listTasks({ tags: ['x', 'y'] }))).toEqual([
          'task-a',
          'task-c',
          'task-d',
          'task-e',
          'task-f',
        ]);
        expect(ids(await store.listTasks({ tags: ['x', 'x', 'z'] }))).toEqual(['task-a', 'task-d', 'task-e', 'task-f']);
        expect(ids(await store.listTasks({ tags: ['nope'] }))).toEqual([]);
      });

      it('matches tags exactly (case and substrings count)', async () => {
        const store = await fresh();
        await store.putTask(taskRecord('task-1', { tags: ['Deploy', 'build-fast'] }));
        expect(await store.listTasks({ tags: ['deploy'] })).toEqual([]);
        expect(await store.listTasks({ tags: ['build'] })).toEqual([]);
        expect(await store.listTasks({ tags: ['%'] })).toEqual([]);
        expect(ids(await store.listTasks({ tags: ['Deploy'] }))).toEqual(['task-1']);
      });

      it('keeps a record with repeated tags as it was, and lists it once', async () => {
        const store = await fresh();
        const record = taskRecord('task-1', { tags: ['a', 'a', 'b'] });
        await store.putTask(record);
        expect(await store.getTask('task-1')).toEqual(record);
        expect(await store.listTasks({ tags: ['a', 'b'] })).toEqual([record]);
      });

      it('treats an empty tags filter, an empty filter and no filter as "everything"', async () => {
        const store = await fresh();
        await seed(store);
        const all = ids(await store.listTasks());
        expect(all).toHaveLength(6);
        expect(ids(await store.listTasks({}))).toEqual(all);
        expect(ids(await store.listTasks({ tags: [] }))).toEqual(all);
        expect(ids(await store.listTasks({ state: 'running', tags: [] }))).toEqual(['task-b', 'task-c']);
      });

      it('combines filters with AND', async () => {
        const store = await fresh();
        await seed(store);
        expect(ids(await store.listTasks({ state: 'completed', tags: ['x'] }))).toEqual(['task-d', 'task-e']);
        expect(ids(await store.listTasks({ state: 'completed', tags: ['z'] }))).toEqual(['task-d']);
        expect(ids(await store.listTasks({ state: 'running', slotId: 'slot-1' }))).toEqual(['task-c']);
        expect(ids(await store.listTasks({ slotId: 'slot-2', tags: ['x', 'y'] }))).toEqual(['task-d']);
        expect(ids(await store.listTasks({ state: 'failed', slotId: 'slot-10', tags: ['y'] }))).toEqual(['task-f']);
        expect(await store.listTasks({ state: 'failed', slotId: 'slot-10', tags: ['x'] })).toEqual([]);
        expect(await store.listTasks({ state: 'pending', slotId: 'slot-1' })).toEqual([]);
      });

      it('hands out copies: changing a returned or a stored-from record changes nothing inside', async () => {
        const store = await fresh();
        const original = fullTaskRecord('task-1');
        const input = fullTaskRecord('task-1');
        await store.putTask(input);
        // The caller's own object, changed after the put.
        input.state = 'failed';
        input.tags.push('mutated');
        input.result!.output = 'mutated';
        expect(await store.getTask('task-1')).toEqual(original);

        const got = (await store.getTask('task-1'))!;
        got.prompt = 'mutated';
        got.tags.length = 0;
        got.config!.allowedTools!.push('Everything');
        (got.result!.structuredOutput as { answer: string }).answer = 'mutated';
        expect(await store.getTask('task-1')).toEqual(original);

        const [listed] = await store.listTasks();
        listed.state = 'cancelled';
        listed.result!.permissionDenials!.length = 0;
        expect(await store.getTask('task-1')).toEqual(original);
        expect(ids(await store.listTasks({ state: 'completed' }))).toEqual(['task-1']);

        // Two reads are two different objects.
        expect(await store.getTask('task-1')).not.toBe(await store.getTask('task-1'));
      });
    });

    describe('slots', () => {
      it('puts, gets, overwrites and deletes a slot', async () => {
        const store = await fresh();
        expect(await store.getSlot('slot-0')).toBeUndefined();
        const idle = slotRecord('slot-0');
        await store.putSlot(idle);
        expect(await store.getSlot('slot-0')).toEqual(idle);

        const busy = slotRecord('slot-0', {
          state: 'busy',
          currentTask: 'task-1',
          sessionId: 'sess-9',
          sessionCostUsd: 0.0123,
          tasksCompleted: 4,
          costMicrodollars: 98_765,
          worktreePath: '/tmp/wt/slot-0',
        });
        await store.putSlot(busy);
        expect(await store.getSlot('slot-0')).toEqual(busy);
        expect(await store.listSlots()).toEqual([busy]);

        expect(await store.deleteSlot('slot-0')).toBe(true);
        expect(await store.deleteSlot('slot-0')).toBe(false);
        expect(await store.deleteSlot('slot-unknown')).toBe(false);
        expect(await store.getSlot('slot-0')).toBeUndefined();
        expect(await store.listSlots()).toEqual([]);
      });

      it('lists slots by their number: slot-2 before slot-10', async () => {
        const store = await fresh();
        for (const id of ['slot-10', 'slot-2', 'slot-1', 'slot-0', 'slot-11', 'slot-3']) {
          await store.putSlot(slotRecord(id));
        }
        expect(ids(await store.listSlots())).toEqual(['slot-0', 'slot-1', 'slot-2', 'slot-3', 'slot-10', 'slot-11']);
      });

      it('hands out slot copies', async () => {
        const store = await fresh();
        const original = slotRecord('slot-0');
        const input = slotRecord('slot-0');
        await store.putSlot(input);
        input.config.allowedTools!.push('Bash');
        input.state = 'errored';
        const got = (await store.getSlot('slot-0'))!;
        got.tasksCompleted = 99;
        const [listed] = await store.listSlots();
        listed.config.name = 'mutated';
        expect(await store.getSlot('slot-0')).toEqual(original);
      });

      it('keeps tasks and slots apart', async () => {
        const store = await fresh();
        await store.putSlot(slotRecord('slot-0'));
        await store.putTask(taskRecord('slot-0'));
        expect(await store.deleteTask('slot-0')).toBe(true);
        expect(await store.getSlot('slot-0')).toEqual(slotRecord('slot-0'));
      });
    });

    describe('meta and the process ledger (optional parts)', () => {
      it('adds to a meta value: a missing one counts as 0, an existing one grows', async () => {
        const store = await fresh();
        if (!store.incrementMeta || !store.getMeta || !store.putMeta) return;
        await store.incrementMeta('counter', 5);
        expect(await store.getMeta('counter')).toBe('5');
        await store.putMeta('counter', '100');
        await Promise.all([store.incrementMeta('counter', 7), store.incrementMeta('counter', -2)]);
        expect(await store.getMeta('counter')).toBe('105');
      });

      it('records agent processes and forgets them', async () => {
        const store = await fresh();
        if (!store.processes) return;
        const record = {
          pid: 4242,
          pgid: 4242,
          startTime: '7',
          host: 'h',
          ownerPid: 1,
          ownerStartTime: '3',
          startedAtMs: 9,
        };
        store.processes.recordSpawn(record);
        store.processes.recordSpawn({ ...record, host: 'other' });
        expect(store.processes.list()).toHaveLength(2);
        expect(store.processes.list()).toContainEqual(record);
        store.processes.recordExit(4242, 'h');
        expect(store.processes.list()).toEqual([{ ...record, host: 'other' }]);
      });
    });
  });
}
