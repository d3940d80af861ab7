/**
 * Every module in machines/ loads: building a statechart checks its initial states and `#id.state` targets, so a
 * broken definition fails here as a test rather than as a file that cannot be imported.
 */
import { describe, expect, it } from 'vitest';

const modules: Record<string, () => Promise<Record<string, unknown>>> = {
  admission: () => import('../../machines/admission.js'),
  budget: () => import('../../machines/budget.js'),
  chain: () => import('../../machines/chain.js'),
  dispatch: () => import('../../machines/dispatch.js'),
  failure: () => import('../../machines/failure.js'),
  pool: () => import('../../machines/pool.js'),
  queue: () => import('../../machines/queue.js'),
  slot: () => import('../../machines/slot.js'),
  task: () => import('../../machines/task.js'),
  templating: () => import('../../machines/templating.js'),
  types: () => import('../../machines/types.js'),
};
/** The statechart each module exports, named after the module. */
const machines: Record<string, string> = {
  chain: 'chainMachine',
  pool: 'poolMachine',
  slot: 'slotMachine',
  task: 'taskMachine',
};

describe('machines/ modules', () => {
  it.each(Object.keys(modules))('%s loads', async (name) => {
    const module = await modules[name]();
    expect(Object.keys(module).length).toBeGreaterThan(0);
    const exported = machines[name];
    if (exported) expect((module[exported] as { id: string }).id).toBe(name);
  });
});
