import { Pool } from '../dist/src/pool/index.js';
const runner = { async run(r) { return { kind: 'ok', result: { output: r.prompt, success: true, costMicrodollars: 1, turnsUsed: 1, elapsedMs: 0, sessionId: 's' }, sessionCostUsd: 0.000001 }; } };
const sizes = (process.argv[2] ?? '5000,20000').split(',').map(Number);
for (const n of [2000, ...sizes]) {
  const pool = await Pool.builder().runner(runner).slots(8).config({ scaling: { maxSlots: 8 } }).build();
  const c0 = process.cpuUsage(); const t = performance.now();
  await pool.fanOut(Array.from({ length: n }, (_, i) => `t${i}`));
  const c = process.cpuUsage(c0); const ms = performance.now() - t;
  console.log(n, 'wall', (ms * 1000 / n).toFixed(0), 'us/task', 'cpu', ((c.user + c.system) / n).toFixed(0), 'us/task');
  await pool.drain();
}
