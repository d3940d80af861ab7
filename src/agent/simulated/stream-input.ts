/**
 * The simulated agent in `--input-format stream-json` mode: stdin stays open and carries one JSON message per
 * line, as the real CLI reads it.
 *
 * - `{"type":"user","message":{"role":"user","content":…}}`: a turn. Its text is read for `[[sim:…]]`
 *   directives and played like a `-p` run (its own `system/init` … `result`); turns run one after another, and
 *   `total_cost_usd` accumulates across them.
 * - `{"type":"control_request","request":{"subtype":"interrupt"}}`: ends the current turn as SIGINT does (the
 *   interrupted `user` line and an `error_during_execution` result), then answers with a `control_response`.
 *   The process lives on for the next turn. Other control requests (`initialize`, …) are answered with success.
 * - `{"type":"control_response",…}`: the answer to a `can_use_tool` question the agent asked (with
 *   `--permission-prompt-tool stdio`) before a `[[sim:ask …]]` tool call.
 *
 * At end of input the agent finishes the turns it has and exits 0. A question still open then is denied with
 * the real CLI's "stream closed" message.
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { DirectiveError, parseDirectives } from './directives.js';
import type { StdoutWriter } from './output.js';
import { Playback, PERMISSION_STREAM_CLOSED, SIGTERM_EXIT_CODE, type HostDecision } from './playback.js';
import { applyRunCounters, startSideEffects, stderr, type RunSession, type RunSetup } from './setup.js';
import { sessionsDir, type SessionState } from './sessions.js';

/** The tool error of an allow without `updatedInput` (the real CLI's validation failure, shortened). */
export const ALLOW_WITHOUT_INPUT =
  'Tool permission request failed: ZodError: updatedInput: Invalid input: expected record, received undefined';

/** A question waiting for the host's `control_response`. */
interface OpenQuestion {
  resolve: (decision: HostDecision) => void;
  reject: (error: Error) => void;
}

/** Plays the turns stdin brings, one after another, until end of input. */
export class StreamInputSession {
  private readonly prompts: string[] = [];
  private readonly questions = new Map<string, OpenQuestion>();
  private current?: Playback;
  private inputEnded = false;
  private wake?: () => void;
  /** The session's totals after each turn (the next turn's result adds to them). */
  private totals?: SessionState;

  constructor(
    private readonly setup: RunSetup,
    private readonly out: StdoutWriter,
  ) {
    this.totals = setup.session.prior;
  }

  /** Reads stdin and plays every turn; returns the exit code. */
  async run(): Promise<number> {
    this.installSignalHandlers();
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    lines.on('line', (line) => this.onLine(line));
    lines.on('close', () => {
      this.inputEnded = true;
      for (const question of this.questions.values()) question.reject(new Error(PERMISSION_STREAM_CLOSED));
      this.questions.clear();
      this.wake?.();
    });
    try {
      for (;;) {
        const prompt = await this.nextPrompt();
        if (prompt === undefined) return 0;
        const turn = await this.playTurn(prompt);
        if (turn.end) return turn.code;
      }
    } finally {
      // Stop reading, so the process can end even while the host keeps stdin open.
      lines.close();
      process.stdin.destroy();
    }
  }

  private async nextPrompt(): Promise<string | undefined> {
    while (this.prompts.length === 0) {
      if (this.inputEnded) return undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    return this.prompts.shift();
  }

  /** One turn: the prompt's directives played as a `-p` run of the same session. */
  private async playTurn(prompt: string): Promise<{ code: number; end: boolean }> {
    let script;
    try {
      script = parseDirectives(prompt);
    } catch (err) {
      if (!(err instanceof DirectiveError)) throw err;
      stderr(`Error: simulated agent: ${err.message}`);
      return { code: 1, end: true };
    }
    const { setup } = this;
    applyRunCounters(script, sessionsDir(setup.env));
    startSideEffects(script, setup.cwd);
    const base = setup.session;
    const session: RunSession = {
      sessionId: base.sessionId,
      prior: this.totals,
      persist: (costUsd, usage, countRun) => {
        base.persist(costUsd, usage, countRun);
        const now = new Date().toISOString();
        this.totals = {
          version: 1,
          sessionId: base.sessionId,
          cwd: this.totals?.cwd ?? setup.cwd,
          createdAt: this.totals?.createdAt ?? now,
          updatedAt: now,
          totalCostUsd: costUsd,
          modelUsage: usage,
          runs: (this.totals?.runs ?? 0) + (countRun ? 1 : 0),
        };
      },
    };
    const turn: RunSetup = {
      ...setup,
      script,
      flags: { ...setup.flags, prompt },
      startedAt: Date.now(),
      session,
    };
    const playback = new Playback(turn, this.out, { askPermission: (block, signal) => this.ask(block, signal) });
    this.current = playback;
    try {
      const code = await playback.run();
      // A crash ends the process (no result); every other turn leaves it waiting for the next message.
      return { code, end: script.crash !== undefined };
    } finally {
      this.current = undefined;
    }
  }

  /** Prints a `can_use_tool` request and waits for its answer (or the turn's interrupt, or end of input). */
  private ask(block: { id: string; name: string; input: unknown }, signal: AbortSignal): Promise<HostDecision> {
    if (this.inputEnded) return Promise.reject(new Error(PERMISSION_STREAM_CLOSED));
    const requestId = randomUUID();
    const input = (block.input ?? {}) as { file_path?: string };
    const request = {
      type: 'control_request',
      request_id: requestId,
      request: {
        subtype: 'can_use_tool',
        tool_name: block.name,
        display_name: block.name,
        input: block.input,
        ...(input.file_path ? { description: input.file_path.split('/').pop() } : {}),
        permission_suggestions: [{ type: 'setMode', mode: 'acceptEdits', destination: 'session' }],
        tool_use_id: block.id,
      },
    };
    return new Promise<HostDecision>((resolve, reject) => {
      const onAbort = (): void => {
        this.questions.delete(requestId);
        reject(new Error('interrupted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.questions.set(requestId, {
        resolve: (decision) => {
          signal.removeEventListener('abort', onAbort);
          resolve(decision);
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      void this.out.write(`${JSON.stringify(request)}\n`);
    });
  }

  private onLine(line: string): void {
    const trimmed = line.trim();
    if (trimmed === '') return;
    let message: unknown;
    try {
      message = JSON.parse(trimmed);
    } catch {
      stderr(`Warning: simulated agent: ignoring a stdin line that is not JSON: ${trimmed.slice(0, 80)}`);
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const m = message as {
      type?: unknown;
      message?: unknown;
      request_id?: unknown;
      request?: unknown;
      response?: unknown;
    };
    if (m.type === 'user') {
      this.prompts.push(userText(m.message));
      this.wake?.();
    } else if (m.type === 'control_request') {
      const requestId = typeof m.request_id === 'string' ? m.request_id : randomUUID();
      const subtype = (m.request as { subtype?: unknown } | undefined)?.subtype;
      if (subtype === 'interrupt') this.current?.interrupt();
      void this.out.write(
        `${JSON.stringify({ type: 'control_response', response: { subtype: 'success', request_id: requestId, response: {} } })}\n`,
      );
    } else if (m.type === 'control_response') {
      this.onAnswer(m.response);
    }
  }

  /** A `control_response` to one of our questions. */
  private onAnswer(response: unknown): void {
    const r = response as { request_id?: unknown; subtype?: unknown; response?: unknown; error?: unknown } | undefined;
    if (typeof r?.request_id !== 'string') return;
    const question = this.questions.get(r.request_id);
    if (!question) return;
    this.questions.delete(r.request_id);
    const decision = r.response as { behavior?: unknown; message?: unknown; updatedInput?: unknown } | undefined;
    if (r.subtype !== 'success' || !decision) {
      question.reject(new Error(`Tool permission request failed: ${typeof r.error === 'string' ? r.error : 'error'}`));
    } else if (decision.behavior === 'allow') {
      const updated = decision.updatedInput;
      // As the real CLI: an allow must carry the input to run with (it fails the call otherwise).
      if (typeof updated !== 'object' || updated === null || Array.isArray(updated)) {
        question.reject(new Error(ALLOW_WITHOUT_INPUT));
      } else question.resolve({ behavior: 'allow', updatedInput: updated as Record<string, unknown> });
    } else {
      question.resolve({
        behavior: 'deny',
        message: typeof decision.message === 'string' ? decision.message : 'Permission denied.',
      });
    }
  }

  /** SIGINT interrupts the current turn; SIGTERM ends the process at once with 143 (as the real CLI). */
  private installSignalHandlers(): void {
    process.on('SIGINT', () => this.current?.interrupt());
    process.on('SIGTERM', () => {
      this.out.silence();
      const timer = setTimeout(() => process.exit(SIGTERM_EXIT_CODE), 1000);
      void this.out.flush().then(() => {
        clearTimeout(timer);
        process.exit(SIGTERM_EXIT_CODE);
      });
    });
  }
}

/** The text of a user message's content (a string, or its text blocks joined). */
function userText(message: unknown): string {
  const content = (message as { content?: unknown } | undefined)?.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => {
      const b = block as { type?: unknown; text?: unknown };
      return b.type === 'text' && typeof b.text === 'string' ? b.text : '';
    })
    .join('\n');
}
