import { createActor } from 'xstate';
import { taskMachine } from '/work/main/dist/machines/task.js';
import { slotMachine } from '/work/main/dist/machines/slot.js';
const parent = createActor(taskMachine, { input: { id: 'p', prompt: '', state: 'pending', tags: [], reviewRequired: false, maxRejections: 3, rejectionCount: 0, kind: 'task', createdAtMs: 0 } });
parent.start();
const rec = (id) => ({ id, prompt: 'x', state: 'pending', tags: [], reviewRequired: false, maxRejections: 3, rejectionCount: 0, kind: 'task', createdAtMs: 0 });
for (let round = 0; round < 3; round++) {
  const n = 20000;
  let t = performance.now();
  for (let i = 0; i < n; i++) {
    const a = createActor(taskMachine, { parent, id: 't' + i, systemId: 't' + i + '-' + round, input: rec('t' + i) });
    a.start();
    a.send({ type: 'ASSIGN', slotId: 's', at: 1 });
    a.send({ type: 'FINISH', result: { output: '', success: true, costMicrodollars: 0, turnsUsed: 1, elapsedMs: 0 }, at: 2 });
  }
  console.log('task create+2 transitions', ((performance.now() - t) * 1000 / n).toFixed(1), 'us');
}
