/**
 * One cluster node for `bench/cluster.ts`, in its own process: a pool of simulated agents joined to the
 * cluster. argv: redis-url queue node-id slots. Tells its parent `ready` over IPC; leaves on `leave`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulatedClaude } from '../src/agent/simulated/path.js';
import { ClusterNode } from '../src/cluster/index.js';
import { Pool } from '../src/pool/index.js';

const [redis, queue, nodeId, slots] = process.argv.slice(2) as [string, string, string, string];
const stateDir = mkdtempSync(join(tmpdir(), 'claude-pool-bench-node-'));
const pool = await Pool.builder({
  binary: simulatedClaude,
  workingDir: stateDir,
  env: { CLAUDE_POOL_SIM_STATE_DIR: stateDir },
})
  .slots(Number(slots))
  .build();
const node = await ClusterNode.join(pool, { redis, queue, nodeId });
process.on('message', (message: unknown) => {
  if (message !== 'leave') return;
  void (async () => {
    await node.leave();
    await pool.drain({ timeoutMs: 100 });
    rmSync(stateDir, { recursive: true, force: true });
    process.exit(0);
  })();
});
process.send?.('ready');
