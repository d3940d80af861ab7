/**
 * The REST front door of a cluster node: tasks and chains submitted over REST run on another node, and the
 * node's event streams follow them there (state changes, output, step results, the end).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterNode, clusterChainFront, clusterTaskFront } from '../../src/cluster/index.js';
import { startHttpServer, type HttpServing } from '../../src/http/index.js';
import { expectProblem, openSse, request } from '../http/support.js';
import { NodeProcess } from '../support/cluster-nodes.js';
import { clusterSuite } from '../support/cluster-suite.js';
import { redisAvailable } from '../support/redis.js';
import { simPool } from '../support/sim-pool.js';

describe.skipIf(!redisAvailable())('event streams of a cluster node', () => {
  const suite = clusterSuite();
  const https: HttpServing[] = [];

  afterEach(async () => {
    await Promise.all(https.splice(0).map((http) => http.close()));
  });

  /** A worker node process, and an HTTP server on a node that takes no jobs (so every run is elsewhere). */
  async function cluster(queue: string): Promise<HttpServing> {
    suite.processes.push(await NodeProcess.start({ redis: suite.server.url, queue, nodeId: 'worker', slots: 1 }));
    const front = await ClusterNode.join(await simPool(), {
      redis: suite.server.url,
      queue,
      nodeId: 'front',
      work: false,
    });
    suite.members.push(front);
    const http = await startHttpServer(front.pool, {
      port: 0,
      tasks: clusterTaskFront(front),
      chains: clusterChainFront(front),
    });
    https.push(http);
    return http;
  }

  it('streams a task that runs on another node, to its end', { timeout: 60_000 }, async () => {
    const http = await cluster('rest-task');
    const submitted = await request(http, 'POST', '/v1/tasks', {
      prompt: 'far away [[sim:delay 200]] [[sim:text "hello from afar"]] [[sim:chunks 3]] [[sim:chunk-delay 30]]',
    });
    expect(submitted.status).toBe(202);
    const id = String(submitted.body.task_id);
    const stream = await openSse(http, `/v1/tasks/${id}/stream`);
    expect(stream.status).toBe(200);
    const events = await stream.readToEnd();
    const running = events.find((event) => event.event === 'state' && event.data.state === 'running');
    expect(running?.data.slot_id).toBe('worker/slot-0');
    expect(events.at(-1)).toMatchObject({
      event: 'complete',
      data: { task_id: id, state: 'completed', output: 'hello from afar', success: true },
    });
    // Its text, streamed on the other node, came through in order.
    const text = events
      .filter((event) => event.event === 'output')
      .map((event) => event.data.text)
      .join('');
    expect(text.replace(/\s+/g, ' ').trim()).toBe('hello from afar');
    // A reader that comes after the end gets the same events.
    expect(await (await openSse(http, `/v1/tasks/${id}/stream`)).readToEnd()).toEqual(events);
    expectProblem(await request(http, 'GET', '/v1/tasks/task-unknown/stream'), 404, 'task_not_found');
  });

  it("streams a chain's steps, run on another node, to its end", { timeout: 60_000 }, async () => {
    const http = await cluster('rest-chain');
    const submitted = await request(http, 'POST', '/v1/chains', {
      steps: [
        { name: 'first', type: 'prompt', value: 'first [[sim:text one]] [[sim:delay 100]]' },
        { name: 'second', type: 'prompt', value: 'second after {previous_output} [[sim:text two]]' },
      ],
    });
    expect(submitted.status).toBe(202);
    const id = String(submitted.body.task_id);
    const events = await (await openSse(http, `/v1/chains/${id}/stream`)).readToEnd();
    const names = events.map((event) => event.event);
    expect(names.filter((name) => name === 'step_complete')).toHaveLength(2);
    expect(names.at(-1)).toBe('chain_complete');
    expect(events.at(-1)?.data).toMatchObject({ chain_id: id, total_steps: 2, success: true });
    expectProblem(await request(http, 'GET', '/v1/chains/chain-unknown/stream'), 404, 'task_not_found');
  });
});
