/**
 * What a node that died at the worst moment leaves in Redis, and how the cluster picks it up, on a real Redis
 * server: a submitter that died between adding a task's job and writing its record; a node that died after it
 * started a run but before its `running` record reached Redis; a node that recorded a run's end but died before
 * it settled the run's reservation (the state each leaves is written as it would be; a run's start is also
 * checked with a real node process killed with SIGKILL); a node whose heartbeat was late.
 */
import { Queue, QueueEvents } from 'bullmq';
import { concatMap, filter, firstValueFrom, interval } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../machines/types.js';
import { ClusterNode, type ClusterOptions } from '../../src/cluster/index.js';
import { clusterKeys } from '../../src/cluster/keys.js';
import { ClusterRecords } from '../../src/cluster/records.js';
import { newTaskRecord } from '../../src/pool/new-records.js';
import { NodeProcess } from '../support/cluster-nodes.js';
import { simPool } from '../support/sim-pool.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { redisAvailable } from '../support/redis.js';

const FINAL = ['completed', 'failed', 'cancelled'];

describe.skipIf(!redisAvailable())('a cluster picking up after a node that died', () => {
  const suite = clusterSuite();
  const joined = suite.members;
  const processes = suite.processes;
  const queues: Queue[] = [];

  afterEach(async () => {
    await Promise.all(queues.splice(0).map((queue) => queue.close()));
  });

  /** A node of one slot in this process; `work: false` for one that only submits and observes. */
  async function join(queue: string, nodeId: string, options: Partial<ClusterOptions> = {}): Promise<ClusterNode> {
    const pool = await simPool((builder) => builder.slots(1));
    const node = await ClusterNode.join(pool, {
      redis: suite.server.url,
      queue,
      nodeId,
      heartbeatMs: 1000,
      ...options,
    });
    joined.push(node);
    return node;
  }

  /** What a submitter that died right after adding the job leaves: the job, and no record. */
  async function addJobAlone(queue: string, prompt: string): Promise<TaskRecord> {
    const bull = new Queue(queue, { connection: { host: '127.0.0.1', port: suite.server.port } });
    queues.push(bull);
    const record = newTaskRecord(prompt, {});
    await bull.add('task', { record }, { jobId: record.id, removeOnComplete: true, removeOnFail: true });
    expect(await suite.redis.hexists(clusterKeys(queue).tasks, record.id)).toBe(0);
    return record;
  }

  /** The first record of `id` that satisfies `predicate`, among the changes `node` sees from now on. */
  function changeOf(node: ClusterNode, id: string, predicate: (record: TaskRecord) => boolean): Promise<TaskRecord> {
    return firstValueFrom(node.events$.pipe(filter((record) => record.id === id && predicate(record))));
  }

  it('runs a job whose submitter died before writing its record, and writes the record from the job', async () => {
    const watcher = await join('orphan', 'watcher', { work: false });
    const seen: TaskRecord[] = [];
    const subscription = watcher.events$.subscribe((record) => seen.push(record));
    const orphan = await addJobAlone('orphan', 'left behind [[sim:text survived]] [[sim:cost 0.01]]');
    expect(await watcher.listTasks()).toEqual([]);

    // Nobody asks about it: the node that takes the job writes its record, then runs it.
    const ended = changeOf(watcher, orphan.id, (record) => FINAL.includes(record.state));
    await join('orphan', 'w0');
    const final = await ended;
    subscription.unsubscribe();
    expect(final.state).toBe('completed');
    expect(final.result?.output).toBe('survived');
    expect(final.slotId).toBe('w0/slot-0');
    const states = seen.filter((record) => record.id === orphan.id).map((record) => record.state);
    expect(states[0]).toBe('pending');
    expect(states.filter((state) => state === 'running').length).toBeGreaterThan(0);
    expect(seen.find((record) => record.id === orphan.id)).toMatchObject({
      prompt: orphan.prompt,
      createdAtMs: orphan.createdAtMs,
    });
    expect(await watcher.task(orphan.id)).toMatchObject({ state: 'completed', prompt: orphan.prompt });
    expect((await watcher.listTasks()).map((record) => record.id)).toEqual([orphan.id]);
    expect((await watcher.status()).budget.spentMicrodollars).toBe(10_000);

    // A submitter that was only slow writes its record late: a record already there, even finished, stays.
    const records = new ClusterRecords(suite.redis, clusterKeys('orphan'));
    expect(await records.create(orphan)).toBe(false);
    expect((await watcher.task(orphan.id)).state).toBe('completed');
  });

  it('answers, waits on and cancels a queued task whose record was never written', async () => {
    const watcher = await join('adopt', 'watcher', { work: false });
    const waited = await addJobAlone('adopt', 'waited for [[sim:text done]]');
    const cancelled = await addJobAlone('adopt', 'cancelled before it ran');

    // Asked about by id, a node writes the record the job carries.
    const final = watcher.waitForFinal(waited.id);
    expect(await watcher.task(waited.id)).toMatchObject({ state: 'pending', prompt: waited.prompt });
    expect((await watcher.listTasks()).map((record) => record.id)).toEqual([waited.id]);
    expect((await watcher.status()).waiting).toBe(2);

    // A cancel is not lost: the job leaves the queue and the record ends cancelled.
    await watcher.cancel(cancelled.id);
    expect(await watcher.task(cancelled.id)).toMatchObject({ state: 'cancelled', prompt: cancelled.prompt });
    expect(await suite.redis.exists(`bull:adopt:${cancelled.id}`)).toBe(0);
    expect((await watcher.status()).waiting).toBe(1);

    await join('adopt', 'w0');
    expect(await final).toMatchObject({ state: 'completed', result: { output: 'done' } });
    expect((await watcher.task(cancelled.id)).startedAtMs).toBeUndefined();
    await expect(watcher.task('task-unknown')).rejects.toMatchObject({ code: 'task_not_found' });
  });

  for (const policy of ['fail', 'requeue'] as const) {
    it(`applies the ${policy} policy, once, to a run a dead node had started before Redis knew`, async () => {
      const queue = `started-${policy}`;
      const keys = clusterKeys(queue);
      const watcher = await join(queue, 'watcher', { work: false });
      const started = await watcher.submit('started [[sim:cost 0.01]]');
      const taken = await watcher.submit('taken, not started [[sim:cost 0.01]]');
      const settled = await watcher.submit('ended, not settled', { review: { maxRejections: 1 } });

      // What node `gone` left when it was killed: it had claimed all three and reserved for two; it had marked
      // `started` and handed it to its pool, but its `running` record never reached Redis; `taken` waited for
      // budget; `settled` had ended in review (its record says what it cost) but its reservation was never settled. Its
      // heartbeat has expired, and BullMQ has put the three jobs back in the queue.
      const records = new ClusterRecords(suite.redis, keys);
      const ended = await watcher.task(settled);
      const result = { output: 'done', success: true, costMicrodollars: 25_000, turnsUsed: 1, elapsedMs: 5 };
      await records.put({ ...ended, state: 'pending_review', completedAtMs: Date.now(), result }, ['pending']);
      await suite.redis
        .multi()
        .hset(keys.owners, started, 'gone', taken, 'gone', settled, 'gone')
        .hset(keys.started, started, 'gone')
        .hset(keys.reservations, started, 70_000, settled, 40_000)
        .sadd(keys.nodes, 'gone')
        .exec();

      const seen: TaskRecord[] = [];
      const subscription = watcher.events$.subscribe((record) => seen.push(record));
      const events = new QueueEvents(queue, { connection: { host: '127.0.0.1', port: suite.server.port } });
      await events.waitUntilReady();
      const completed = new Set<string>();
      const jobsDone = new Promise<void>((resolve) =>
        events.on('completed', ({ jobId }) => {
          completed.add(jobId);
          if (completed.size === 3) resolve();
        }),
      );
      const worker = await join(queue, 'w0', { interruptedRuns: policy });
      const [startedFinal, takenFinal] = await Promise.all([
        watcher.waitForFinal(started),
        watcher.waitForFinal(taken),
      ]);
      await jobsDone;
      await events.close();
      await worker.leave();
      subscription.unsubscribe();
      const statesOf = (id: string) => seen.filter((record) => record.id === id).map((record) => record.state);
      const runsOf = (id: string) => [
        ...new Set(
          seen
            .filter((record) => record.id === id && record.state === 'running')
            .map((record) => `${record.slotId} at ${record.startedAtMs}`),
        ),
      ];

      // Not started: it runs, once, as any queued task.
      expect(takenFinal.state).toBe('completed');
      expect(runsOf(taken)).toHaveLength(1);
      expect(statesOf(taken)).not.toContain('failed');
      if (policy === 'fail') {
        expect(startedFinal.state).toBe('failed');
        expect(startedFinal.result?.failure?.kind).toBe('interrupted');
        expect(startedFinal.result?.output).toContain('node gone');
        expect(statesOf(started)).toEqual(['failed']);
      } else {
        // Run again, once, here.
        expect(startedFinal.state).toBe('completed');
        expect(startedFinal.slotId).toBe('w0/slot-0');
        expect(runsOf(started)).toHaveLength(1);
        expect(statesOf(started)).not.toContain('failed');
      }
      // The ended run stays the dead node's: its review changes the record alone.
      expect(await watcher.nodeOf(settled)).toBe('gone');
      await watcher.approveResult(settled);
      expect(await watcher.task(settled)).toMatchObject({ state: 'completed', result: { costMicrodollars: 25_000 } });
      expect(await suite.redis.hlen(keys.started)).toBe(0);
      expect(await suite.redis.hget(keys.owners, taken)).toBe('w0');

      // The dead run's reservation is booked in full, once; the ended run's recorded cost, not its reservation.
      const { budget } = await watcher.status();
      expect(budget.reservations).toEqual({});
      const reruns = policy === 'requeue' ? 10_000 : 0;
      expect(budget.spentMicrodollars).toBe(70_000 + 10_000 + 25_000 + reruns);
      expect((await watcher.status()).nodes.map((node) => node.nodeId)).toEqual(['watcher']);
    });
  }

  it('ends a task no job carries once its node is gone: a cancel cut short, a rerun cut short', async () => {
    const keys = clusterKeys('no-job');
    const records = new ClusterRecords(suite.redis, keys);
    const watcher = await join('no-job', 'watcher', { work: false });
    // A cancel whose node died after it removed the queued job, before it recorded the cancel.
    const cut = { ...newTaskRecord('cancelled halfway', {}), state: 'pending' as const };
    await records.create(cut);
    await suite.redis.sadd(keys.cancelled, cut.id);
    expect((await watcher.waitForFinal(cut.id)).state).toBe('cancelled');

    // A rejected task running again (outside any job) on a node that died: `dead` has no heartbeat key.
    const rerun = (): TaskRecord => ({
      ...newTaskRecord('second attempt', {}),
      state: 'running',
      slotId: 'dead/slot-0',
      startedAtMs: Date.now(),
      rejectionCount: 1,
    });
    const failing = rerun();
    await records.create(failing);
    await suite.redis.hset(keys.owners, failing.id, 'dead');
    await suite.redis.hset(keys.reservations, failing.id, 20_000);
    const failed = await watcher.waitForFinal(failing.id);
    expect(failed.state).toBe('failed');
    expect(failed.result?.failure?.kind).toBe('interrupted');
    expect(failed.result?.output).toMatch(/node dead stopped/);
    // Its reservation was booked, as for any run that died with its node.
    expect((await watcher.status()).budget).toMatchObject({ spentMicrodollars: 20_000, reservedMicrodollars: 0 });

    // Under `requeue` it runs again, as a new job, on a node that takes it.
    const requeuing = await join('no-job', 'w0', { interruptedRuns: 'requeue' });
    const again = { ...rerun(), prompt: 'second attempt [[sim:text third time lucky]]' };
    await records.create(again);
    await suite.redis.hset(keys.owners, again.id, 'dead');
    const final = await requeuing.waitForFinal(again.id);
    expect(final).toMatchObject({ state: 'completed', slotId: 'w0/slot-0', result: { output: 'third time lucky' } });
  });

  it('lists a node whose heartbeat was late again at its next beat', async () => {
    const keys = clusterKeys('late');
    const watcher = await join('late', 'watcher', { work: false });
    await join('late', 'w0');
    // w0's heartbeat expired (an overloaded host): the next look at the members drops it.
    await suite.redis.del(keys.node('w0'));
    expect((await watcher.status()).nodes.map((node) => node.nodeId)).toEqual(['watcher']);
    expect(await suite.redis.sismember(keys.nodes, 'w0')).toBe(0);
    // Its next beat (one a second here) lists it again.
    const back = await firstValueFrom(
      interval(100).pipe(
        concatMap(() => watcher.status()),
        filter((status) => status.nodes.some((node) => node.nodeId === 'w0')),
      ),
    );
    expect(back.nodes.map((node) => node.nodeId)).toEqual(['w0', 'watcher']);
  });

  for (const policy of ['fail', 'requeue'] as const) {
    it(
      `hands a run whose SIGKILLed node never got its running record to Redis to the ${policy} policy`,
      { timeout: 60_000 },
      async () => {
        const queue = `killed-${policy}`;
        const keys = clusterKeys(queue);
        const watcher = await join(queue, 'watcher', { work: false });
        const start = (nodeId: string) =>
          NodeProcess.start({ redis: suite.server.url, queue, nodeId, slots: 1, policy }).then((node) => {
            processes.push(node);
            return node;
          });
        const victim = await start('victim');
        const id = await watcher.submit('hangs [[sim:hang]]');
        const running = await watcher.waitFor(id, (record) => record.state === 'running');
        expect(await suite.redis.hget(keys.started, id)).toBe('victim');
        await victim.kill();
        // The record as it was before the victim's `running` write, as if that write had never reached Redis.
        const { slotId: _slot, startedAtMs: _started, ...pending } = running;
        await suite.redis.hset(keys.tasks, id, JSON.stringify({ ...pending, state: 'pending' }));

        const seen: TaskRecord[] = [];
        const subscription = watcher.events$.subscribe((record) => seen.push(record));
        const events = new QueueEvents(queue, { connection: { host: '127.0.0.1', port: suite.server.port } });
        await events.waitUntilReady();
        const jobDone = new Promise<void>((resolve) =>
          events.on('completed', ({ jobId }) => jobId === id && resolve()),
        );
        // BullMQ finds the victim's lock expired and hands the job to the survivor.
        await start('survivor');
        if (policy === 'fail') {
          const final = await watcher.waitForFinal(id);
          expect(final.state).toBe('failed');
          expect(final.result?.failure?.kind).toBe('interrupted');
          expect(final.result?.output).toContain('node victim');
          expect(seen.filter((record) => record.id === id).map((record) => record.state)).toEqual(['failed']);
        } else {
          const rerun = await watcher.waitFor(id, (record) => record.state === 'running');
          expect(rerun.slotId).toBe('survivor/slot-0');
          await watcher.cancel(id);
          expect((await watcher.task(id)).state).toBe('cancelled');
          const states = seen.filter((record) => record.id === id).map((record) => record.state);
          expect(states).not.toContain('failed');
          expect(states.filter((state) => state === 'running').length).toBeGreaterThan(0);
        }
        subscription.unsubscribe();
        await jobDone;
        await events.close();
        expect(await suite.redis.hlen(keys.started)).toBe(0);
        expect((await watcher.status()).nodes.map((node) => node.nodeId)).toEqual(['survivor', 'watcher']);
      },
    );
  }
});
