import { it } from 'vitest';
import { cleanupPools, simPool } from '../test/support/sim-pool.js';
it('finds the warning', async () => {
  const orig = console.warn;
  console.warn = (...args: unknown[]) => { if (String(args[0]).includes('Custom actions')) orig(new Error('here').stack); };
  const pool = await simPool((b) => b.slots(2));
  const id = await pool.submitChain([{ name: 'a', action: { type: 'prompt', prompt: 'x [[sim:text {"k":1}]]' } }], { isolation: 'none' });
  await pool.waitForChain(id);
  await cleanupPools();
  console.warn = orig;
});
