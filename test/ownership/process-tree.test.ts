/**
 * Reading processes from `/proc`: identities, trees across process groups, and killing a tree.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeTree, identify, isSameProcess, killTrees, parseProcStat } from '../../src/agent/process-tree.js';
import { waitForPid } from '../support/sim-pool.js';
import { isAlive, killAll, waitUntilGone } from './support.js';

const leftovers: number[] = [];
afterEach(() => killAll(leftovers.splice(0)));

describe('parseProcStat', () => {
  it('reads pid, ppid, group and start time, whatever the command name holds', () => {
    const fields = ['S', '10', '12', '12', ...Array.from({ length: 15 }, (_, i) => String(i)), '123456', '0'];
    expect(parseProcStat(`77 (a (weird) name) ${fields.join(' ')}`)).toEqual({
      pid: 77,
      ppid: 10,
      pgid: 12,
      state: 'S',
      startTime: '123456',
    });
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('process trees', () => {
  it('a tree reaches a grandchild in a process group of its own, and killTrees ends all of it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'claude-pool-tree-'));
    const file = join(dir, 'grandchild');
    // A detached parent that starts a detached grandchild (its own group) and then waits.
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { detached: true, stdio: 'ignore' });
         require('node:fs').writeFileSync(${JSON.stringify(file)}, c.pid + '\\n');
         setInterval(() => {}, 1 << 30);`,
      ],
      { detached: true, stdio: 'ignore' },
    );
    const root = parent.pid as number;
    leftovers.push(root);
    const grandchild = await waitForPid(file);
    leftovers.push(grandchild);
    const identity = identify(root);
    expect(identity).toMatchObject({ pid: root, pgid: root });
    expect(isSameProcess(identity ?? { pid: root, pgid: root })).toBe(true);
    const tree = describeTree(identity ?? { pid: root, pgid: root }).map((p) => p.pid);
    expect(tree).toEqual(expect.arrayContaining([root, grandchild]));
    expect(identify(grandchild)?.pgid).toBe(grandchild);

    expect(killTrees([{ pid: root, pgid: root, startTime: '1' }])).toEqual([]); // not the recorded process
    expect(isAlive(root)).toBe(true);
    expect(killTrees([identity ?? { pid: root, pgid: root }]).sort()).toEqual([root, grandchild].sort());
    await waitUntilGone([root, grandchild]);
  });
});
