/**
 * Tool-permission questions as the pool answers them. A run whose pool (or slot) has permission settings runs in
 * a stream-json session with `--permission-prompt-tool stdio`; each `can_use_tool` request of its agent becomes
 * a question here:
 *
 * 1. the task moves to Running.AwaitingPermission (`PERMISSION.REQUESTED`) and `permission.requested` is
 *    published on `events$`;
 * 2. it is answered, in this order, by the slot's rules and policy, then the pool's (deny rules, allow rules,
 *    then the policy function; a policy that returns nothing leaves the question open); else by an answer from
 *    outside (`pool.answerPermission`, the MCP tool `pool_answer_permission`, `POST /permissions/{id}`); else,
 *    when `answerTimeoutMs` has passed, by a denial that says so;
 * 3. the task goes back to Running.Working (`PERMISSION.ANSWERED`; it stays AwaitingPermission while other
 *    questions are open) and `permission.answered` is published, with the decision and who made it.
 *
 * A run that ends while a question is open (a cancel, a timeout) denies it (`answeredBy: 'cancelled'`).
 */
import { Subject } from 'rxjs';
import type { PendingPermission, SlotId, TaskId } from '../../machines/types.js';
import type { PermissionDecision, ToolPermissionQuestion } from '../agent/control-protocol.js';
import { isPermissionDecision } from '../agent/control-protocol.js';
import { InvalidInput, PermissionRequestNotFound } from '../errors.js';
import { newId } from '../ids.js';

export type { PermissionDecision } from '../agent/control-protocol.js';

/** The default time a question waits for an answer from outside before it is denied. */
export const DEFAULT_PERMISSION_TIMEOUT_MS = 60_000;

/** A tool-permission question, as the pool publishes it. */
export interface PermissionRequest extends PendingPermission {
  taskId: TaskId;
  slotId: SlotId;
}

/** A policy's answer: a decision, `'allow'` / `'deny'` for short, or `undefined` to leave it to others. */
export type PolicyAnswer = PermissionDecision | 'allow' | 'deny' | undefined;

/** Decides tool-permission questions in code (sync or async). Throwing denies the call. */
export type PermissionPolicy = (request: PermissionRequest) => PolicyAnswer | Promise<PolicyAnswer>;

/**
 * How a pool or a slot answers its agents' tool-permission questions. Rules are `Tool` (any call of the tool),
 * `Tool(pattern)` (a call whose main argument — file path, command, path, URL — matches the `*` pattern) or
 * `*` (any tool).
 */
export interface PermissionOptions {
  /** Calls denied at once (checked first). */
  deny?: string[];
  /** Calls allowed at once. */
  allow?: string[];
  /** Decides what the rules leave open; returning `undefined` waits for an answer from outside. */
  policy?: PermissionPolicy;
  /** How long a question waits for an answer from outside before it is denied (default 60 s). */
  answerTimeoutMs?: number;
}

/** Who answered a question. */
export type PermissionAnsweredBy = 'rules' | 'policy' | 'answer' | 'deadline' | 'cancelled';

/** The permission events `events$` carries. */
export type PermissionEvent =
  | { type: 'permission.requested'; request: PermissionRequest }
  | {
      type: 'permission.answered';
      request: PermissionRequest;
      decision: PermissionDecision;
      answeredBy: PermissionAnsweredBy;
    };

/** What the broker needs from the pool. */
export interface PermissionBrokerDeps {
  /** Sends an event to a task's actor (nothing when the task has ended). */
  sendToTask(taskId: TaskId, event: TaskPermissionEvent): void;
  now(): number;
}

/** The task statechart's permission events. */
export type TaskPermissionEvent =
  | { type: 'PERMISSION.REQUESTED'; request: PendingPermission }
  | { type: 'PERMISSION.ANSWERED'; requestId: string; at: number };

interface OpenQuestion {
  request: PermissionRequest;
  finish: (decision: PermissionDecision, answeredBy: PermissionAnsweredBy) => void;
}

/** Validates permission options; throws `InvalidInput`. */
export function validatePermissionOptions(options: PermissionOptions, where: string): void {
  for (const key of ['allow', 'deny'] as const) {
    const rules = options[key];
    if (rules === undefined) continue;
    if (!Array.isArray(rules) || rules.some((r) => typeof r !== 'string' || parseRule(r) === undefined)) {
      throw new InvalidInput(`${where}.${key} must be a list of rules like "Write", "Bash(git *)" or "*"`);
    }
  }
  if (options.policy !== undefined && typeof options.policy !== 'function') {
    throw new InvalidInput(`${where}.policy must be a function`);
  }
  const t = options.answerTimeoutMs;
  if (t !== undefined && !(typeof t === 'number' && Number.isFinite(t) && t > 0)) {
    throw new InvalidInput(`${where}.answerTimeoutMs must be a number > 0, got ${JSON.stringify(t)}`);
  }
}

/** The questions of one pool: asked by runs, answered by rules, policies, callers or the deadline. */
export class PermissionBroker {
  private readonly subject = new Subject<PermissionEvent>();
  private readonly open = new Map<string, OpenQuestion>();
  /** Every permission event, synchronously as it happens. */
  readonly events$ = this.subject.asObservable();

  constructor(
    private readonly deps: PermissionBrokerDeps,
    private readonly pool: PermissionOptions | undefined,
    private readonly slots: ReadonlyMap<SlotId, PermissionOptions> = new Map(),
  ) {}

  /** The question handler for a run on `slotId`, or `undefined` when no one answers for that slot. */
  askerFor(
    slotId: SlotId,
    taskId: TaskId,
  ): ((question: ToolPermissionQuestion, signal: AbortSignal) => Promise<PermissionDecision>) | undefined {
    const slot = this.slots.get(slotId);
    if (!this.pool && !slot) return undefined;
    return (question, signal) => this.ask(slotId, taskId, question, signal, slot);
  }

  /** The open questions, oldest first. */
  pending(): PermissionRequest[] {
    return [...this.open.values()].map((q) => q.request);
  }

  /** Answers an open question; `PermissionRequestNotFound` when there is none with this id. */
  answer(requestId: string, decision: PermissionDecision): void {
    if (!isPermissionDecision(decision)) {
      throw new InvalidInput(
        'a permission decision is {behavior: "allow", updatedInput?: object} or {behavior: "deny", message: string}',
      );
    }
    const question = this.open.get(requestId);
    if (!question) throw new PermissionRequestNotFound(requestId);
    question.finish(decision, 'answer');
  }

  /** Ends the event stream. */
  close(): void {
    this.subject.complete();
  }

  private ask(
    slotId: SlotId,
    taskId: TaskId,
    question: ToolPermissionQuestion,
    signal: AbortSignal,
    slot: PermissionOptions | undefined,
  ): Promise<PermissionDecision> {
    const at = this.deps.now();
    const timeoutMs = slot?.answerTimeoutMs ?? this.pool?.answerTimeoutMs ?? DEFAULT_PERMISSION_TIMEOUT_MS;
    const request: PermissionRequest = {
      requestId: newId('perm'),
      taskId,
      slotId,
      toolName: question.toolName,
      input: question.input,
      requestedAtMs: at,
      deadlineAtMs: at + timeoutMs,
    };
    if (question.toolUseId !== undefined) request.toolUseId = question.toolUseId;
    return new Promise<PermissionDecision>((resolve) => {
      let done = false;
      const deadline: { timer?: NodeJS.Timeout } = {};
      const onAbort = (): void =>
        finish(
          { behavior: 'deny', message: 'The task was cancelled before this tool call was answered.' },
          'cancelled',
        );
      const finish = (decision: PermissionDecision, answeredBy: PermissionAnsweredBy): void => {
        if (done) return;
        done = true;
        if (deadline.timer) clearTimeout(deadline.timer);
        signal.removeEventListener('abort', onAbort);
        this.open.delete(request.requestId);
        this.deps.sendToTask(taskId, {
          type: 'PERMISSION.ANSWERED',
          requestId: request.requestId,
          at: this.deps.now(),
        });
        this.subject.next({ type: 'permission.answered', request, decision, answeredBy });
        resolve(decision);
      };
      this.open.set(request.requestId, { request, finish });
      const { taskId: _t, slotId: _s, ...pending } = request;
      this.deps.sendToTask(taskId, { type: 'PERMISSION.REQUESTED', request: pending });
      this.subject.next({ type: 'permission.requested', request });
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      deadline.timer = setTimeout(
        () =>
          finish(
            {
              behavior: 'deny',
              message: `No answer to the request to use ${request.toolName} within ${formatMs(timeoutMs)}: denied.`,
            },
            'deadline',
          ),
        timeoutMs,
      );
      void decide(request, [slot, this.pool]).then((decided) => {
        if (decided) finish(decided.decision, decided.by);
      });
    });
  }
}

/** The first decision the rules and policies give, in order, or `undefined` when all leave it open. */
async function decide(
  request: PermissionRequest,
  sources: (PermissionOptions | undefined)[],
): Promise<{ decision: PermissionDecision; by: PermissionAnsweredBy } | undefined> {
  for (const options of sources) {
    if (!options) continue;
    const denied = options.deny?.find((rule) => ruleMatches(rule, request));
    if (denied !== undefined) {
      return { decision: { behavior: 'deny', message: `Denied by the rule ${denied}.` }, by: 'rules' };
    }
    if (options.allow?.some((rule) => ruleMatches(rule, request)))
      return { decision: { behavior: 'allow' }, by: 'rules' };
    if (options.policy) {
      let answer: PolicyAnswer;
      try {
        answer = await options.policy(request);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { decision: { behavior: 'deny', message: `The permission policy failed: ${message}` }, by: 'policy' };
      }
      if (answer === 'allow') return { decision: { behavior: 'allow' }, by: 'policy' };
      if (answer === 'deny') {
        return { decision: { behavior: 'deny', message: `Denied by the permission policy.` }, by: 'policy' };
      }
      if (answer !== undefined) {
        if (isPermissionDecision(answer)) return { decision: answer, by: 'policy' };
        return {
          decision: { behavior: 'deny', message: 'The permission policy gave an answer that is not a decision.' },
          by: 'policy',
        };
      }
    }
  }
  return undefined;
}

/** `Tool`, `Tool(pattern)` or `*`, parsed; `undefined` when malformed. */
function parseRule(rule: string): { tool: string; pattern?: string } | undefined {
  const m = /^\s*([A-Za-z0-9_*:.-]+)\s*(?:\((.*)\))?\s*$/.exec(rule);
  if (!m) return undefined;
  return m[2] === undefined ? { tool: m[1] } : { tool: m[1], pattern: m[2] };
}

/** True when the rule covers the call. */
export function ruleMatches(rule: string, request: Pick<PermissionRequest, 'toolName' | 'input'>): boolean {
  const parsed = parseRule(rule);
  if (!parsed) return false;
  if (parsed.tool !== '*' && parsed.tool !== request.toolName) return false;
  if (parsed.pattern === undefined) return true;
  const subject = mainArgument(request.input);
  return subject !== undefined && globToRegExp(parsed.pattern).test(subject);
}

/** The argument a rule's pattern is matched against: file path, command, path, URL or pattern. */
function mainArgument(input: Record<string, unknown>): string | undefined {
  for (const key of ['file_path', 'notebook_path', 'command', 'path', 'url', 'pattern']) {
    if (typeof input[key] === 'string') return input[key];
  }
  return undefined;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 's');
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
