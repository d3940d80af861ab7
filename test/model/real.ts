/**
 * Helpers for level (b): replaying model paths on the real Pool with the simulated agent.
 */
import { isDeepStrictEqual } from 'node:util';

/** Polls until `check` is true; fails with `what` when the time is up. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Compares what the real pool shows with what the model predicts, several views at once (`name → [seen,
 * expected]`); throws one error listing every view that disagrees.
 */
export function compareStep(where: string, views: Record<string, [unknown, unknown]>): void {
  const wrong = Object.entries(views).filter(([, [seen, expected]]) => !isDeepStrictEqual(seen, expected));
  if (wrong.length === 0) return;
  const lines = wrong.map(
    ([name, [seen, expected]]) => `  ${name}: model ${JSON.stringify(expected)}, pool ${JSON.stringify(seen)}`,
  );
  throw new Error(`${where}: the real pool disagrees with the model\n${lines.join('\n')}`);
}

/** Thrown for a model event that no public operation can cause; the path is skipped and counted. */
export class NotDrivable extends Error {}
