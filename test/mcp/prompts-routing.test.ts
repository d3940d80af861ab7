/**
 * The MCP server object (createPoolMcpServer) over the SDK's in-memory transport, driven by the SDK's own
 * client: skill prompts (listed, fetched, kept in step with runtime changes), skill save/eject, and the
 * routing tools, on a pool of simulated agents.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { PromptListChangedNotificationSchema, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createPoolMcpServer } from '../../src/mcp/server.js';
import type { Pool } from '../../src/pool/index.js';
import { SkillRegistry } from '../../src/skills/registry.js';
import { BUILTIN_SKILLS } from '../../src/skills/builtins.js';
import { WorkflowRegistry } from '../../src/workflows/registry.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';
import { callError, callOk } from './support.js';

const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await cleanupPools();
});

/** A client connected to the pool's MCP server in memory; `changes` counts prompts/list_changed notifications. */
async function connect(
  pool: Pool,
): Promise<{ client: Client; changes: () => number; nextChange: () => Promise<void> }> {
  const server = createPoolMcpServer(pool);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'prompt-test', version: '1.0.0' });
  let count = 0;
  let waiters: (() => void)[] = [];
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
    count += 1;
    for (const resolve of waiters.splice(0)) resolve();
  });
  await server.connect(serverTransport);
  await client.connect(clientTransport);
  closers.push(async () => {
    await client.close();
    await server.close();
  });
  waiters = [];
  return { client, changes: () => count, nextChange: () => new Promise<void>((resolve) => waiters.push(resolve)) };
}

const reply = (text: string) => `[[sim:text ${JSON.stringify(text)}]]`;

describe('skills as MCP prompts', () => {
  it('lists one prompt per skill, with required and optional arguments, and renders one on get', async () => {
    const pool = await simPool((b) => b.slots(1));
    const { client } = await connect(pool);
    expect(client.getServerCapabilities()?.prompts).toEqual({ listChanged: true });
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(BUILTIN_SKILLS.map((s) => s.name).sort());
    const createPr = prompts.find((p) => p.name === 'create_pr');
    expect(createPr?.arguments).toEqual([
      { name: 'title', description: 'The pull request title.', required: true },
      { name: 'body', description: 'The pull request description.', required: true },
      { name: 'issue', description: 'The issue the pull request closes (number or URL).', required: false },
    ]);
    expect(createPr?.description).toContain('Push the current branch');
    const got = await client.getPrompt({ name: 'code_review', arguments: { target: 'src/parser.ts' } });
    expect(got.messages).toEqual([
      { role: 'user', content: { type: 'text', text: pool.skills.render('code_review', { target: 'src/parser.ts' }) } },
    ]);
    expect(got.messages[0].content).toMatchObject({ text: expect.stringContaining('Review src/parser.ts.') });
    await expect(client.getPrompt({ name: 'code_review', arguments: {} })).rejects.toThrow(/target/);
    await expect(client.getPrompt({ name: 'no_such_skill', arguments: {} })).rejects.toThrow(/not found/);
  });

  it('announces runtime additions, replacements and removals with prompts/list_changed', async () => {
    const pool = await simPool((b) => b.slots(1).skills(new SkillRegistry()).workflows(new WorkflowRegistry()));
    const { client, changes, nextChange } = await connect(pool);
    expect((await client.listPrompts()).prompts).toEqual([]);

    let changed = nextChange();
    await callOk(client, 'pool_skill_add', {
      name: 'greet',
      description: 'Greet someone',
      prompt: 'Say hello to $0 ({who})',
      arguments: [{ name: 'who', description: 'Who to greet', required: true }],
    });
    await changed;
    expect((await client.listPrompts()).prompts).toEqual([
      {
        name: 'greet',
        title: 'greet',
        description: 'Greet someone (skill, scope task)',
        arguments: [{ name: 'who', description: 'Who to greet', required: true }],
      },
    ]);
    expect((await client.getPrompt({ name: 'greet', arguments: { who: 'Ada' } })).messages[0].content).toEqual({
      type: 'text',
      text: 'Say hello to Ada (Ada)',
    });

    changed = nextChange();
    await callOk(client, 'pool_skill_add', { name: 'greet', description: 'Greet twice', prompt: 'Hello hello' });
    await changed;
    const [replaced] = (await client.listPrompts()).prompts;
    expect(replaced.description).toBe('Greet twice (skill, scope task)');
    expect(replaced.arguments).toEqual([]);

    changed = nextChange();
    await callOk(client, 'pool_skill_remove', { name: 'greet' });
    await changed;
    expect((await client.listPrompts()).prompts).toEqual([]);
    expect(changes()).toBe(3);

    changed = nextChange();
    await callOk(client, 'pool_skill_add', { name: 'cps-coordinator-report', description: 'Report', prompt: 'Report' });
    await changed;
    expect(await callOk(client, 'pool_skill_get', { name: 'cps-coordinator-report' })).toMatchObject({
      scope: 'coordinator',
    });
    expect((await client.listPrompts()).prompts[0].description).toBe('Report (skill, scope coordinator)');
  });

  it('pool_skill_save and pool_skill_eject write SKILL.md files and re-register the skill as project', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcp-skill-save-'));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const pool = await simPool((b) => b.slots(1).skills(SkillRegistry.withBuiltins({ projectDir: dir })));
    const { client } = await connect(pool);
    await callOk(client, 'pool_skill_add', {
      name: 'lint',
      description: 'Lint',
      prompt: 'Lint {path}',
      arguments: [{ name: 'path', required: true }],
    });
    const saved = await callOk(client, 'pool_skill_save', { name: 'lint' });
    expect(saved).toEqual({
      saved: true,
      name: 'lint',
      path: path.join(dir, 'lint', 'SKILL.md'),
      format: 'SKILL.md',
      source: 'project',
    });
    expect(await readFile(path.join(dir, 'lint', 'SKILL.md'), 'utf8')).toContain('Lint {path}');
    expect(await callOk(client, 'pool_skill_get', { name: 'lint' })).toMatchObject({
      source: 'project',
      customized: false,
    });

    const ejected = await callOk(client, 'pool_skill_eject', { name: 'summarize' });
    expect(ejected).toMatchObject({ ejected: true, path: path.join(dir, 'summarize', 'SKILL.md') });
    expect(await callOk(client, 'pool_skill_get', { name: 'summarize' })).toMatchObject({
      source: 'project',
      customized: true,
    });
    expect((await callError(client, 'pool_skill_eject', { name: 'lint' })).message).toMatch(
      /not a builtin skill: lint/,
    );
    expect((await callError(client, 'pool_skill_save', { name: 'nope' })).code).toBe('not_found');
    const other = path.join(dir, 'elsewhere');
    expect((await callOk(client, 'pool_skill_save', { name: 'implement', dir: other })).path).toBe(
      path.join(other, 'implement', 'SKILL.md'),
    );
  });
});

describe('routing tools', () => {
  it('pool_route and pool_route_with_hints return the decision without running it', async () => {
    const pool = await simPool((b) => b.slots(1));
    const { client } = await connect(pool);
    const body = await callOk(client, 'pool_route', {
      prompt: `Review two files ${reply('Sure.\n{"route":"parallel","prompts":["Review a","Review b"]} done')}`,
    });
    expect(body).toMatchObject({
      route: 'parallel',
      prompts: ['Review a', 'Review b'],
      extraction: 'embedded',
      routing_cost_microdollars: 1000,
    });
    expect(body.routing_task_id).toMatch(/^task-/);
    const hinted = await callOk(client, 'pool_route_with_hints', {
      prompt: `Ship it ${reply('```\n{"route":"chain","steps":[{"name":"a","prompt":"A"},{"name":"b","prompt":"B {previous_output}"}]}\n```')}`,
      max_chain_steps: 2,
      prefer: 'prefer_chain',
      domain: 'release',
    });
    expect(hinted).toMatchObject({
      route: 'chain',
      steps: [
        { name: 'a', prompt: 'A' },
        { name: 'b', prompt: 'B {previous_output}' },
      ],
      extraction: 'bare_fence',
    });
    const routing = await pool.task(hinted.routing_task_id as string);
    expect(routing.prompt).toContain('- Maximum chain steps: 2\n- Preferred route: chain');
    expect(routing.prompt).toContain('- Domain: release');
    const failed = await callError(client, 'pool_route', { prompt: `x ${reply('no idea')}` });
    expect(failed.code).toBe('route_failed');
    expect((await callError(client, 'pool_route_with_hints', { prompt: 'x', prefer: 'prefer_magic' })).code).toBe(
      'invalid_input',
    );
  });

  it('pool_auto runs a parallel route and reports {route, output, cost_microdollars}', async () => {
    const pool = await simPool((b) => b.slots(2));
    const { client } = await connect(pool);
    const body = await callOk(client, 'pool_auto', {
      prompt: `Two parts ${reply(JSON.stringify({ route: 'parallel', prompts: [`one ${reply('1')}`, `two ${reply('2')}`] }))}`,
    });
    expect(body).toMatchObject({
      route: 'parallel',
      output: '[0] 1\n[1] 2',
      cost_microdollars: 3000,
      routing_cost_microdollars: 1000,
      success: true,
    });
    expect(body.results).toHaveLength(2);
  });

  it('pool_auto_with_hints runs a chain route with step progress; pool_auto falls back on a bad reply', async () => {
    const pool = await simPool((b) => b.slots(1));
    const { client } = await connect(pool);
    const progress: Progress[] = [];
    const chain = JSON.stringify({
      route: 'chain',
      steps: [
        { name: 'find', prompt: `Find ${reply('the cause')}` },
        { name: 'fix', prompt: 'Fix {previous_output}' },
      ],
    });
    const body = await callOk(
      client,
      'pool_auto_with_hints',
      { prompt: `Find and fix ${reply(chain)}`, max_chain_steps: 3, isolation: 'none' },
      (p) => progress.push(p),
    );
    expect(body).toMatchObject({ route: 'chain', success: true, cost_microdollars: 3000 });
    expect(body.output).toMatch(/^Simulated answer to: Fix the cause/);
    expect(body.task_id).toMatch(/^chain-/);
    expect(pool.chainProgress(body.task_id as string).status).toBe('completed');
    const messages = progress.map((p) => p.message ?? '');
    expect(messages[0]).toBe('routing');
    expect(messages).toContain(`routed as a chain: ${body.task_id as string}`);
    expect(messages.some((m) => m.startsWith('step find done'))).toBe(true);
    for (let i = 1; i < progress.length; i += 1) expect(progress[i].progress).toBeGreaterThan(progress[i - 1].progress);

    const fallback = await callOk(client, 'pool_auto', { prompt: `Tidy [[sim:first-text mcp-fallback "not json"]]` });
    expect(fallback).toMatchObject({ route: 'single', success: true, decision: { route: 'single' } });
    expect(fallback.fallback_reason).toMatch(/no routing decision/);
    expect(fallback.output).toMatch(/^Simulated answer to: Tidy/);
  });

  it('cancelling a pool_auto request cancels its chain', async () => {
    const pool = await simPool((b) => b.slots(1));
    const { client } = await connect(pool);
    const controller = new AbortController();
    const chain = JSON.stringify({
      route: 'chain',
      steps: [
        { name: 'wait', prompt: 'wait [[sim:hang]]' },
        { name: 'after', prompt: 'never' },
      ],
    });
    const started = new Promise<string>((resolve) => {
      const subscription = pool.events$.subscribe((event) => {
        if ('task' in event && event.task.kind === 'chain') {
          subscription.unsubscribe();
          resolve(event.task.id);
        }
      });
    });
    const call = client.callTool(
      { name: 'pool_auto', arguments: { prompt: `Wait ${reply(chain)}`, isolation: 'none' } },
      undefined,
      {
        signal: controller.signal,
      },
    );
    const chainId = await started;
    await new Promise<void>((resolve) => {
      const subscription = pool.chain$(chainId).subscribe((progress) => {
        if (progress.currentStepName === 'wait') resolve();
      });
      if (pool.chainProgress(chainId).currentStepName === 'wait') resolve();
      controller.signal.addEventListener('abort', () => subscription.unsubscribe());
    });
    controller.abort();
    await expect(call).rejects.toThrow();
    const result = await pool.waitForChain(chainId);
    expect(result.success).toBe(false);
    expect(pool.chainProgress(chainId).status).toBe('cancelled');
  });
});
