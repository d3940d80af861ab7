/**
 * Per-session totals of the simulated agent, so `--resume` can report a cumulative `total_cost_usd`
 * the way the real CLI does. One JSON file per session in `<state dir>/simulated-sessions/<id>.json`,
 * written atomically (temp file + rename).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ModelTotals } from './messages.js';

/** What is stored for one session. */
export interface SessionState {
  version: 1;
  sessionId: string;
  /** The cwd of the run that created the session (`--continue` looks sessions up by cwd). */
  cwd: string;
  createdAt: string;
  updatedAt: string;
  /** Cost of every run of the session so far. */
  totalCostUsd: number;
  /** Per-model totals of every run so far. */
  modelUsage: Record<string, ModelTotals>;
  /** How many runs wrote a result for this session. */
  runs: number;
}

/**
 * The folder holding the session files: `$CLAUDE_POOL_SIM_STATE_DIR`, else `$CLAUDE_CONFIG_DIR`,
 * else `$HOME/.claude`, each followed by `simulated-sessions/`.
 */
export function sessionsDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.CLAUDE_POOL_SIM_STATE_DIR || env.CLAUDE_CONFIG_DIR || join(env.HOME || homedir(), '.claude');
  return join(base, 'simulated-sessions');
}

/** Only ids that are safe as a file name can name a stored session. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Reads a stored session; `undefined` when there is none (or the id is not a safe file name). */
export function loadSession(dir: string, sessionId: string): SessionState | undefined {
  if (!SAFE_ID.test(sessionId)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(join(dir, `${sessionId}.json`), 'utf8')) as SessionState;
    if (parsed && typeof parsed === 'object' && parsed.sessionId === sessionId) return parsed;
  } catch {
    // missing or unreadable: no such session
  }
  return undefined;
}

/** Writes a session file atomically. */
export function saveSession(dir: string, state: SessionState): void {
  if (!SAFE_ID.test(state.sessionId)) return;
  mkdirSync(dir, { recursive: true });
  const target = join(dir, `${state.sessionId}.json`);
  const tmp = `${target}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, target);
}

/** The most recently updated session whose cwd is `cwd` (what `--continue` picks). */
export function latestSessionIn(dir: string, cwd: string): SessionState | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return undefined;
  }
  let best: SessionState | undefined;
  for (const name of names) {
    const s = loadSession(dir, name.slice(0, -'.json'.length));
    if (s && s.cwd === cwd && (!best || s.updatedAt > best.updatedAt)) best = s;
  }
  return best;
}

/** Adds one run's per-model totals to a session's. */
export function mergeUsage(
  into: Record<string, ModelTotals>,
  add: Record<string, ModelTotals>,
): Record<string, ModelTotals> {
  const out: Record<string, ModelTotals> = {};
  for (const [m, t] of Object.entries(into)) out[m] = { ...t };
  for (const [m, t] of Object.entries(add)) {
    const cur = out[m] ?? { inputTokens: 0, outputTokens: 0, thinkingTokens: 0, costUSD: 0 };
    out[m] = {
      inputTokens: cur.inputTokens + t.inputTokens,
      outputTokens: cur.outputTokens + t.outputTokens,
      thinkingTokens: cur.thinkingTokens + t.thinkingTokens,
      costUSD: roundUsd(cur.costUSD + t.costUSD),
    };
  }
  return out;
}

/** Rounds away float noise (0.1 + 0.2) while keeping every meaningful digit of a USD amount. */
export function roundUsd(x: number): number {
  return Math.round(x * 1e12) / 1e12;
}
