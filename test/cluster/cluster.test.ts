/**
 * One pool over three node processes on a real Redis server: FIFO dispatch over every node, one budget ledger,
 * cancel and review from a node that does not hold the task, and a node killed with SIGKILL mid-run.
 */
import { QueueEvents } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../machines/types.js';
import { ClusterNode, type ClusterOptions } from '../../src/cluster/index.js';
import { simPool } from '../support/sim-pool.js';
import { NodeProcess } from '../support/cluster-nodes.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { redisAvailable } from '../support/redis.js';

const FINAL = ['completed', 'failed', 'cancelled'];

describe.skipIf(!redisAvailable())('a cluster of pools on BullMQ and Redis', () => {
  const suite = clusterSuite();
  const nodes = suite.processes;
  const clients = suite.members;

  /** Three node processes with `slots` slots each. */
  async function startNodes(queue: string, slots: number, policy: 'fail' | 'requeue' = 'fail'): Promise<NodeProcess[]> {
    const started = await Promise.all(
      ['n0', 'n1', 'n2'].map((nodeId) => NodeProcess.start({ redis: suite.server.url, queue, nodeId, slots, policy })),
    );
    nodes.push(...started);
    return started;
  }

  /** A node in this process that takes no jobs: it submits and observes. */
  async function client(queue: string, options: Partial<ClusterOptions> = {}): Promise<ClusterNode> {
    const pool = await simPool();
    const node = await ClusterNode.join(pool, {
      redis: suite.server.url,
      queue,
      nodeId: 'client',
      work: false,
      ...options,
    });
    clients.push(node);
    return node;
  }

  it(
    'runs 60 tasks submitted on different nodes over every node, in FIFO start order',
    { timeout: 120_000 },
    async () => {
      const watcher = await client('fifo');
      const started = await startNodes('fifo', 2);
      const submitters = [
        (prompt: string) => watcher.submit(prompt),
        ...started.map((node) => (prompt: string) => node.call<string>('submit', prompt, {})),
      ];
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) ids.push(await submitters[i % submitters.length]!(`task ${i} [[sim:delay 30]]`));
      const finals = await Promise.all(ids.map((id) => watcher.waitForFinal(id)));
      expect(finals.map((record) => record.state)).toEqual(ids.map(() => 'completed'));
      expect((await watcher.result(ids[59]!))?.success).toBe(true);

      const owners = await Promise.all(ids.map((id) => watcher.nodeOf(id)));
      for (const nodeId of ['n0', 'n1', 'n2'])
        expect(owners.filter((owner) => owner === nodeId).length).toBeGreaterThan(0);
      expect(finals.every((record) => record.slotId?.startsWith(`${owners[finals.indexOf(record)]}/slot-`))).toBe(true);

      // Jobs leave the queue in submission order; at most the 6 slots taking jobs at once can swap places.
      const order = await suite.redis.hmget('claude-pool:fifo:start-order', ...ids);
      const ranks = order.map(Number);
      const sorted = [...ranks].sort((a, b) => a - b);
      ranks.forEach((rank, i) => expect(Math.abs(sorted.indexOf(rank) - i)).toBeLessThan(6));

      const status = await started[1]!.call<{ nodes: { nodeId: string; slots: unknown[] }[] }>('status');
      expect(status.nodes.map((node) => [node.nodeId, node.slots.length])).toEqual([
        ['client', 0],
        ['n0', 2],
        ['n1', 2],
        ['n2', 2],
      ]);
      expect((await watcher.listTasks({ state: 'completed' })).length).toBe(60);
    },
  );

  it('keeps one budget that concurrent submits from every node never overshoot', { timeout: 120_000 }, async () => {
    const limit = 300_000;
    const watcher = await client('budget', { budgetMicrodollars: limit });
    const started = await startNodes('budget', 2);
    const submitted = await Promise.allSettled(
      started.flatMap((node) =>
        Array.from({ length: 10 }, (_, i) =>
          node.call<string>('submit', `spend ${i} [[sim:cost 0.04]] [[sim:delay 20]]`, {}),
        ),
      ),
    );
    const ids = submitted.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    for (const outcome of submitted) {
      if (outcome.status === 'rejected') expect((outcome.reason as { code: string }).code).toBe('budget_exhausted');
    }
    const finals = await Promise.all(ids.map((id) => watcher.waitForFinal(id)));
    const completed = finals.filter((record) => record.state === 'completed');
    const refused = finals.filter((record) => record.state !== 'completed');
    expect(completed.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const record of refused) expect(record.result?.failure?.kind).toBe('budget_exhausted');
    const { budget } = await watcher.status();
    expect(budget.spentMicrodollars).toBeLessThanOrEqual(limit);
    expect(budget.spentMicrodollars).toBe(
      completed.reduce((sum, record) => sum + (record.result?.costMicrodollars ?? 0), 0),
    );
    expect(budget.reservations).toEqual({});
  });

  it('cancels and reviews tasks from a node that does not run them', { timeout: 120_000 }, async () => {
    const watcher = await client('control');
    const started = await startNodes('control', 1);
    const byId = new Map(started.map((node) => [node.nodeId, node]));
    const hangs = await Promise.all([0, 1, 2].map((i) => watcher.submit(`hang ${i} [[sim:hang]]`)));
    await Promise.all(hangs.map((id) => watcher.waitFor(id, (record) => record.state === 'running')));

    // Every slot is busy: this one waits in the queue, and is cancelled there.
    const queued = await watcher.submit('never runs');
    await started[0]!.call('cancel', queued);
    expect((await watcher.task(queued)).state).toBe('cancelled');
    expect(await watcher.nodeOf(queued)).toBeUndefined();

    // A running task is cancelled by another node: its own node kills the run.
    const owner = (await watcher.nodeOf(hangs[0]!))!;
    const other = started.find((node) => node.nodeId !== owner)!;
    await other.call('cancel', hangs[0]);
    expect((await watcher.task(hangs[0]!)).state).toBe('cancelled');
    await Promise.all(hangs.slice(1).map((id) => watcher.cancel(id)));

    const reviewed = await watcher.submit('review me [[sim:delay 10]]', { review: { maxRejections: 3 } });
    await watcher.waitFor(reviewed, (record) => record.state === 'pending_review');
    const reviewOwner = (await watcher.nodeOf(reviewed))!;
    const reviewer = started.find((node) => node.nodeId !== reviewOwner)!;
    await reviewer.call('reject', reviewed, 'again, shorter');
    const again = await watcher.waitFor(
      reviewed,
      (record) => record.state === 'pending_review' && record.rejectionCount === 1,
    );
    expect(again.prompt).toContain('again, shorter');
    expect(await watcher.nodeOf(reviewed)).toBe(reviewOwner);
    await reviewer.call('approve', reviewed);
    expect((await watcher.task(reviewed)).state).toBe('completed');
    expect(byId.get(reviewOwner)).toBeDefined();
  });

  it(
    'shares context with every node and carries messages between slots of different nodes',
    { timeout: 60_000 },
    async () => {
      const watcher = await client('share');
      await startNodes('share', 1);
      await watcher.setContext('release', 'v9-context-marker');
      const ids = await Promise.all(
        [0, 1, 2].map((i) => watcher.submit(`show ${i} [[sim:delay 100]] [[sim:echo-system]]`)),
      );
      const finals = await Promise.all(ids.map((id) => watcher.waitForFinal(id)));
      expect(new Set(await Promise.all(ids.map((id) => watcher.nodeOf(id)))).size).toBeGreaterThan(1);
      for (const record of finals) expect(record.result?.output).toContain('v9-context-marker');

      const id = await watcher.sendMessage('n0/slot-0', 'n1/slot-0', 'hello from n0');
      expect(await watcher.peekMessages('n1/slot-0')).toMatchObject([
        { id, from: 'n0/slot-0', content: 'hello from n0' },
      ]);
      expect(await watcher.readMessages('n1/slot-0')).toHaveLength(1);
      expect(await watcher.peekMessages('n1/slot-0')).toEqual([]);
      expect(await watcher.broadcastMessage('n2/slot-0', 'to all')).toHaveLength(2);
      expect((await watcher.readMessages('n0/slot-0')).map((message) => message.from)).toEqual(['n2/slot-0']);
      await expect(watcher.sendMessage('n0/slot-0', 'n9/slot-0', 'nobody')).rejects.toMatchObject({
        code: 'slot_not_found',
      });
    },
  );

  it(
    'runs a chain whose steps go to any node, cancels one from another node, and fails one whose node dies',
    { timeout: 90_000 },
    async () => {
      const watcher = await client('chains');
      const started = await startNodes('chains', 1);
      const steps = [
        { name: 'one', action: { type: 'prompt', prompt: 'one [[sim:delay 200]] [[sim:text alpha]]' } },
        { name: 'two', action: { type: 'prompt', prompt: 'two got {previous_output} [[sim:text beta]]' } },
        { name: 'three', action: { type: 'prompt', prompt: 'three got {previous_output} [[sim:text gamma]]' } },
      ];
      const chainId = await started[0]!.call<string>('submitChain', steps, {});
      const result = await watcher.waitForChain(chainId);
      expect(result.success).toBe(true);
      expect(result.steps.map((step) => step.output)).toEqual(['alpha', 'beta', 'gamma']);
      const stepRecords = await watcher.listTasks({ tags: [chainId] });
      expect(stepRecords.map((record) => record.prompt)).toEqual([
        steps[0]!.action.prompt,
        'two got alpha [[sim:text beta]]',
        'three got beta [[sim:text gamma]]',
      ]);
      expect(await watcher.nodeOf(chainId)).toBe('n0');

      const hanging = [
        { name: 'wait', action: { type: 'prompt', prompt: 'wait [[sim:hang]]' } },
        { name: 'never', action: { type: 'prompt', prompt: 'never runs' } },
      ];
      const cancelled = await started[0]!.call<string>('submitChain', hanging, {});
      const [firstStep] = await new Promise<TaskRecord[]>((resolve) => {
        const sub = watcher.events$.subscribe(() => {
          void watcher.listTasks({ tags: [cancelled], state: 'running' }).then((running) => {
            if (running.length === 0) return;
            sub.unsubscribe();
            resolve(running);
          });
        });
      });
      await started[1]!.call('cancelChain', cancelled, { immediate: true });
      expect((await watcher.task(cancelled)).state).toBe('cancelled');
      expect((await watcher.task(firstStep!.id)).state).toBe('cancelled');
      expect((await watcher.listTasks({ tags: [cancelled] })).map((record) => record.state)).toEqual(['cancelled']);

      const orphaned = await started[2]!.call<string>('submitChain', hanging, {});
      await started[2]!.kill();
      const interrupted = await watcher.waitForFinal(orphaned);
      expect(interrupted.state).toBe('failed');
      expect(interrupted.result?.failure?.kind).toBe('interrupted');
      // Its result says why, and any node sees its progress ended.
      const orphanResult = await watcher.waitForChain(orphaned);
      expect(orphanResult.success).toBe(false);
      expect(orphanResult.finalOutput).toMatch(/node n2 stopped while it was running/);
      expect((await watcher.chainProgressOf(orphaned)).status).toBe('failed');
      // Its step goes with it, wherever it was.
      for (const step of await watcher.listTasks({ tags: [orphaned] })) {
        expect(['cancelled', 'failed']).toContain((await watcher.waitForFinal(step.id)).state);
      }
    },
  );

  it(
    'cancels a job waiting for budget at once, and gives one back to the queue when its node leaves',
    { timeout: 60_000 },
    async () => {
      // Room for one capped task at a time: the second waits for the first to settle.
      const watcher = await client('leave', { budgetMicrodollars: 100_000 });
      const pair = await Promise.all(
        ['n0', 'n1'].map((nodeId) => NodeProcess.start({ redis: suite.server.url, queue: 'leave', nodeId, slots: 1 })),
      );
      nodes.push(...pair);
      const events = new QueueEvents('leave', { connection: { host: '127.0.0.1', port: suite.server.port } });
      await events.waitUntilReady();
      try {
        const config = { maxBudgetUsd: 0.06 };
        const first = await watcher.submit('first [[sim:delay 4000]] [[sim:cost 0.01]]', { config });
        await watcher.waitFor(first, (record) => record.state === 'running');
        const runner = (await watcher.nodeOf(first))!;
        const active = new Set<string>();
        let onActive = () => {};
        events.on('active', ({ jobId }) => {
          active.add(jobId);
          onActive();
        });
        const taken = (id: string) =>
          new Promise<void>((resolve) => {
            onActive = () => active.has(id) && resolve();
            onActive();
          });
        // Taken by the idle node, which waits for budget: a cancel ends it there, without a run.
        const doomed = await watcher.submit('doomed [[sim:cost 0.01]]', { config });
        await taken(doomed);
        await watcher.cancel(doomed);
        expect((await watcher.task(doomed)).state).toBe('cancelled');
        expect((await watcher.task(first)).state).toBe('running');

        const second = await watcher.submit('second [[sim:cost 0.01]]', { config });
        await taken(second);
        expect((await watcher.task(second)).state).toBe('pending');

        const waiting = pair.find((node) => node.nodeId !== runner)!;
        await waiting.call('leave');
        expect((await watcher.task(first)).state).toBe('running');
        const done = await watcher.waitForFinal(second);
        expect(done.state).toBe('completed');
        expect(await watcher.nodeOf(second)).toBe(runner);
        expect((await watcher.task(first)).state).toBe('completed');
        expect((await watcher.task(doomed)).startedAtMs).toBeUndefined();
        expect((await watcher.status()).budget.spentMicrodollars).toBe(20_000);
      } finally {
        await events.close();
      }
    },
  );

  for (const policy of ['fail', 'requeue'] as const) {
    it(
      `hands the running tasks of a SIGKILLed node to the ${policy} policy, once, and loses no queued task`,
      { timeout: 120_000 },
      async () => {
        const queue = `kill-${policy}`;
        const watcher = await client(queue);
        const events: { record: TaskRecord; atMs: number }[] = [];
        const subscription = watcher.events$.subscribe((record) => events.push({ record, atMs: Date.now() }));
        const started = await startNodes(queue, 2, policy);
        const ids: string[] = [];
        for (let i = 0; i < 12; i++) ids.push(await watcher.submit(`work ${i} [[sim:delay 2000]]`));
        await Promise.all(ids.slice(0, 6).map((id) => watcher.waitFor(id, (record) => record.state !== 'pending')));

        const victim = started[0]!;
        const onVictim = (
          await Promise.all(ids.map(async (id) => ((await watcher.nodeOf(id)) === victim.nodeId ? [id] : [])))
        ).flat();
        expect(onVictim.length).toBe(2);
        await victim.kill();
        const killedAtMs = Date.now();

        const finals = await Promise.all(ids.map((id) => watcher.waitForFinal(id)));
        subscription.unsubscribe();
        const runningOn = (id: string) =>
          events.filter((event) => event.record.id === id && event.record.state === 'running' && event.record.slotId);
        const nodesOf = (id: string) => [...new Set(runningOn(id).map((event) => event.record.slotId!.split('/')[0]))];

        for (const [i, record] of finals.entries()) {
          const id = ids[i]!;
          if (!onVictim.includes(id)) {
            expect(record.state).toBe('completed');
            expect(nodesOf(id)).toHaveLength(1);
            continue;
          }
          // Handled once: exactly one change out of the interrupted run (to failed, or back to pending).
          const states = events.filter((event) => event.record.id === id).map((event) => event.record.state);
          const interruptions = states.filter(
            (state, k) => k > 0 && states[k - 1] === 'running' && (state === 'failed' || state === 'pending'),
          );
          expect(interruptions).toEqual([policy === 'fail' ? 'failed' : 'pending']);
          if (policy === 'fail') {
            expect(record.state).toBe('failed');
            expect(record.result?.failure?.kind).toBe('interrupted');
            expect(nodesOf(id)).toEqual([victim.nodeId]);
          } else {
            expect(record.state).toBe('completed');
            const [first, second] = nodesOf(id);
            expect(first).toBe(victim.nodeId);
            expect(second).not.toBe(victim.nodeId);
            // The second run started only after the first node was gone.
            const rerun = runningOn(id).find((event) => !event.record.slotId!.startsWith(`${victim.nodeId}/`))!;
            expect(rerun.atMs).toBeGreaterThanOrEqual(killedAtMs);
          }
        }
        expect(finals.filter((record) => FINAL.includes(record.state))).toHaveLength(12);
        expect((await watcher.status()).nodes.map((node) => node.nodeId)).not.toContain(victim.nodeId);
      },
    );
  }
});
