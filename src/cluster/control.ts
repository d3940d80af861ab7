/**
 * Requests between nodes over Redis pub/sub: a node asks the node that holds a task's actor to cancel it,
 * approve or reject its result, and waits for the answer (or for that node to be gone).
 */
import type { Redis } from 'ioredis';
import { filter, firstValueFrom, map, race, Subject, type Observable } from 'rxjs';
import type { TaskId } from '../../machines/types.js';
import { PoolError, type PoolErrorCode } from '../errors.js';
import { newId } from '../ids.js';

/** What one node asks another to do with a task. */
export type ControlAction =
  | { kind: 'cancel' }
  | { kind: 'cancel-chain'; immediate: boolean }
  | { kind: 'approve' }
  | { kind: 'reject'; feedback: string }
  | { kind: 'message'; from: string; to: string; content: string }
  | { kind: 'read-messages'; slotId: string; keep: boolean };

/** A request on the control channel (`to`: one node, or every node when absent). */
export interface ControlRequest {
  type: 'request';
  requestId: string;
  from: string;
  to?: string;
  /** The task (or slot) the request is about. */
  taskId: TaskId;
  action: ControlAction;
}

/** The answer to a request: its value on success, else the error the caller throws. */
export interface ControlReply {
  type: 'reply';
  requestId: string;
  to: string;
  value?: unknown;
  error?: { code: PoolErrorCode; message: string };
}

/** The control channel of one node. */
export class ControlChannel {
  private readonly replies = new Subject<ControlReply>();

  constructor(
    private readonly redis: Redis,
    private readonly channel: string,
    private readonly nodeId: string,
    private readonly handle: (request: ControlRequest) => Promise<unknown>,
  ) {}

  /** Handles one message of the control channel. */
  receive(message: string): void {
    const parsed = JSON.parse(message) as ControlRequest | ControlReply;
    if (parsed.type === 'reply') {
      if (parsed.to === this.nodeId) this.replies.next(parsed);
      return;
    }
    if (parsed.to !== undefined && parsed.to !== this.nodeId) return;
    void this.handle(parsed).then(
      (value) => this.reply(parsed, { value }),
      (error: unknown) => this.reply(parsed, { error }),
    );
  }

  /** Tells every node (no answer is awaited). */
  async broadcast(taskId: TaskId, action: ControlAction): Promise<void> {
    const request: ControlRequest = { type: 'request', requestId: newId('msg'), from: this.nodeId, taskId, action };
    await this.redis.publish(this.channel, JSON.stringify(request));
  }

  /**
   * Asks one node and resolves with its answer once it has done it (rejects with its error). `gone` emits if
   * the node leaves before answering; the request then fails.
   */
  async ask(to: string, taskId: TaskId, action: ControlAction, gone: Observable<void>): Promise<unknown> {
    const request: ControlRequest = { type: 'request', requestId: newId('msg'), from: this.nodeId, to, taskId, action };
    // Listening before asking; whichever comes first ends the other.
    const outcome = firstValueFrom(
      race(
        this.replies.pipe(
          filter((reply) => reply.requestId === request.requestId),
          map((reply) => ({ error: reply.error, value: reply.value })),
        ),
        gone.pipe(map(() => 'gone' as const)),
      ),
    );
    await this.redis.publish(this.channel, JSON.stringify(request));
    const answer = await outcome;
    if (answer === 'gone') {
      throw new PoolError('internal_error', `node ${to}, which holds ${taskId}, left before answering`);
    }
    if (answer.error) throw new PoolError(answer.error.code, answer.error.message);
    return answer.value;
  }

  private async reply(request: ControlRequest, outcome: { value?: unknown; error?: unknown }): Promise<void> {
    if (request.to === undefined) return;
    const reply: ControlReply = { type: 'reply', requestId: request.requestId, to: request.from };
    const { error } = outcome;
    if (!('error' in outcome)) reply.value = outcome.value;
    else {
      reply.error =
        error instanceof PoolError
          ? { code: error.code, message: error.message }
          : { code: 'internal_error', message: String(error) };
    }
    await this.redis.publish(this.channel, JSON.stringify(reply));
  }
}
