/**
 * A cluster chain isolated in a git worktree (or clone): the chain's node makes it, and every step runs there,
 * on that node's slots, while the cluster's other nodes keep taking the queue's work.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/index.js';
import { NodeProcess } from '../support/cluster-nodes.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { redisAvailable } from '../support/redis.js';
import { makeGitRepo, simPool } from '../support/sim-pool.js';

describe.skipIf(!redisAvailable())('cluster chains isolated in a worktree or clone', () => {
  const suite = clusterSuite();

  async function member(queue: string, nodeId: string, workingDir?: string, work = true): Promise<ClusterNode> {
    const pool = await simPool((b) => b.slots(1), workingDir);
    const node = await ClusterNode.join(pool, { redis: suite.server.url, queue, nodeId, work, heartbeatMs: 1000 });
    suite.members.push(node);
    return node;
  }

  it('runs every step of the chain in its worktree on its node, then removes the worktree', async () => {
    const repo = makeGitRepo();
    suite.processes.push(
      await NodeProcess.start({ redis: suite.server.url, queue: 'isolated', nodeId: 'other', slots: 2 }),
    );
    const home = await member('isolated', 'home', repo);
    for (const isolation of ['worktree', 'clone'] as const) {
      const steps = ['one', 'two', 'three'].map((name) => ({
        name,
        action: { type: 'prompt' as const, prompt: `${name} [[sim:write ${name}.txt "${name}"]] [[sim:text ${name}]]` },
      }));
      const chainId = await home.submitChain(steps, { isolation });
      const result = await home.waitForChain(chainId);
      expect(result.success).toBe(true);
      expect(result.steps.map((step) => step.output)).toEqual(['one', 'two', 'three']);
      const records = await home.listTasks({ tags: [chainId] });
      expect(records).toHaveLength(3);
      // Every step ran on the chain's node, in one directory that is not the repository itself.
      for (const record of records) expect(record.slotId).toBe('home/slot-0');
      const dirs = new Set(records.map((record) => record.workingDir));
      expect(dirs.size).toBe(1);
      const [dir] = [...dirs];
      expect(dir).toBeTruthy();
      expect(dir).not.toBe(repo);
      // The steps wrote there, not in the repository, and the worktree (or clone) is gone with the chain.
      expect(existsSync(join(repo, 'one.txt'))).toBe(false);
      expect(existsSync(dir!)).toBe(false);
    }
    // Meanwhile the queue's work still goes to any node.
    const queued = await home.submit('anywhere [[sim:text ok]]');
    expect((await home.waitForFinal(queued)).state).toBe('completed');
  });

  it('cancels an isolated chain from another node, and refuses isolation on a node that takes no jobs', async () => {
    const repo = makeGitRepo();
    const home = await member('isolated-cancel', 'home', repo);
    const watcher = await member('isolated-cancel', 'watcher', undefined, false);
    const chainId = await home.submitChain(
      [
        { name: 'wait', action: { type: 'prompt', prompt: 'wait [[sim:hang]]' } },
        { name: 'never', action: { type: 'prompt', prompt: 'never runs' } },
      ],
      { isolation: 'worktree' },
    );
    const step = await new Promise<string>((resolve) => {
      const sub = watcher.events$.subscribe((record) => {
        if (!record.tags.includes(chainId) || record.state !== 'running') return;
        sub.unsubscribe();
        resolve(record.id);
      });
    });
    expect(await watcher.nodeOf(step)).toBe('home');
    await watcher.cancelChain(chainId, { immediate: true });
    expect((await watcher.task(chainId)).state).toBe('cancelled');
    expect((await watcher.task(step)).state).toBe('cancelled');
    expect((await watcher.listTasks({ tags: [chainId] })).map((record) => record.state)).toEqual(['cancelled']);

    await expect(
      watcher.submitChain([{ name: 'a', action: { type: 'prompt', prompt: 'a' } }], { isolation: 'worktree' }),
    ).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/takes no jobs/) });
    await expect(
      home.submitChain([{ name: 'a', action: { type: 'prompt', prompt: 'a' } }], { isolation: 'elsewhere' as never }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
