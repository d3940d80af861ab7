import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ROUTING_TAG,
  formatRouteTestReport,
  parseRouteTestCases,
  runRouteTest,
  type AutoRoute,
} from '../../src/routing/index.js';
import { cleanupPools, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

/** A directive making the simulated agent answer exactly `text`. */
const reply = (text: string) => `[[sim:text ${JSON.stringify(text)}]]`;
/** A directive making only the first run with `key` answer `text` (the routing call). */
const firstReply = (key: string, text: string) => `[[sim:first-text ${key} ${JSON.stringify(text)}]]`;
const decision = (route: AutoRoute) => JSON.stringify(route);

describe('route', () => {
  it('runs the routing call as a pool task in plan mode, one turn, no tools, charged to the budget', async () => {
    const pool = await simPool((b) => b.slots(1).config({ budgetMicrodollars: 1_000_000 }));
    const decided = await pool.route(
      `Review the parser ${reply('Routing:\n```json\n' + decision({ route: 'single', prompt: 'Review src/parser.ts' }) + '\n```')} [[sim:cost 0.02]]`,
    );
    expect(decided.decision).toEqual({ route: 'single', prompt: 'Review src/parser.ts' });
    expect(decided.extraction).toBe('json_fence');
    expect(decided.routingCostMicrodollars).toBe(20_000);
    const record = await pool.task(decided.routingTaskId);
    expect(record.tags).toEqual([ROUTING_TAG]);
    expect(record.config).toMatchObject({ permissionMode: 'plan', maxTurns: 1, tools: [] });
    expect(record.prompt).toContain('You are a work router');
    expect(record.prompt).toMatch(/## Task\n\nReview the parser/);
    expect(pool.status().totalSpendMicrodollars).toBe(20_000);
  });

  it('routeWithHints sends the constraints section to the router', async () => {
    const pool = await simPool((b) => b.slots(1));
    const decided = await pool.routeWithHints(
      `Split it ${reply(decision({ route: 'parallel', prompts: ['a', 'b'] }))}`,
      {
        maxParallel: 2,
        prefer: 'prefer_parallel',
      },
    );
    expect(decided.decision).toEqual({ route: 'parallel', prompts: ['a', 'b'] });
    const record = await pool.task(decided.routingTaskId);
    expect(record.prompt).toContain('## Constraints\n\n- Maximum parallel tasks: 2\n- Preferred route: parallel');
  });

  it('a custom routing prompt replaces the built-in one; a malformed reply is a route_failed error', async () => {
    const pool = await simPool((b) => b.slots(1));
    const failure = pool.route(`Do it ${reply('I would do this as one task.')}`, { customPrompt: 'Classify.' });
    await expect(failure).rejects.toMatchObject({
      code: 'route_failed',
      message: expect.stringMatching(/no routing decision/),
    });
    const [routing] = await pool.listTasks({ tags: [ROUTING_TAG] });
    expect(routing.prompt.startsWith('Classify.\n\n## Task\n\nDo it')).toBe(true);
  });
});

describe('auto', () => {
  it('single: runs the routed prompt; the cost includes the routing call', async () => {
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.auto(
      `Fix it ${reply(decision({ route: 'single', prompt: `Fix the bug ${reply('fixed')} [[sim:cost 0.005]]` }))} [[sim:cost 0.001]]`,
    );
    expect(result.route).toBe('single');
    expect(result.output).toBe('fixed');
    expect(result.success).toBe(true);
    expect(result.routingCostMicrodollars).toBe(1_000);
    expect(result.costMicrodollars).toBe(6_000);
    expect(result.fallbackReason).toBeUndefined();
    expect(pool.status().totalSpendMicrodollars).toBe(6_000);
  });

  it('parallel: fans the prompts out and numbers the outputs', async () => {
    const pool = await simPool((b) => b.slots(2));
    const result = await pool.autoWithHints(
      `Review three files ${reply(decision({ route: 'parallel', prompts: [`A ${reply(' one ')}`, `B ${reply('two')}`] }))}`,
      { maxParallel: 2 },
    );
    expect(result.route).toBe('parallel');
    if (result.route !== 'parallel') throw new Error('unreachable');
    expect(result.results.map((r) => r.output)).toEqual([' one ', 'two']);
    expect(result.output).toBe('[0] one\n[1] two');
    expect(result.costMicrodollars).toBe(3 * 1_000);
  });

  it('chain: submits a real chain, reports it, and passes {previous_output} between steps', async () => {
    const pool = await simPool((b) => b.slots(1));
    const seen: string[] = [];
    const result = await pool.auto(
      `Investigate then fix ${reply(
        decision({
          route: 'chain',
          steps: [
            { name: 'investigate', prompt: `Look ${reply('cause: slow regex')}` },
            { name: 'fix', prompt: 'Fix this: {previous_output} [[sim:echo-args]]' },
          ],
        }),
      )}`,
      {},
      {
        isolation: 'none',
        onChainSubmitted: (id) => {
          seen.push(id);
          pool
            .chain$(id)
            .subscribe((progress) => seen.push(`${progress.completedSteps.length}/${progress.totalSteps}`));
        },
      },
    );
    expect(result.route).toBe('chain');
    if (result.route !== 'chain') throw new Error('unreachable');
    expect(seen[0]).toBe(result.chainId);
    expect(seen).toContain('2/2');
    expect(result.result.steps.map((s) => s.name)).toEqual(['investigate', 'fix']);
    expect(result.output).toContain('Fix this: cause: slow regex');
    expect(pool.chainProgress(result.chainId).status).toBe('completed');
    expect(result.costMicrodollars).toBe(3 * 1_000);
  });

  it('chain: aborting the signal cancels the running chain', async () => {
    const pool = await simPool((b) => b.slots(1));
    const controller = new AbortController();
    const result = await pool.auto(
      `Long work ${reply(
        decision({
          route: 'chain',
          steps: [
            { name: 'a', prompt: 'wait [[sim:hang]]' },
            { name: 'b', prompt: 'never' },
          ],
        }),
      )}`,
      {},
      {
        isolation: 'none',
        onChainSubmitted: (id) => {
          pool.chain$(id).subscribe((progress) => {
            if (progress.currentStepName === 'a') controller.abort();
          });
          if (pool.chainProgress(id).currentStepName === 'a') controller.abort();
        },
        signal: controller.signal,
      },
    );
    expect(result.route).toBe('chain');
    if (result.route !== 'chain') throw new Error('unreachable');
    expect(result.success).toBe(false);
    expect(pool.chainProgress(result.chainId).status).toBe('cancelled');
    expect(result.result.steps[1]).toMatchObject({ name: 'b', skipped: true });
  });

  it('falls back to a single run of the original task when the reply is malformed', async () => {
    const pool = await simPool((b) => b.slots(1));
    const result = await pool.auto(`Tidy the repo ${firstReply('route-fallback', '{"route":"sideways"}')}`);
    expect(result.route).toBe('single');
    expect(result.fallbackReason).toMatch(/unknown route "sideways"/);
    expect(result.decision.route).toBe('single');
    expect(result.output).toMatch(/^Simulated answer to: Tidy the repo/);
    expect(result.costMicrodollars).toBe(2_000);
    const tasks = await pool.listTasks();
    expect(tasks).toHaveLength(2);
  });

  it('falls back to a single run when the routing task itself fails', async () => {
    const pool = await simPool((b) => b.slots(1));
    const reasons: string[] = [];
    const result = await pool.auto(
      `Tidy ${reply('done')} [[sim:fail-times 1 route-fails 500]]`,
      {},
      { onFallback: (r) => reasons.push(r) },
    );
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/routing task failed: API Error: 500/);
    expect(result.route).toBe('single');
    expect(result.output).toBe('done');
    expect(result.success).toBe(true);
  });

  it('a budget refusal is not swallowed by the fallback', async () => {
    const pool = await simPool((b) =>
      b.slots(1).config({ budgetMicrodollars: 1_000, minTaskReserveMicrodollars: 100 }),
    );
    await pool.run('spend it all [[sim:cost 0.002]]');
    await expect(pool.auto('more work')).rejects.toMatchObject({ code: 'budget_exhausted' });
  });
});

describe('route-test harness', () => {
  it('routes each case of a file and reports accuracy, as text and as data', async () => {
    const pool = await simPool((b) => b.slots(1));
    const cases = parseRouteTestCases(
      JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../fixtures/routing/cases.json'), 'utf8')),
    );
    const report = await runRouteTest(pool, cases);
    expect(report.outcomes.map((o) => [o.label, o.got ?? null, o.pass])).toEqual([
      ['typo fix', 'single', true],
      ['three reviews', 'parallel', true],
      ['investigate then fix', 'single', false],
      ['anything goes', null, false],
    ]);
    expect(report.outcomes[1].subCount).toBe(3);
    expect(report).toMatchObject({ total: 4, correct: 2, wrong: 1, errors: 1 });
    expect(report.accuracyPercent).toBeCloseTo(66.667, 2);
    const routing = await pool.listTasks({ tags: [ROUTING_TAG] });
    expect(routing[1].prompt).toContain('- Maximum parallel tasks: 3');
    const text = formatRouteTestReport(report);
    expect(text).toMatch(/^result\s+label\s+expected\s+got/);
    expect(text).toMatch(/PASS\s+three reviews\s+parallel\s+parallel\(3\)/);
    expect(text).toMatch(/ERROR\s+anything goes\s+any\s+-/);
    expect(text).toContain('--- Results ---\ntotal 4, correct 2, wrong 1, errors 1\naccuracy 66.7%');
  });

  it('rejects an invalid case file naming every problem', () => {
    expect(() =>
      parseRouteTestCases([{ label: '', prompt: 'x', expected: 'sideways', hints: { max_parallel: 0 } }]),
    ).toThrow(
      'invalid route-test cases: cases[0].label must be a non-empty string; cases[0].expected must be one or more of single, parallel, chain, any; cases[0].hints.max_parallel must be an integer >= 1',
    );
    expect(() => parseRouteTestCases([])).toThrow(/non-empty list/);
  });
});
