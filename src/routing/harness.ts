/**
 * The route-test harness: routes labelled cases one after another and measures how often the router picks
 * an expected route.
 */
import { ROUTE_NAMES, ROUTE_PREFERENCES, type AutoHint, type AutoRoute, type RoutePreference } from './types.js';
import { route, type RoutingPool } from './route.js';

/** One case: a prompt and the routes that count as right (`any` matches every route). */
export interface RouteTestCase {
  label: string;
  prompt: string;
  expected: string[];
  hints?: AutoHint;
}

/** What one case gave. */
export interface RouteTestOutcome {
  label: string;
  prompt: string;
  expected: string[];
  /** The route chosen; absent when routing failed. */
  got?: string;
  /** The full decision; absent when routing failed. */
  route?: AutoRoute;
  pass: boolean;
  /** Why routing failed. */
  error?: string;
  elapsedMs: number;
  /** Parallel prompts or chain steps in the decision. */
  subCount?: number;
  costMicrodollars: number;
}

/** The whole run. */
export interface RouteTestReport {
  outcomes: RouteTestOutcome[];
  total: number;
  correct: number;
  wrong: number;
  errors: number;
  /** correct / (total − errors) × 100; 0 when every case failed to route. */
  accuracyPercent: number;
  totalElapsedMs: number;
  totalCostMicrodollars: number;
}

/** A route-test file is invalid. */
export class RouteTestCaseError extends Error {
  override readonly name = 'RouteTestCaseError';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readHints(raw: unknown, where: string, problems: string[]): AutoHint | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) {
    problems.push(`${where} must be an object`);
    return undefined;
  }
  const hints: AutoHint = {};
  const count = (key: string, value: unknown): number | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      problems.push(`${where}.${key} must be an integer >= 1`);
      return undefined;
    }
    return value;
  };
  const maxParallel = count('max_parallel', raw.max_parallel ?? raw.maxParallel);
  const maxChainSteps = count('max_chain_steps', raw.max_chain_steps ?? raw.maxChainSteps);
  if (maxParallel !== undefined) hints.maxParallel = maxParallel;
  if (maxChainSteps !== undefined) hints.maxChainSteps = maxChainSteps;
  if (raw.prefer !== undefined && raw.prefer !== null) {
    if (ROUTE_PREFERENCES.includes(raw.prefer as RoutePreference)) hints.prefer = raw.prefer as RoutePreference;
    else problems.push(`${where}.prefer must be one of ${ROUTE_PREFERENCES.join(', ')}`);
  }
  if (raw.domain !== undefined && raw.domain !== null) {
    if (typeof raw.domain === 'string') hints.domain = raw.domain;
    else problems.push(`${where}.domain must be a string`);
  }
  const boundaries = raw.decomposition_hints ?? raw.decompositionHints;
  if (boundaries !== undefined && boundaries !== null) {
    if (Array.isArray(boundaries) && boundaries.every((b) => typeof b === 'string'))
      hints.decompositionHints = [...boundaries];
    else problems.push(`${where}.decomposition_hints must be a list of strings`);
  }
  return hints;
}

/**
 * Validates route-test cases (a list, or `{cases: [...]}`): each has a non-empty `label` and `prompt`,
 * `expected` as a route name or a list of them (`single`, `parallel`, `chain`, `any`), and optional
 * `hints` (snake_case or camelCase). Every problem is reported at once.
 */
export function parseRouteTestCases(value: unknown): RouteTestCase[] {
  const list = isObject(value) && Array.isArray(value.cases) ? value.cases : value;
  if (!Array.isArray(list) || list.length === 0)
    throw new RouteTestCaseError('route-test cases: expected a non-empty list of cases');
  const problems: string[] = [];
  const cases: RouteTestCase[] = [];
  list.forEach((raw: unknown, index) => {
    const where = `cases[${index}]`;
    if (!isObject(raw)) {
      problems.push(`${where} must be an object`);
      return;
    }
    const label = typeof raw.label === 'string' && raw.label.trim() !== '' ? raw.label : undefined;
    if (label === undefined) problems.push(`${where}.label must be a non-empty string`);
    const prompt = typeof raw.prompt === 'string' && raw.prompt.trim() !== '' ? raw.prompt : undefined;
    if (prompt === undefined) problems.push(`${where}.prompt must be a non-empty string`);
    const expectedRaw = typeof raw.expected === 'string' ? [raw.expected] : raw.expected;
    const valid = [...ROUTE_NAMES, 'any'];
    let expected: string[] | undefined;
    if (
      !Array.isArray(expectedRaw) ||
      expectedRaw.length === 0 ||
      !expectedRaw.every((e) => typeof e === 'string' && valid.includes(e.toLowerCase()))
    ) {
      problems.push(`${where}.expected must be one or more of ${valid.join(', ')}`);
    } else {
      expected = expectedRaw.map((e: string) => e.toLowerCase());
    }
    const hints = readHints(raw.hints, `${where}.hints`, problems);
    if (label !== undefined && prompt !== undefined && expected !== undefined) {
      cases.push(hints ? { label, prompt, expected, hints } : { label, prompt, expected });
    }
  });
  if (problems.length > 0) throw new RouteTestCaseError(`invalid route-test cases: ${problems.join('; ')}`);
  return cases;
}

function subCount(decision: AutoRoute): number | undefined {
  if (decision.route === 'parallel') return decision.prompts.length;
  if (decision.route === 'chain') return decision.steps.length;
  return undefined;
}

/** Routes every case, one after another, and summarises. A case whose routing fails counts as an error. */
export async function runRouteTest(
  pool: RoutingPool,
  cases: readonly RouteTestCase[],
  options: { onOutcome?: (outcome: RouteTestOutcome, index: number) => void; now?: () => number } = {},
): Promise<RouteTestReport> {
  const now = options.now ?? Date.now;
  const outcomes: RouteTestOutcome[] = [];
  for (const [index, testCase] of cases.entries()) {
    const started = now();
    let outcome: RouteTestOutcome;
    try {
      const decided = await route(pool, testCase.prompt, testCase.hints ? { hints: testCase.hints } : {});
      const got = decided.decision.route;
      outcome = {
        label: testCase.label,
        prompt: testCase.prompt,
        expected: testCase.expected,
        got,
        route: decided.decision,
        pass: testCase.expected.includes('any') || testCase.expected.includes(got),
        elapsedMs: now() - started,
        costMicrodollars: decided.routingCostMicrodollars,
      };
      const count = subCount(decided.decision);
      if (count !== undefined) outcome.subCount = count;
    } catch (error) {
      outcome = {
        label: testCase.label,
        prompt: testCase.prompt,
        expected: testCase.expected,
        pass: false,
        error: error instanceof Error ? error.message : String(error),
        elapsedMs: now() - started,
        costMicrodollars: (error as { routingCostMicrodollars?: number }).routingCostMicrodollars ?? 0,
      };
    }
    outcomes.push(outcome);
    options.onOutcome?.(outcome, index);
  }
  const errors = outcomes.filter((o) => o.error !== undefined).length;
  const correct = outcomes.filter((o) => o.pass).length;
  const total = outcomes.length;
  const routed = total - errors;
  return {
    outcomes,
    total,
    correct,
    wrong: routed - correct,
    errors,
    accuracyPercent: routed === 0 ? 0 : (correct / routed) * 100,
    totalElapsedMs: outcomes.reduce((sum, o) => sum + o.elapsedMs, 0),
    totalCostMicrodollars: outcomes.reduce((sum, o) => sum + o.costMicrodollars, 0),
  };
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** The report as a text table (one row per case) ending with a `--- Results ---` summary. */
export function formatRouteTestReport(report: RouteTestReport): string {
  const rows = report.outcomes.map((o) => [
    o.error !== undefined ? 'ERROR' : o.pass ? 'PASS' : 'FAIL',
    o.label,
    o.expected.join('|'),
    o.got === undefined ? '-' : o.subCount === undefined ? o.got : `${o.got}(${o.subCount})`,
    `${o.elapsedMs}ms`,
    o.error ?? '',
  ]);
  const header = ['result', 'label', 'expected', 'got', 'time', 'error'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i])))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    '--- Results ---',
    `total ${report.total}, correct ${report.correct}, wrong ${report.wrong}, errors ${report.errors}`,
    `accuracy ${report.accuracyPercent.toFixed(1)}% (correct / (total - errors))`,
    `elapsed ${report.totalElapsedMs}ms, routing cost $${(report.totalCostMicrodollars / 1e6).toFixed(4)}`,
  ].join('\n');
}
