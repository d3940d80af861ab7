/** In-process agent runners shared by the benchmarks: no child process, so they measure the pool's machinery. */
import type { AgentOutcome, AgentRunner } from '../src/agent/types.js';

/** A successful one-turn outcome that echoes the prompt. */
export function okOutcome(prompt: string): AgentOutcome {
  return {
    kind: 'ok',
    result: { output: prompt, success: true, costMicrodollars: 1, turnsUsed: 1, elapsedMs: 0, sessionId: 's' },
    sessionCostUsd: 0.000001,
  };
}

/** A runner that answers at once. */
export const instantRunner: AgentRunner = {
  async run(request) {
    return okOutcome(request.prompt);
  },
};

/** A runner that answers after `ms`, calling `onStart` when a run begins. */
export function sleepingRunner(ms: number, onStart?: () => void): AgentRunner {
  return {
    run(request) {
      onStart?.();
      return new Promise((resolve) => setTimeout(() => resolve(okOutcome(request.prompt)), ms));
    },
  };
}

/** Times one call, in milliseconds. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}
