/**
 * A task's streamed text across the cluster, on a real Redis server: node processes run the tasks and forward
 * their chunks; a node in this process that takes no jobs reads them (`output$`, the cluster task front's
 * `onOutput`, a cluster chain's current-step output).
 */
import { whenReady } from '../../src/cluster/connection.js';
import { Redis } from 'ioredis';
import { filter, firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import type { ChainProgress } from '../../machines/types.js';
import { ClusterNode, clusterTaskFront } from '../../src/cluster/index.js';
import { clusterKeys } from '../../src/cluster/keys.js';
import { appendOutputChunk, SharedChannels, TaskOutputReader } from '../../src/cluster/output.js';
import { TaskNotFound } from '../../src/errors.js';
import { callOk, startServer } from '../mcp/support.js';
import { NodeProcess } from '../support/cluster-nodes.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { redisAvailable } from '../support/redis.js';
import { eventually, simPool } from '../support/sim-pool.js';

/** Text with 1-, 2-, 3- and 4-byte UTF-8 characters (and emoji the simulated agent must not split). */
const MIXED = 'héllo 世界, naïve café — 🎉 done 👩‍👩‍👧 ok ✅ 東京タワー 🚀🚀🚀 end';

describe.skipIf(!redisAvailable())("a task's streamed text across the cluster", () => {
  const suite = clusterSuite();
  const nodes = suite.processes;
  const clients = suite.members;

  async function startNode(queue: string): Promise<NodeProcess> {
    const node = await NodeProcess.start({ redis: suite.server.url, queue, nodeId: 'runner', slots: 2 });
    nodes.push(node);
    return node;
  }

  /** A node in this process that takes no jobs: every task runs on the node process. */
  async function client(queue: string): Promise<ClusterNode> {
    const pool = await simPool();
    const node = await ClusterNode.join(pool, { redis: suite.server.url, queue, nodeId: 'client', work: false });
    clients.push(node);
    return node;
  }

  function subscribers(queue: string, taskId: string): Promise<number> {
    return suite.redis
      .pubsub('NUMSUB', `claude-pool:${queue}:output-stream:${taskId}`)
      .then((reply) => Number((reply as [string, number])[1]));
  }

  it(
    "streams a task run on another node to a reader in several chunks, in order, equal to the result's output",
    { timeout: 60_000 },
    async () => {
      const reader = await client('chunks');
      await startNode('chunks');
      const text = 'The quick brown fox jumps over the lazy dog, again and again, in twelve pieces.';
      const id = await reader.submit(`[[sim:delay 300]] [[sim:text ${JSON.stringify(text)}]] [[sim:chunks 12]]`);
      const chunks = await lastValueFrom(reader.output$(id).pipe(toArray()));
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.join('')).toBe(text);
      const final = await reader.waitForFinal(id);
      expect(final.state).toBe('completed');
      expect(final.result?.output).toBe(text);
      // Once the run has ended, a new reader gets the whole text at once, and completes.
      expect(await lastValueFrom(reader.output$(id).pipe(toArray()))).toEqual([text]);
      // The run's key lives on briefly (the result has the text); nobody listens to the channel any more.
      const ttl = await suite.redis.ttl(`claude-pool:chunks:output:${id}:0`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
      await eventually(async () => (await subscribers('chunks', id)) === 0);
    },
  );

  it('gives a reader that joins mid-stream the whole multi-byte text exactly once', { timeout: 60_000 }, async () => {
    const reader = await client('midstream');
    await startNode('midstream');
    const id = await reader.submit(
      `[[sim:text ${JSON.stringify(MIXED)}]] [[sim:chunks 16]] [[sim:chunk-delay 60]] [[sim:delay 200]]`,
    );
    const early: string[] = [];
    const earlyDone = lastValueFrom(reader.output$(id).pipe(toArray())).then((chunks) => early.push(...chunks));
    // Joins once some text has streamed (the first chunk seen by the early reader), sharing its channel.
    const firstSeen = await firstValueFrom(reader.output$(id));
    expect(MIXED.startsWith(firstSeen)).toBe(true);
    const late = await lastValueFrom(reader.output$(id).pipe(toArray()));
    await earlyDone;
    expect(early.join('')).toBe(MIXED);
    expect(late.join('')).toBe(MIXED);
    // The late reader caught up in one chunk holding at least what had streamed when it joined.
    expect(late[0]!.length).toBeGreaterThanOrEqual(firstSeen.length);
    expect(late.length).toBeLessThan(17);
    const final = await reader.waitForFinal(id);
    expect(final.result?.output).toBe(MIXED);
  });

  it(
    'shares one channel subscription between the readers of a task, and drops it when the last one goes',
    { timeout: 60_000 },
    async () => {
      const reader = await client('shared');
      await startNode('shared');
      const text = 'one subscription, two readers, eight pieces of text';
      const id = await reader.submit(
        `[[sim:text ${JSON.stringify(text)}]] [[sim:chunks 8]] [[sim:chunk-delay 80]] [[sim:delay 300]]`,
      );
      const subscribeCalls = async () =>
        Number(/cmdstat_subscribe:calls=(\d+)/.exec(await suite.redis.info('commandstats'))?.[1] ?? 0);
      const before = await subscribeCalls();
      let left!: () => void;
      const firstChunk = new Promise<void>((resolve) => (left = resolve));
      const a = reader.output$(id).subscribe(() => left());
      const b = lastValueFrom(reader.output$(id).pipe(toArray()));
      // The first reader goes after the first chunk; the second still gets the whole text through the channel.
      await firstChunk;
      a.unsubscribe();
      expect((await b).join('')).toBe(text);
      expect(await subscribeCalls()).toBe(before + 1);
      // The last reader gone, the channel is unsubscribed.
      await eventually(async () => (await subscribers('shared', id)) === 0);
    },
  );

  it(
    'drops a chunk its catch-up read already covered, counting offsets in UTF-8 bytes',
    { timeout: 30_000 },
    async () => {
      const node = await client('overlap');
      // No node takes jobs: the task stays pending while this test writes its run's output itself.
      const id = await node.submit('never taken');
      const keys = clusterKeys('overlap');
      const subscriber = new Redis(suite.server.url);
      await whenReady(subscriber);
      const channels = new SharedChannels(subscriber);
      subscriber.on('message', (channel: string, message: string) => channels.receive(channel, message));
      try {
        await appendOutputChunk(suite.redis, keys, id, 0, 'before 世界 🎉 ');
        // The reader's read of the key lands after one more chunk: its message reaches the reader too.
        const reader = new TaskOutputReader({
          redis: {
            get: async (key: string) => {
              await appendOutputChunk(suite.redis, keys, id, 0, 'between ✅ 👩‍👩‍👧 ');
              return suite.redis.get(key);
            },
          } as Pick<Redis, 'get'>,
          keys,
          channels,
          task$: (taskId) => node.task$(taskId),
        });
        const seen: string[] = [];
        let chunkSeen = () => {};
        const nextChunk = () => new Promise<void>((resolve) => (chunkSeen = resolve));
        const first = nextChunk();
        const done = new Promise<void>((resolve, reject) =>
          reader.output$(id).subscribe({
            next: (chunk) => {
              seen.push(chunk);
              chunkSeen();
            },
            complete: resolve,
            error: reject,
          }),
        );
        await first;
        expect(seen).toEqual(['before 世界 🎉 between ✅ 👩‍👩‍👧 ']);
        const second = nextChunk();
        await appendOutputChunk(suite.redis, keys, id, 0, 'after 東京');
        // This reader's channel has its own connection here: the chunk is awaited before the run is ended.
        await second;
        await node.cancel(id);
        await done;
        expect(seen).toEqual(['before 世界 🎉 between ✅ 👩‍👩‍👧 ', 'after 東京']);
      } finally {
        subscriber.disconnect();
      }
    },
  );

  it(
    'errors with TaskNotFound for an unknown task, and leaves no subscription behind',
    { timeout: 30_000 },
    async () => {
      const reader = await client('unknown');
      await expect(firstValueFrom(reader.output$('task-nonexistent'))).rejects.toBeInstanceOf(TaskNotFound);
      await eventually(async () => (await subscribers('unknown', 'task-nonexistent')) === 0);
    },
  );

  it(
    "hands a task's text to the cluster task front's onOutput when another node runs it",
    { timeout: 60_000 },
    async () => {
      const front = clusterTaskFront(await client('front'));
      await startNode('front');
      const chunks: string[] = [];
      const result = await front.run(`[[sim:text ${JSON.stringify(MIXED)}]] [[sim:chunks 6]]`, {
        onOutput: (chunk) => chunks.push(chunk),
      });
      expect(result.output).toBe(MIXED);
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.join('')).toBe(MIXED);
    },
  );

  it(
    "streams a served node's pool_fan_out progress with the text of tasks other nodes run",
    { timeout: 60_000 },
    async () => {
      await startNode('mcp');
      const observer = await client('mcp');
      const mcp = await startServer(['--simulated', '-n', '1', '--redis', suite.server.url, '--queue', 'mcp']);
      try {
        const answers = [0, 1, 2].map((i) => `answer ${i}: 世界 🎉 streamed in pieces`);
        const prompts = answers.map(
          (text) => `[[sim:text ${JSON.stringify(text)}]] [[sim:chunks 3]] [[sim:delay 400]]`,
        );
        const streamed = answers.map(() => '');
        await callOk(mcp.client, 'pool_fan_out', { prompts }, (progress) => {
          const match = /^\[(\d)\] ([\s\S]*)$/.exec(progress.message ?? '');
          // Streamed text comes between whole steps of progress; a finished task's line is a whole step.
          if (match && !Number.isInteger(progress.progress)) streamed[Number(match[1])] += match[2];
        });
        expect(streamed).toEqual(answers);
        // The served node has one slot: the runner node ran at least two of the three.
        const tasks = (await observer.listTasks()).filter((task) => task.prompt.includes('streamed in pieces'));
        expect(tasks.filter((task) => task.slotId?.startsWith('runner/')).length).toBeGreaterThanOrEqual(2);
      } finally {
        await mcp.close();
      }
    },
  );

  it(
    "streams a rejected task's rerun afresh: a reader of the rerun sees the rerun's text",
    { timeout: 60_000 },
    async () => {
      const reader = await client('rerun');
      await startNode('rerun');
      const id = await reader.submit(
        '[[sim:first-text rerun-key "first attempt"]] [[sim:text "second attempt, better"]] [[sim:chunks 4]]',
        { review: { maxRejections: 2 } },
      );
      await reader.waitFor(id, (record) => record.state === 'pending_review');
      expect((await lastValueFrom(reader.output$(id).pipe(toArray()))).join('')).toBe('first attempt');
      await reader.rejectResult(id, 'try again');
      const rerun = (await lastValueFrom(reader.output$(id).pipe(toArray()))).join('');
      const reviewed = await reader.waitFor(id, (record) => record.state === 'pending_review');
      expect(reviewed.rejectionCount).toBe(1);
      expect(reviewed.result?.output).toBe('second attempt, better');
      expect(rerun).toBe('second attempt, better');
      await reader.approveResult(id);
    },
  );

  it(
    "follows a task requeued after its node was killed: the new run streams on after the dead run's text",
    { timeout: 90_000 },
    async () => {
      const reader = await client('requeued');
      const started = await Promise.all(
        ['r0', 'r1'].map((nodeId) =>
          NodeProcess.start({ redis: suite.server.url, queue: 'requeued', nodeId, slots: 1, policy: 'requeue' }),
        ),
      );
      nodes.push(...started);
      const text = Array.from({ length: 30 }, (_, i) => `piece ${i}; `).join('');
      const id = await reader.submit(`[[sim:text ${JSON.stringify(text)}]] [[sim:chunks 30]] [[sim:chunk-delay 120]]`);
      const chunks: string[] = [];
      let gotSome!: () => void;
      const someText = new Promise<void>((resolve) => (gotSome = resolve));
      const done = new Promise<void>((resolve, reject) =>
        reader.output$(id).subscribe({
          next: (chunk) => {
            chunks.push(chunk);
            if (chunks.join('').length >= 30) gotSome();
          },
          complete: resolve,
          error: reject,
        }),
      );
      await someText;
      const owner = await reader.nodeOf(id);
      await started.find((node) => node.nodeId === owner)!.kill();
      await done;
      const final = await reader.waitForFinal(id);
      expect(final.state).toBe('completed');
      expect(final.result?.output).toBe(text);
      expect(await reader.nodeOf(id)).not.toBe(owner);
      // The dead run's part, then the new run's whole text, each exactly once.
      const streamed = chunks.join('');
      expect(streamed.endsWith(text)).toBe(true);
      const dead = streamed.slice(0, streamed.length - text.length);
      expect(dead.length).toBeGreaterThanOrEqual(30);
      expect(text.startsWith(dead)).toBe(true);
    },
  );

  it(
    "fills a cluster chain's current-step partial output from a step run on another node",
    { timeout: 60_000 },
    async () => {
      const coordinator = await client('chain');
      await startNode('chain');
      const stepText = 'step one streams this text in ten slow pieces';
      const chainId = await coordinator.submitChain([
        {
          name: 'one',
          action: {
            type: 'prompt',
            prompt: `[[sim:text ${JSON.stringify(stepText)}]] [[sim:chunks 10]] [[sim:chunk-delay 80]]`,
          },
        },
        { name: 'two', action: { type: 'prompt', prompt: 'two got {previous_output} [[sim:text done]]' } },
      ]);
      // The chain's actor runs on the node that took it (this one); its progress is its context.
      const chains = (coordinator as unknown as { chains: { running: Map<string, AnyActorRef> } }).chains;
      const actor = chains.running.get(chainId)!;
      const progress = (snapshot: { context: { progress: ChainProgress } }) => snapshot.context.progress;
      const partial = await firstValueFrom(
        from(actor).pipe(filter((snapshot) => (progress(snapshot).currentStepPartialOutput ?? '') !== '')),
      );
      const seen = progress(partial).currentStepPartialOutput!;
      expect(progress(partial).currentStep).toBe(0);
      expect(stepText.startsWith(seen)).toBe(true);
      const result = await coordinator.waitForChain(chainId);
      expect(result.success).toBe(true);
      expect(result.steps[0]!.output).toBe(stepText);
    },
  );
});
