/**
 * Agents never outlive the pool: a pool's process that ends in any way takes every agent and every process
 * those agents started with it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, killAll, startHost, waitUntilGone, type Host } from './support.js';

const hosts: Host[] = [];
afterEach(() => {
  for (const host of hosts.splice(0)) killAll([host.child.pid ?? 0, host.watchdog, ...host.pids]);
});

async function host(options: Parameters<typeof startHost>[0]): Promise<Host> {
  const started = await startHost(options);
  hosts.push(started);
  return started;
}

describe('a pool process that dies takes its agents and their children with it', () => {
  for (const signal of ['SIGKILL', 'SIGTERM', 'SIGINT'] as const) {
    it(`${signal}`, async () => {
      const h = await host({ agents: 2 });
      expect(h.pids).toHaveLength(4);
      for (const pid of h.pids) expect(isAlive(pid)).toBe(true);
      h.child.kill(signal);
      // The host dies of the signal as it would without a pool: no handler of the pool's changes that.
      expect(await h.ended).toEqual({ code: null, signal });
      await waitUntilGone([...h.pids, h.watchdog], 3000);
    });
  }

  it('process.exit() during a run', async () => {
    const h = await host({ agents: 1, exit: true });
    expect(await h.ended).toEqual({ code: 0, signal: null });
    await waitUntilGone([...h.pids, h.watchdog], 3000);
  });

  it('a host with a SIGTERM handler of its own keeps it: the pool does not take the signal over', async () => {
    const h = await host({ agents: 1, ownHandler: true });
    h.child.kill('SIGTERM');
    // The host's handler drained the pool and chose its exit code.
    expect(await h.ended).toEqual({ code: 7, signal: null });
    await waitUntilGone([...h.pids, h.watchdog], 3000);
  });
});
