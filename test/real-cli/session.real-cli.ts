/**
 * The stream-json session against the real `claude` CLI and a loopback mock of the Messages API (opt-in:
 * `CLAUDE_POOL_REAL_CLI=/path/to/claude CLAUDE_POOL_REAL_API=http://127.0.0.1:PORT npm run test:real-cli`).
 * The mock picks its reply from a `SCENARIO:<name>` tag in the prompt: `simple` answers, `write` asks to Write
 * `out.txt` in the mock's directory, `slow` answers after a minute.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, lastValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { PoolEvent } from '../../src/observe.js';
import { Pool, type PoolBuilder } from '../../src/pool/index.js';
import type { PermissionOptions } from '../../src/pool/permissions.js';

const binary = process.env.CLAUDE_POOL_REAL_CLI;
const api = process.env.CLAUDE_POOL_REAL_API;
const pools: Pool[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.drain({ timeoutMs: 1000 });
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function builder(): PoolBuilder {
  const home = mkdtempSync(join(tmpdir(), 'claude-pool-real-home-'));
  const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-real-cwd-'));
  dirs.push(home, cwd);
  return Pool.builder({
    binary,
    workingDir: cwd,
    env: {
      HOME: home,
      CLAUDE_CONFIG_DIR: join(home, '.claude'),
      ANTHROPIC_BASE_URL: api ?? '',
      ANTHROPIC_API_KEY: 'sk-ant-api03-mock',
      CLAUDE_CODE_MAX_RETRIES: '0',
    },
  }).config({ permissionMode: 'default' });
}

async function start(configure: (b: PoolBuilder) => PoolBuilder): Promise<Pool> {
  const pool = await configure(builder()).build();
  pools.push(pool);
  return pool;
}

type Requested = Extract<PoolEvent, { type: 'permission.requested' }>;

describe.skipIf(!binary || !api)('the real claude CLI', () => {
  it.each([
    ['allow', { policy: () => 'allow' } satisfies PermissionOptions, true],
    ['deny', { policy: () => 'deny' } satisfies PermissionOptions, false],
  ] as const)('answers its can_use_tool question (%s)', async (_name, permissions, written) => {
    const pool = await start((b) => b.slots(1).permissions(permissions));
    const requested = firstValueFrom(
      pool.events$.pipe(filter((e): e is Requested => e.type === 'permission.requested')),
    );
    const id = await pool.submit('SCENARIO:write please');
    const { request } = await requested;
    expect(request.toolName).toBe('Write');
    const file = String(request.input.file_path);
    const final = await lastValueFrom(pool.task$(id));
    try {
      expect(final.result?.success).toBe(true);
      expect(existsSync(file)).toBe(written);
      expect((final.result?.permissionDenials ?? []).length).toBe(written ? 0 : 1);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('a cancel while its question is open denies it; the warm process runs the next task', async () => {
    const pool = await start((b) => b.slots(1).permissions({ answerTimeoutMs: 60_000 }));
    const requested = firstValueFrom(
      pool.events$.pipe(filter((e): e is Requested => e.type === 'permission.requested')),
    );
    const id = await pool.submit('SCENARIO:write please');
    const { request } = await requested;
    const [before] = pool.store().processes?.list() ?? [];
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(existsSync(String(request.input.file_path))).toBe(false);
    const next = await pool.run('SCENARIO:simple after');
    expect(next.success).toBe(true);
    const [after] = pool.store().processes?.list() ?? [];
    expect(after.pid).toBe(before.pid);
  });

  it('keeps a slot warm: three tasks, one process, each task at its own cost', async () => {
    const pool = await start((b) => b.slots(1).warmSlots(true));
    const results = [];
    const pids = new Set<number>();
    for (let i = 0; i < 3; i++) {
      results.push(await pool.run(`SCENARIO:simple ${i}`));
      for (const p of pool.store().processes?.list() ?? []) pids.add(p.pid);
    }
    expect(results.every((r) => r.success)).toBe(true);
    expect(pids.size).toBe(1);
    expect(new Set(results.map((r) => r.sessionId)).size).toBe(1);
    expect(results.every((r) => r.costMicrodollars > 0)).toBe(true);
    // The totals the process reports are cumulative: the three costs add up to the last total.
    const slot = pool.slots()[0];
    expect(Math.abs(results.reduce((sum, r) => sum + r.costMicrodollars, 0) - slot.costMicrodollars)).toBeLessThan(3);
  });

  it('cancels a warm task with an interrupt: the process lives on and runs the next task', async () => {
    const pool = await start((b) => b.slots(1).warmSlots(true));
    expect((await pool.run('SCENARIO:simple first')).success).toBe(true);
    const [before] = pool.store().processes?.list() ?? [];
    const id = await pool.submit('SCENARIO:slow wait');
    await firstValueFrom(pool.task$(id).pipe(filter((t) => t.state === 'running')));
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    const next = await pool.run('SCENARIO:simple after');
    expect(next.success).toBe(true);
    const [after] = pool.store().processes?.list() ?? [];
    expect(after.pid).toBe(before.pid);
  });
});
