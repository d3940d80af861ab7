import { Pool } from '../dist/src/pool/index.js';
const runner = { async run(r) { return { kind: 'ok', result: { output: r.prompt, success: true, costMicrodollars: 1, turnsUsed: 1, elapsedMs: 0, sessionId: 's' }, sessionCostUsd: 0.000001 }; } };
const n = Number(process.argv[2] ?? 10000);
for (let round = 0; round < 3; round++) {
  const pool = await Pool.builder().runner(runner).slots(8).config({ scaling: { maxSlots: 8 } }).build();
  const t = performance.now();
  await pool.fanOut(Array.from({ length: n }, (_, i) => `t${i}`));
  const ms = performance.now() - t;
  console.log(n, ms.toFixed(0), 'ms', (ms * 1000 / n).toFixed(1), 'us/task');
  await pool.drain();
}
