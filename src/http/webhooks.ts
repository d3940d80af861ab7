/**
 * Webhooks: POSTs of pool events (`task_completed`, `task_failed`, `chain_completed`, `chain_failed`,
 * `drain_completed`) to registered `http://` or `https://` URLs, signed with HMAC-SHA256 over the body with a
 * per-webhook secret, retried with exponential backoff, and recorded in a per-webhook delivery log.
 *
 * Headers of a delivery: `X-Claude-Pool-Event`, `X-Claude-Pool-Delivery` (the delivery id),
 * `X-Claude-Pool-Attempt` (1, 2, …) and `X-Claude-Pool-Signature: sha256=<hex HMAC of the raw body>`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { nanoid } from 'nanoid';
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { TaskRecord } from '../../machines/types.js';
import type { Pool } from '../pool/index.js';
import { packageVersion } from '../mcp/version.js';
import { wireResult } from '../mcp/wire.js';
import { HttpError } from './problem.js';

/** The events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = [
  'task_completed',
  'task_failed',
  'chain_completed',
  'chain_failed',
  'drain_completed',
] as const;

/** A webhook event name. */
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The header carrying the signature: `sha256=` and the hex HMAC-SHA256 of the raw body. */
export const SIGNATURE_HEADER = 'x-claude-pool-signature';

/** A registered webhook. */
export interface Webhook {
  id: string;
  url: string;
  /** The events delivered; empty = all. */
  events: WebhookEvent[];
  /** The HMAC key. Shown once, when the webhook is created. */
  secret: string;
  createdAtMs: number;
}

/** One attempt at delivering an event. */
export interface DeliveryAttempt {
  attempt: number;
  atMs: number;
  durationMs: number;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  /** Why the attempt failed without a status (connection refused, timeout, TLS…). */
  error?: string;
}

/** One event sent (or being sent) to one webhook. */
export interface Delivery {
  id: string;
  webhookId: string;
  event: WebhookEvent;
  /** `pending` while attempts remain, `delivered` after a 2xx, `failed` when every attempt failed. */
  state: 'pending' | 'delivered' | 'failed';
  attempts: DeliveryAttempt[];
  createdAtMs: number;
  /** When the next attempt is due (pending deliveries only). */
  nextAttemptAtMs?: number;
  /** The JSON body sent. */
  payload: Record<string, unknown>;
}

/** Options of {@link WebhookDispatcher}. */
export interface WebhookOptions {
  /** Attempts per delivery, the first included (default 5). */
  maxAttempts?: number;
  /** Wait before the second attempt; doubled after each failure (default 500 ms). */
  initialBackoffMs?: number;
  /** Longest wait between attempts (default 30 s). */
  maxBackoffMs?: number;
  /** Per-attempt timeout (default 10 s). */
  timeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for `https://` receivers, e.g. a private CA. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Deliveries kept per webhook in the log (default 100). */
  maxDeliveriesKept?: number;
}

/** A webhook's registration input. */
export interface WebhookInput {
  url: string;
  events?: readonly WebhookEvent[];
  /** The HMAC key (default: 32 random bytes, hex). */
  secret?: string;
}

/** Signs a body: `sha256=` and the hex HMAC-SHA256 with the webhook's secret. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function taskPayload(task: TaskRecord): Record<string, unknown> {
  return {
    task_id: task.id,
    state: task.state,
    tags: task.tags,
    ...(task.slotId ? { slot_id: task.slotId } : {}),
    ...(task.result ? wireResult(task.result) : {}),
  };
}

/** Sends pool events to registered webhooks. */
export class WebhookDispatcher {
  private readonly hooks = new Map<string, Webhook>();
  private readonly logs = new Map<string, Delivery[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly endedChains = new Set<string>();
  private readonly subscription: Subscription;
  private readonly options: Required<Omit<WebhookOptions, 'ca'>> & { ca?: WebhookOptions['ca'] };
  private readonly updates = new Subject<Delivery>();
  private closed = false;

  /** Every delivery after each of its attempts (and when it is given up). */
  readonly updates$: Observable<Delivery> = this.updates.asObservable();

  constructor(
    private readonly pool: Pool,
    options: WebhookOptions = {},
  ) {
    this.options = {
      maxAttempts: options.maxAttempts ?? 5,
      initialBackoffMs: options.initialBackoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxDeliveriesKept: options.maxDeliveriesKept ?? 100,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    };
    this.subscription = pool.events$.subscribe((event) => {
      switch (event.type) {
        case 'task.finished':
        case 'review.approved':
          if (event.task.kind !== 'task') return;
          if (event.task.state === 'completed') this.emit('task_completed', taskPayload(event.task));
          else if (event.task.state === 'failed') this.emit('task_failed', taskPayload(event.task));
          return;
        case 'chain.progress': {
          const progress = event.progress;
          if (progress.status === 'running' || this.endedChains.has(progress.chainId)) return;
          this.endedChains.add(progress.chainId);
          const total = progress.completedSteps.reduce((sum, step) => sum + step.costMicrodollars, 0);
          const base = { chain_id: progress.chainId, total_steps: progress.totalSteps, total_cost_microdollars: total };
          if (progress.status === 'completed') this.emit('chain_completed', { ...base, success: true });
          else {
            const failedAt = progress.completedSteps.findIndex((step) => !step.success && !step.skipped);
            this.emit('chain_failed', {
              ...base,
              success: false,
              status: progress.status,
              failed_at_step: failedAt === -1 ? null : failedAt,
            });
          }
          return;
        }
        case 'pool.stopped': {
          const status = this.pool.status();
          this.emit('drain_completed', {
            total_tasks_completed: status.completedTasks,
            total_cost_microdollars: status.totalSpendMicrodollars,
            cancelled_tasks: status.cancelledTasks,
          });
          return;
        }
        default:
          return;
      }
    });
  }

  /** Registers a webhook. Throws `invalid_input` for a URL that is not `http://` or `https://`. */
  add(input: WebhookInput): Webhook {
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw new HttpError('invalid_input', `invalid webhook URL: ${input.url}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new HttpError('invalid_input', `webhook URLs must be http:// or https:// (got ${url.protocol}//)`);
    }
    const hook: Webhook = {
      id: `wh-${nanoid(10)}`,
      url: url.href,
      events: [...new Set(input.events ?? [])],
      secret: input.secret ?? randomBytes(32).toString('hex'),
      createdAtMs: Date.now(),
    };
    this.hooks.set(hook.id, hook);
    this.logs.set(hook.id, []);
    return hook;
  }

  /** Every webhook, oldest first. */
  list(): Webhook[] {
    return [...this.hooks.values()];
  }

  /** One webhook; throws `webhook_not_found`. */
  get(id: string): Webhook {
    const hook = this.hooks.get(id);
    if (!hook) throw new HttpError('webhook_not_found', `webhook ${id} does not exist`);
    return hook;
  }

  /** Removes a webhook (pending retries to it are dropped); throws `webhook_not_found`. */
  remove(id: string): void {
    this.get(id);
    this.hooks.delete(id);
    this.logs.delete(id);
  }

  /** A webhook's deliveries, oldest first; throws `webhook_not_found`. */
  deliveries(id: string): Delivery[] {
    this.get(id);
    return [...(this.logs.get(id) ?? [])];
  }

  /** Stops listening and drops pending retries (attempts under way finish). */
  async close(): Promise<void> {
    this.closed = true;
    this.subscription.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
    this.updates.complete();
  }

  private emit(event: WebhookEvent, data: Record<string, unknown>): void {
    if (this.closed) return;
    for (const hook of this.hooks.values()) {
      if (hook.events.length > 0 && !hook.events.includes(event)) continue;
      const delivery: Delivery = {
        id: `dl-${nanoid(10)}`,
        webhookId: hook.id,
        event,
        state: 'pending',
        attempts: [],
        createdAtMs: Date.now(),
        payload: { event, timestamp_ms: Date.now(), webhook_id: hook.id, ...data },
      };
      const log = this.logs.get(hook.id);
      if (!log) continue;
      log.push(delivery);
      if (log.length > this.options.maxDeliveriesKept) log.splice(0, log.length - this.options.maxDeliveriesKept);
      this.attempt(hook, delivery);
    }
  }

  private attempt(hook: Webhook, delivery: Delivery): void {
    const run = this.send(hook, delivery).finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  private async send(hook: Webhook, delivery: Delivery): Promise<void> {
    const attempt = delivery.attempts.length + 1;
    const body = JSON.stringify(delivery.payload);
    const started = Date.now();
    delivery.nextAttemptAtMs = undefined;
    let status: number | undefined;
    let error: string | undefined;
    try {
      status = await this.post(hook, delivery, attempt, body);
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
    }
    delivery.attempts.push({
      attempt,
      atMs: started,
      durationMs: Date.now() - started,
      ...(status === undefined ? {} : { status }),
      ...(error === undefined ? {} : { error }),
    });
    if (status !== undefined && status >= 200 && status < 300) {
      delivery.state = 'delivered';
      this.updates.next(delivery);
      return;
    }
    if (attempt >= this.options.maxAttempts || this.closed || !this.hooks.has(hook.id)) {
      delivery.state = 'failed';
      this.updates.next(delivery);
      return;
    }
    const wait = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** (attempt - 1));
    delivery.nextAttemptAtMs = Date.now() + wait;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed || !this.hooks.has(hook.id)) {
        delivery.state = 'failed';
        return;
      }
      this.attempt(hook, delivery);
    }, wait);
    timer.unref();
    this.timers.add(timer);
    this.updates.next(delivery);
  }

  /** One POST; resolves with the status (the body is read and dropped), rejects on network errors. */
  private post(hook: Webhook, delivery: Delivery, attempt: number, body: string): Promise<number> {
    const url = new URL(hook.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      const req = send(
        url,
        {
          method: 'POST',
          timeout: this.options.timeoutMs,
          // Extra CAs are trusted in addition to the built-in ones (a bare `ca` would replace them).
          ...(url.protocol === 'https:' && this.options.ca !== undefined
            ? { ca: [...rootCertificates, ...[this.options.ca].flat()] }
            : {}),
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': `claude-pool/${packageVersion()}`,
            'x-claude-pool-event': delivery.event,
            'x-claude-pool-delivery': delivery.id,
            'x-claude-pool-attempt': String(attempt),
            [SIGNATURE_HEADER]: signBody(hook.secret, body),
          },
        },
        (res: IncomingMessage) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.options.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
