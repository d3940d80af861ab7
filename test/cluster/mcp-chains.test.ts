/**
 * A served cluster node's chain, workflow and skill tools hand their work to the whole cluster: each step is a
 * cluster task (queued in Redis, booked in the shared ledger, run on any node), and any node sees the chain's
 * progress and result.
 */
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/index.js';
import { ROUTING_TAG } from '../../src/routing/route.js';
import { callError, callOk, startServer, type ServerHandle } from '../mcp/support.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { simPool } from '../support/sim-pool.js';
import { redisAvailable } from '../support/redis.js';

describe.skipIf(!redisAvailable())("a served cluster node's chain tools", () => {
  const suite = clusterSuite();
  const mcps: ServerHandle[] = [];

  afterEach(async () => {
    await Promise.all(mcps.splice(0).map((mcp) => mcp.close()));
  });

  /** A worker node (`serve`), an MCP node the coordinator talks to, and an observer that takes no jobs. */
  async function cluster(queue: string): Promise<{ mcp: ServerHandle; observer: ClusterNode }> {
    await suite.serve(['-n', '1', '--redis', suite.server.url, '--queue', queue, '--budget-usd', '5']);
    const mcp = await startServer(['--simulated', '-n', '1', '--redis', suite.server.url, '--queue', queue]);
    mcps.push(mcp);
    const observer = await ClusterNode.join(await simPool(), { redis: suite.server.url, queue, work: false });
    suite.members.push(observer);
    return { mcp, observer };
  }

  it(
    'runs a chain whose steps are cluster tasks, reports its progress and result from Redis, and lists it',
    { timeout: 60_000 },
    async () => {
      const { mcp, observer } = await cluster('chains-mcp');
      const steps = [
        { name: 'one', type: 'prompt', value: 'one [[sim:text alpha]] [[sim:delay 200]] [[sim:cost 0.01]]' },
        { name: 'two', type: 'prompt', value: 'two after {previous_output} [[sim:text beta]] [[sim:cost 0.01]]' },
        { name: 'three', type: 'prompt', value: 'three after {previous_output} [[sim:text gamma]] [[sim:cost 0.01]]' },
      ];
      const notes: Progress[] = [];
      const ran = (await callOk(mcp.client, 'pool_chain', { steps }, (note) => notes.push(note))) as {
        task_id: string;
        result: { success: boolean; final_output: string; steps: { output: string }[] };
      };
      expect(ran.result.success).toBe(true);
      expect(ran.result.steps.map((step) => step.output)).toEqual(['alpha', 'beta', 'gamma']);
      // Progress came from the chain's progress in Redis: one note per finished step, the last one at 3 of 3.
      const messages = notes.map((note) => note.message ?? '');
      for (const name of ['one', 'two', 'three'])
        expect(messages.some((m) => m.includes(`step ${name} done`))).toBe(true);
      expect(notes.at(-1)?.total).toBe(3);

      // The steps are the cluster's tasks: in Redis, run on a node's slot, booked in the shared ledger.
      const stepRecords = await observer.listTasks({ tags: [ran.task_id] });
      expect(stepRecords.map((record) => [record.state, record.prompt])).toEqual([
        ['completed', steps[0]!.value],
        ['completed', 'two after alpha [[sim:text beta]] [[sim:cost 0.01]]'],
        ['completed', 'three after beta [[sim:text gamma]] [[sim:cost 0.01]]'],
      ]);
      for (const record of stepRecords) expect(record.slotId).toMatch(/^[^/]+\/slot-\d+$/);
      expect((await observer.status()).budget.spentMicrodollars).toBe(30_000);

      // Any node reads its progress and result.
      const progress = await observer.chainProgressOf(ran.task_id);
      expect(progress).toMatchObject({ status: 'completed', totalSteps: 3 });
      expect(progress.completedSteps.map((step) => step.name)).toEqual(['one', 'two', 'three']);
      const report = (await callOk(mcp.client, 'pool_chain_result', { task_id: ran.task_id })) as {
        status: string;
        completed_steps: unknown[];
        result: { final_output: string };
      };
      expect(report.status).toBe('completed');
      expect(report.completed_steps).toHaveLength(3);
      expect(report.result.final_output).toBe('gamma');
      const listed = (await callOk(mcp.client, 'pool_list_chains', { status: 'completed' })) as {
        chains: { task_id: string }[];
      };
      expect(listed.chains.map((chain) => chain.task_id)).toEqual([ran.task_id]);
      // The status tool shows the cluster: every node and the shared budget, as the ledger has it.
      const status = (await callOk(mcp.client, 'pool_status')) as {
        cluster: { nodes: { slots: unknown[] }[]; budget: { limit_microdollars: number; spent_microdollars: number } };
      };
      expect(status.cluster.nodes.map((node) => node.slots.length).sort()).toEqual([0, 1, 1]);
      expect(status.cluster.budget).toMatchObject({ limit_microdollars: 5_000_000, spent_microdollars: 30_000 });
      const resource = await mcp.client.readResource({ uri: `pool://chains/${ran.task_id}` });
      expect(JSON.parse((resource.contents[0] as { text: string }).text)).toMatchObject({ status: 'completed' });
    },
  );

  it(
    'cancels a chain, starts a workflow, runs a skill and routes a task on the cluster, and pins an isolated chain to its node',
    { timeout: 60_000 },
    async () => {
      const { mcp, observer } = await cluster('more-mcp');
      const hanging = [
        { name: 'wait', type: 'prompt', value: 'wait [[sim:hang]]' },
        { name: 'never', type: 'prompt', value: 'never runs' },
      ];
      const started = (await callOk(mcp.client, 'pool_submit_chain', { steps: hanging })) as { task_id: string };
      const running = await observer.waitFor(started.task_id, (record) => record.state === 'running');
      expect(running.kind).toBe('chain');
      // Wait until its first step runs on a node, then cancel the chain through the tool.
      const [step] = await new Promise<{ id: string }[]>((resolve) => {
        const sub = observer.events$.subscribe((record) => {
          if (!record.tags.includes(started.task_id) || record.state !== 'running') return;
          sub.unsubscribe();
          resolve([record]);
        });
      });
      await callOk(mcp.client, 'pool_cancel_chain', { task_id: started.task_id, immediate: true });
      expect((await observer.waitForFinal(started.task_id)).state).toBe('cancelled');
      expect((await observer.waitForFinal(step!.id)).state).toBe('cancelled');
      expect((await observer.chainProgressOf(started.task_id)).status).toBe('cancelled');

      const workflow = (await callOk(mcp.client, 'pool_invoke_workflow', {
        workflow: 'implement_and_test',
        arguments: { description: 'a greeting [[sim:cost 0.01]]' },
      })) as { task_id: string };
      const finished = (await callOk(mcp.client, 'pool_chain_result', { task_id: workflow.task_id, wait: true })) as {
        status: string;
        result: { steps: { name: string }[] };
      };
      expect(finished.status).toBe('completed');
      expect(finished.result.steps.map((s) => s.name)).toEqual(['implement', 'write_tests', 'verify']);
      expect(await observer.listTasks({ tags: [workflow.task_id] })).toHaveLength(3);

      const skill = (await callOk(mcp.client, 'pool_skill_run', {
        skill: 'code_review',
        arguments: { target: 'src/app.ts [[sim:text looks fine]] [[sim:cost 0.02]]' },
        tags: ['skill-on-cluster'],
      })) as { output: string; success: boolean };
      expect(skill).toMatchObject({ success: true, output: 'looks fine' });
      const [skillTask] = await observer.listTasks({ tags: ['skill-on-cluster'] });
      expect(skillTask?.prompt).toContain('src/app.ts');
      expect(skillTask?.slotId).toMatch(/\//);

      // Routing too: the router's task and the work it decides on are the cluster's.
      const reply = (text: string) => `[[sim:text ${JSON.stringify(text)}]]`;
      const decision = JSON.stringify({ route: 'parallel', prompts: [`one ${reply('1')}`, `two ${reply('2')}`] });
      const routed = await callOk(mcp.client, 'pool_auto', {
        prompt: `Two parts ${reply(decision)}`,
        tags: ['auto-on-cluster'],
      });
      expect(routed).toMatchObject({ route: 'parallel', output: '[0] 1\n[1] 2', success: true });
      const routedWork = await observer.listTasks({ tags: ['auto-on-cluster'] });
      expect(routedWork.map((record) => record.state)).toEqual(['completed', 'completed']);
      expect(await observer.listTasks({ tags: [ROUTING_TAG] })).toHaveLength(1);

      // An isolated chain runs its steps on the node the coordinator talks to (here not a git repository: the
      // chain says so and runs in the node's directory).
      const isolated = (await callOk(mcp.client, 'pool_chain', {
        steps: [{ name: 'only', type: 'prompt', value: 'isolated [[sim:text kept]]' }],
        isolation: 'clone',
      })) as { task_id: string; result: { success: boolean; final_output: string } };
      expect(isolated.result).toMatchObject({ success: true, final_output: 'kept' });
      const [isolatedStep] = await observer.listTasks({ tags: [isolated.task_id] });
      expect(isolatedStep?.slotId?.split('/')[0]).toBe(await observer.nodeOf(isolated.task_id));
      const refused = await callError(mcp.client, 'pool_submit_chain', { steps: hanging, isolation: 'elsewhere' });
      expect(refused.code).toBe('invalid_input');
      const unknown = await callError(mcp.client, 'pool_chain_result', { task_id: 'chain-nope' });
      expect(unknown.code).toBe('task_not_found');
      // Every run was booked in the shared ledger: what it spent is what the cluster's task records cost.
      const tasks = (await observer.listTasks()).filter((record) => record.kind !== 'chain');
      const cost = tasks.reduce((sum, record) => sum + (record.result?.costMicrodollars ?? 0), 0);
      expect(cost).toBeGreaterThanOrEqual(40_000);
      expect((await observer.status()).budget.spentMicrodollars).toBe(cost);
    },
  );
});
