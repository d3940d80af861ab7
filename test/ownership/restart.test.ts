/**
 * A pool restarted on its SQLite store ends what a previous owner left running, and never a process that merely
 * got a recorded pid again.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { endLeftoverAgents } from '../../src/agent/leftovers.js';
import { processStartTime } from '../../src/agent/process-tree.js';
import { MemoryProcessLedger, thisHost } from '../../src/store/process-ledger.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { cleanupPools, eventually, simPool } from '../support/sim-pool.js';
import { isAlive, killAll, startHost, waitUntilGone } from './support.js';

const leftovers: number[] = [];
afterEach(async () => {
  await cleanupPools();
  killAll(leftovers.splice(0));
});

/** A process that is certainly dead: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

describe('restart on the same SQLite file', () => {
  it('after SIGKILL of the pool and of its watchdog, the next pool ends the agents and their children', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-restart-'));
    const db = join(dir, 'pool.db');
    const host = await startHost({ agents: 2, db, dir });
    leftovers.push(host.child.pid ?? 0, host.watchdog, ...host.pids);
    // The lifeline is cut before the pool dies: nothing but the store knows about the agents now.
    process.kill(host.watchdog, 'SIGKILL');
    await waitUntilGone([host.watchdog]);
    host.child.kill('SIGKILL');
    await host.ended;
    for (const pid of host.pids) expect(isAlive(pid)).toBe(true);

    const beside = SqliteStore.open(db, { lock: false });
    const recorded = beside.processes.list();
    beside.close();
    expect(recorded.map((r) => r.pid).sort()).toEqual([host.pids[0], host.pids[2]].sort());
    for (const record of recorded) {
      expect(record).toMatchObject({ pgid: record.pid, host: thisHost(), ownerPid: host.child.pid });
      expect(record.startTime).toBe(processStartTime(record.pid));
    }

    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    const store = SqliteStore.open(db);
    const pool = await simPool((b) => b.slots(1).store(store), dir);
    await waitUntilGone(host.pids, 3000);
    await eventually(() => warnings.length > 0);
    process.off('warning', onWarning);
    expect(warnings).toEqual([
      expect.stringMatching(/^ended 2 agent process\(es\) a previous owner of the store left running/),
    ]);
    expect(store.processes.list()).toEqual([]);
    // The interrupted runs are failed, not run again.
    const tasks = await pool.listTasks();
    expect(tasks.map((t) => t.state)).toEqual(['failed', 'failed']);
    await pool.drain();
    store.close();
  });

  it('a recorded pid that now belongs to another process is never killed', async () => {
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    leftovers.push(stranger.pid as number);
    await new Promise((resolve) => stranger.on('spawn', resolve));
    const ledger = new MemoryProcessLedger();
    const owner = await deadPid();
    ledger.recordSpawn({
      pid: stranger.pid as number,
      pgid: stranger.pid as number,
      startTime: '1', // not the stranger's: the recorded agent was another process
      host: thisHost(),
      ownerPid: owner,
      ownerStartTime: '1',
      startedAtMs: Date.now(),
    });
    const report = endLeftoverAgents(ledger);
    expect(report).toEqual({ killed: [], forgotten: 1, kept: 0 });
    expect(isAlive(stranger.pid as number)).toBe(true);
    expect(ledger.list()).toEqual([]);
  });

  it('agents of a live owner are left alone', async () => {
    const agent = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], {
      stdio: 'ignore',
      detached: true,
    });
    leftovers.push(agent.pid as number);
    await new Promise((resolve) => agent.on('spawn', resolve));
    const pid = agent.pid as number;
    const ledger = new MemoryProcessLedger();
    const record = {
      pid,
      pgid: pid,
      startTime: processStartTime(pid),
      host: thisHost(),
      ownerPid: process.pid,
      ownerStartTime: processStartTime(process.pid),
      startedAtMs: Date.now(),
    };
    ledger.recordSpawn(record);
    expect(endLeftoverAgents(ledger)).toEqual({ killed: [], forgotten: 0, kept: 1 });
    expect(isAlive(pid)).toBe(true);
    // Once its owner is gone (a dead pid stands in for it), the same record is a leftover and is ended.
    ledger.recordSpawn({ ...record, ownerPid: await deadPid() });
    expect(endLeftoverAgents(ledger).killed).toEqual([pid]);
    await waitUntilGone([pid]);
  });
});
