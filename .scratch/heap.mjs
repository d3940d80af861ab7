import { Pool } from '../dist/src/pool/index.js';
import { SqliteStore } from '../dist/src/store/sqlite.js';
const runner = { async run(r) { return { kind: 'ok', result: { output: r.prompt, success: true, costMicrodollars: 1, turnsUsed: 1, elapsedMs: 0, sessionId: 's' }, sessionCostUsd: 0.000001 }; } };
const store = SqliteStore.open('/tmp/heap' + Date.now() + '.db');
const pool = await Pool.builder().runner(runner).slots(8).store(store).build();
const out = [];
for (let r = 0; r < 40; r++) {
  await pool.fanOut(Array.from({ length: 1000 }, (_, i) => `t${r}-${i}`));
  await pool.flush(); gc(); gc();
  out.push((process.memoryUsage().heapUsed / 1e6).toFixed(1));
}
console.log(out.join(' '));
process.exit(0);
