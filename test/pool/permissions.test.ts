/**
 * Tool-permission questions on the simulated agent: its `[[sim:ask Write …]]` call sends a real `can_use_tool`
 * control request over the stream-json session, and the pool answers it by rules, policy, an outside answer or the
 * deadline.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput, PermissionRequestNotFound } from '../../src/errors.js';
import type { PoolEvent } from '../../src/observe.js';
import type { TaskRecord } from '../../machines/types.js';
import type { Pool } from '../../src/pool/index.js';
import type { PermissionOptions, PermissionRequest } from '../../src/pool/permissions.js';
import { ruleMatches } from '../../src/pool/permissions.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

type Requested = Extract<PoolEvent, { type: 'permission.requested' }>;
type Answered = Extract<PoolEvent, { type: 'permission.answered' }>;

async function permissionPool(options: PermissionOptions): Promise<{ pool: Pool; cwd: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-perm-'));
  const pool = await simPool((b) => b.slots(1).config({ permissionMode: 'default' }).permissions(options), cwd);
  return { pool, cwd };
}

function nextRequest(pool: Pool): Promise<Requested> {
  return firstValueFrom(pool.events$.pipe(filter((e): e is Requested => e.type === 'permission.requested')));
}

/** The task's record once `predicate` holds (from the pool's task stream). */
function taskWhen(pool: Pool, id: string, predicate: (task: TaskRecord) => boolean): Promise<TaskRecord> {
  return firstValueFrom(pool.task$(id).pipe(filter(predicate)));
}

/** The task's final record (the task stream completes there). */
function finalTask(pool: Pool, id: string): Promise<TaskRecord> {
  return lastValueFrom(pool.task$(id));
}

function nextAnswer(pool: Pool): Promise<Answered> {
  return firstValueFrom(pool.events$.pipe(filter((e): e is Answered => e.type === 'permission.answered')));
}

describe('permission questions', () => {
  it('a Write allowed by the policy writes the file, and the task passes through awaitingPermission', async () => {
    const seen: PermissionRequest[] = [];
    const { pool, cwd } = await permissionPool({
      policy: (request) => {
        seen.push(request);
        return request.toolName === 'Write' ? 'allow' : undefined;
      },
    });
    const requested = nextRequest(pool);
    const answered = nextAnswer(pool);
    const id = await pool.submit('write it [[sim:ask Write out.txt "hello from the agent"]] [[sim:text wrote]]');
    // Every record the task stream carries, and every state its actor goes through.
    const records: TaskRecord[] = [];
    const states: unknown[] = [];
    pool.task$(id).subscribe((task) => records.push(task));
    pool.actor(id)?.subscribe((snapshot: { value: unknown }) => states.push(snapshot.value));
    const final = await finalTask(pool, id);
    const result = final.result;
    expect(result?.success).toBe(true);
    expect(result?.output).toBe('wrote');
    expect(readFileSync(join(cwd, 'out.txt'), 'utf8')).toBe('hello from the agent');
    expect(result?.permissionDenials ?? []).toEqual([]);
    const { request } = await requested;
    expect(request).toMatchObject({ taskId: id, slotId: 'slot-0', toolName: 'Write' });
    expect(request.input).toEqual({ file_path: join(cwd, 'out.txt'), content: 'hello from the agent' });
    expect(request.deadlineAtMs).toBeGreaterThan(request.requestedAtMs);
    expect(seen.map((r) => r.requestId)).toEqual([request.requestId]);
    expect(await answered).toMatchObject({ decision: { behavior: 'allow' }, answeredBy: 'policy' });
    expect(states).toContainEqual({ running: 'awaitingPermission' });
    expect(states.findIndex((v) => JSON.stringify(v) === '{"running":"awaitingPermission"}')).toBeLessThan(
      states.findIndex((v) => v === 'completed'),
    );
    expect(
      records.some((task) => task.state === 'running' && task.pendingPermissions?.[0]?.requestId === request.requestId),
    ).toBe(true);
    expect((await pool.task(id)).pendingPermissions).toBeUndefined();
  });

  it('a deny rule keeps the file unwritten and the model is told why', async () => {
    const { pool, cwd } = await permissionPool({ deny: ['Write(*.txt)'], allow: ['*'] });
    const answered = nextAnswer(pool);
    const result = await pool.run('write it [[sim:ask Write out.txt "nope"]]');
    expect(result.success).toBe(true);
    expect(existsSync(join(cwd, 'out.txt'))).toBe(false);
    expect(result.permissionDenials).toEqual([expect.objectContaining({ toolName: 'Write' })]);
    expect(await answered).toMatchObject({
      decision: { behavior: 'deny', message: 'Denied by the rule Write(*.txt).' },
      answeredBy: 'rules',
    });
  });

  it('waits in awaitingPermission for an outside answer; answerPermission allows it', async () => {
    const { pool, cwd } = await permissionPool({ answerTimeoutMs: 60_000 });
    const requested = nextRequest(pool);
    const id = await pool.submit('write it [[sim:ask Write later.txt "answered"]]');
    const { request } = await requested;
    const waiting = await taskWhen(pool, id, (task) => (task.pendingPermissions?.length ?? 0) > 0);
    expect(waiting.state).toBe('running');
    expect(waiting.pendingPermissions).toEqual([expect.objectContaining({ requestId: request.requestId })]);
    expect(pool.actor(id)?.getSnapshot().value).toEqual({ running: 'awaitingPermission' });
    expect(pool.pendingPermissions().map((r) => r.requestId)).toEqual([request.requestId]);
    expect(() => pool.answerPermission(request.requestId, { behavior: 'maybe' } as never)).toThrow(InvalidInput);
    pool.answerPermission(request.requestId, { behavior: 'allow' });
    const result = (await finalTask(pool, id)).result;
    expect(result?.success).toBe(true);
    expect(readFileSync(join(cwd, 'later.txt'), 'utf8')).toBe('answered');
    expect(pool.pendingPermissions()).toEqual([]);
    // The question is closed: answering it again is a typed error, as is an id never asked.
    expect(() => pool.answerPermission(request.requestId, { behavior: 'allow' })).toThrow(PermissionRequestNotFound);
    expect(() => pool.answerPermission('perm-unknown', { behavior: 'deny', message: 'x' })).toThrow(
      PermissionRequestNotFound,
    );
  });

  it('a question no one answers is denied at the deadline with a clear message', async () => {
    const { pool, cwd } = await permissionPool({ policy: () => undefined, answerTimeoutMs: 300 });
    const answered = nextAnswer(pool);
    const result = await pool.run('write it [[sim:ask Write never.txt "x"]]');
    expect(existsSync(join(cwd, 'never.txt'))).toBe(false);
    expect(result.permissionDenials).toEqual([expect.objectContaining({ toolName: 'Write' })]);
    const event = await answered;
    expect(event.answeredBy).toBe('deadline');
    expect(event.decision).toEqual({
      behavior: 'deny',
      message: 'No answer to the request to use Write within 300 ms: denied.',
    });
  });

  it('a cancel while waiting denies the question and cancels the run; the slot takes the next task', async () => {
    const { pool, cwd } = await permissionPool({});
    const requested = nextRequest(pool);
    const answered = nextAnswer(pool);
    const id = await pool.submit('write it [[sim:ask Write cancelled.txt "x"]]');
    const { request } = await requested;
    await taskWhen(pool, id, (task) => (task.pendingPermissions?.length ?? 0) > 0);
    await pool.cancel(id);
    expect((await pool.task(id)).state).toBe('cancelled');
    expect(await answered).toMatchObject({
      request: { requestId: request.requestId },
      decision: { behavior: 'deny' },
      answeredBy: 'cancelled',
    });
    expect(existsSync(join(cwd, 'cancelled.txt'))).toBe(false);
    expect(() => pool.answerPermission(request.requestId, { behavior: 'allow' })).toThrow(PermissionRequestNotFound);
    expect((await pool.run('next [[sim:text fine]]')).output).toBe('fine');
  });

  it('answers several questions of one run in order, slot rules before the pool policy', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'claude-pool-perm-'));
    const pool = await simPool(
      (b) =>
        b
          .slots(1)
          .config({ permissionMode: 'default' })
          .permissions({ policy: () => 'deny' })
          .slotPermissions('slot-0', { allow: ['Write(*a.txt)'] }),
      cwd,
    );
    const answers = firstValueFrom(
      pool.events$.pipe(
        filter((e): e is Answered => e.type === 'permission.answered'),
        take(2),
        toArray(),
      ),
    );
    const result = await pool.run('two [[sim:ask Write a.txt "A"]] [[sim:ask Write b.txt "B"]]');
    expect(result.success).toBe(true);
    expect(readFileSync(join(cwd, 'a.txt'), 'utf8')).toBe('A');
    expect(existsSync(join(cwd, 'b.txt'))).toBe(false);
    expect((await answers).map((a) => [a.request.input.file_path, a.answeredBy, a.decision.behavior])).toEqual([
      [join(cwd, 'a.txt'), 'rules', 'allow'],
      [join(cwd, 'b.txt'), 'policy', 'deny'],
    ]);
  });

  it('rejects malformed permission settings', async () => {
    const { simBuilder } = await import('../support/sim-pool.js');
    expect(() => simBuilder().permissions({ allow: ['Write('] })).toThrow(InvalidInput);
    expect(() => simBuilder().permissions({ answerTimeoutMs: 0 })).toThrow(InvalidInput);
  });

  it('matches rules on the tool and its main argument', () => {
    const write = { toolName: 'Write', input: { file_path: '/w/src/a.ts' } };
    expect(ruleMatches('Write', write)).toBe(true);
    expect(ruleMatches('*', write)).toBe(true);
    expect(ruleMatches('Write(/w/src/*)', write)).toBe(true);
    expect(ruleMatches('Write(/w/docs/*)', write)).toBe(false);
    expect(ruleMatches('Bash(git *)', { toolName: 'Bash', input: { command: 'git status' } })).toBe(true);
    expect(ruleMatches('Bash(git *)', { toolName: 'Bash', input: { command: 'rm -rf /' } })).toBe(false);
  });
});
