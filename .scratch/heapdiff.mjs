import v8 from 'node:v8';
import fs from 'node:fs';
import { Pool } from '../dist/src/pool/index.js';
import { SqliteStore } from '../dist/src/store/sqlite.js';
const runner = { async run(r) { return { kind: 'ok', result: { output: r.prompt, success: true, costMicrodollars: 1, turnsUsed: 1, elapsedMs: 0, sessionId: 's' }, sessionCostUsd: 0.000001 }; } };
const store = SqliteStore.open('/tmp/heapd' + Date.now() + '.db');
const pool = await Pool.builder().runner(runner).slots(8).store(store).build();
function summarize(file) {
  const snap = JSON.parse(fs.readFileSync(file));
  const f = snap.snapshot.meta.node_fields; const n = f.length;
  const types = snap.snapshot.meta.node_types[0];
  const iType = f.indexOf('type'), iName = f.indexOf('name'), iSize = f.indexOf('self_size');
  const m = new Map();
  for (let i = 0; i < snap.nodes.length; i += n) {
    const key = types[snap.nodes[i + iType]] + ':' + snap.strings[snap.nodes[i + iName]].slice(0, 60);
    const e = m.get(key) ?? [0, 0]; e[0]++; e[1] += snap.nodes[i + iSize]; m.set(key, e);
  }
  return m;
}
for (let r = 0; r < 30; r++) {
  await pool.fanOut(Array.from({ length: 1000 }, (_, i) => `t${r}-${i}`));
  await pool.flush();
  if (r === 9) { gc(); v8.writeHeapSnapshot('/tmp/h1.heapsnapshot'); }
}
gc(); v8.writeHeapSnapshot('/tmp/h2.heapsnapshot');
const a = summarize('/tmp/h1.heapsnapshot'), b = summarize('/tmp/h2.heapsnapshot');
const diffs = [];
for (const [k, v] of b) { const o = a.get(k) ?? [0, 0]; diffs.push([k, v[0] - o[0], v[1] - o[1]]); }
diffs.sort((x, y) => y[2] - x[2]);
for (const d of diffs.slice(0, 25)) console.log(d[1], d[2], d[0]);
process.exit(0);
