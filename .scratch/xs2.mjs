import { createActor, createMachine, assign, setup } from 'xstate';
import { taskMachine } from '../dist/machines/task.js';
const rec = (id) => ({ id, prompt: 'x', state: 'pending', tags: [], reviewRequired: false, maxRejections: 3, rejectionCount: 0, kind: 'task', createdAtMs: 0 });
const res = { output: '', success: true, costMicrodollars: 0, turnsUsed: 1, elapsedMs: 0 };
const sink = createActor(createMachine({})).start();
const simple = setup({}).createMachine({ context: ({input}) => ({ record: input }), initial: 'pending', states: { pending: { on: { ASSIGN: 'running' } }, running: { on: { FINISH: 'done' } }, done: { type: 'final' } } });
function bench(name, make) {
  for (let round = 0; round < 3; round++) {
    const n = 20000; const t = performance.now();
    for (let i = 0; i < n; i++) { const a = make(i, round); a.start(); a.send({ type: 'ASSIGN', slotId: 's', at: 1 }); a.send({ type: 'FINISH', result: res, at: 2 }); }
    if (round === 2) console.log(name, ((performance.now() - t) * 1000 / n).toFixed(1), 'us');
  }
}
bench('task, no parent', (i) => createActor(taskMachine, { input: rec('t' + i) }));
bench('task, parent', (i, r) => createActor(taskMachine, { parent: sink, input: rec('t' + i) }));
bench('simple, no parent', (i) => createActor(simple, { input: rec('t' + i) }));
