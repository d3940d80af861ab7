/**
 * A bounded replay buffer for one server-sent event stream: every event gets the next id (1, 2, 3, …, never
 * reused), the newest `capacity` events are kept, and a reader that reconnects with `Last-Event-ID: n` gets
 * the kept events after `n`, then the live ones.
 */
import { Subject, type Observable } from 'rxjs';

/** One event of a stream. */
export interface LoggedEvent {
  /** Monotonically increasing within the stream, starting at 1. */
  id: number;
  /** The SSE event name (`state`, `complete`, `step_start`, `task.finished`, …). */
  event: string;
  /** The JSON payload. */
  data: unknown;
}

/** What a reader gets: the kept events after its position, then live events until the stream ends. */
export interface LogReading {
  /** Kept events with an id above the reader's position, oldest first. */
  backlog: LoggedEvent[];
  /** True when events after the reader's position were already dropped from the buffer. */
  gap: boolean;
  /** Events appended from now on; completes when the stream ends. */
  live: Observable<LoggedEvent>;
  /** True when the stream has already ended (nothing will follow the backlog). */
  ended: boolean;
}

/** A bounded, append-only log of one stream's events. */
export class EventLog {
  private readonly events: LoggedEvent[] = [];
  private subject = new Subject<LoggedEvent>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** The id of the last event appended (0 before the first). */
  get lastId(): number {
    return this.nextId - 1;
  }

  /** True once {@link close} was called. */
  get ended(): boolean {
    return this.closed;
  }

  /** The last event appended, if any is kept. */
  get last(): LoggedEvent | undefined {
    return this.events.at(-1);
  }

  /** Appends an event (ignored once closed) and returns it. */
  append(event: string, data: unknown): LoggedEvent | undefined {
    if (this.closed) return undefined;
    const entry: LoggedEvent = { id: this.nextId, event, data };
    this.nextId += 1;
    this.events.push(entry);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    this.subject.next(entry);
    return entry;
  }

  /** Ends the stream: readers get their backlog and then complete. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subject.complete();
  }

  /**
   * Reopens an ended stream so that more events can follow (ids go on from where they stopped). Readers
   * that subscribe from now on see the new events.
   */
  reopen(): void {
    if (!this.closed) return;
    this.closed = false;
    this.subject = new Subject<LoggedEvent>();
  }

  /** Reads from after event `afterId` (0 = from the oldest kept event). Synchronous: nothing is missed. */
  read(afterId = 0): LogReading {
    const backlog = this.events.filter((entry) => entry.id > afterId);
    const oldestKept = this.events[0]?.id ?? this.nextId;
    return {
      backlog,
      gap: afterId + 1 < oldestKept,
      live: this.subject.asObservable(),
      ended: this.closed,
    };
  }
}
