/**
 * A task's streamed text across the cluster. The node that runs a cluster task forwards each chunk its agent
 * streams to Redis ({@link OutputForwarder}); any node reads it back as a stream ({@link TaskOutputReader}).
 *
 * Per chunk, one Lua script on the running node APPENDs it to the run's output key (so a late reader can catch
 * up), PUBLISHes it on the task's output channel with the key's length after the append, and sets the key to
 * expire in {@link RUNNING_OUTPUT_TTL_SECS}. When the run ends (PendingReview or a final state) the key is set
 * to expire in {@link ENDED_OUTPUT_TTL_SECS}: from then on the record's result holds the whole output. That is
 * one Redis round trip per chunk on the running node, and one message per chunk to each node that reads it.
 *
 * Each run of a task has its own key, named by the run's rejection count: a rejected task's rerun streams into a
 * new, empty key, so a reader of the rerun sees the rerun's text, as a reader of a local pool's output does
 * (the local stream carries the rerun's chunks only). A task requeued after its node died keeps its rejection
 * count: its new run appends to the same key, after the text the dead run had streamed, as a local pool's
 * stream would show both.
 *
 * A reader subscribes to the channel first, then reads the key, buffering the channel's messages until the
 * read answers; a message whose end offset the read already covers is dropped. Offsets are byte lengths (Redis
 * counts UTF-8 bytes, not UTF-16 units): `Buffer.byteLength` measures each chunk. A run that has ended is read
 * whole without waiting for the channel: its chunks were appended before the record change that ended it (one
 * connection carries both, in order).
 */
import type { Redis } from 'ioredis';
import { Observable, type Subscription } from 'rxjs';
import type { TaskId, TaskRecord } from '../../machines/types.js';
import type { Pool } from '../pool/pool.js';
import type { ClusterKeys } from './keys.js';
import { FINAL_STATES } from './records.js';
import { LuaScript } from './script.js';

/** Seconds a run's output key lives after its latest chunk while the run goes on. */
export const RUNNING_OUTPUT_TTL_SECS = 24 * 60 * 60;
/** Seconds a run's output key lives once the run has ended (its record's result then has the whole output). */
export const ENDED_OUTPUT_TTL_SECS = 60;

// KEYS: the run's output key, the task's output channel. ARGV: chunk, run, ttl seconds.
// Publishes "<run> <key length after the append> <chunk>"; returns that length.
const APPEND_CHUNK = new LuaScript(`
local length = redis.call('APPEND', KEYS[1], ARGV[1])
redis.call('PUBLISH', KEYS[2], ARGV[2] .. ' ' .. length .. ' ' .. ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return length
`);

/** What the forwarder works with. */
export interface OutputForwarderDeps {
  pool: Pool;
  redis: Redis;
  keys: ClusterKeys;
  /** True while the local pool runs `taskId` for the cluster. */
  holds(taskId: TaskId): boolean;
}

/** Forwards the chunks of the cluster tasks the local pool runs to Redis. */
export class OutputForwarder {
  /** The run each task with forwarded chunks is in, and a high surrogate held back from its last chunk. */
  private readonly streaming = new Map<TaskId, { run: number; held: string }>();
  private readonly subscriptions: Subscription[] = [];

  constructor(private readonly deps: OutputForwarderDeps) {
    // Loaded before the first chunk: a script the server does not know yet would be sent again after its
    // NOSCRIPT answer, and could then land after the record change that ends the run.
    void APPEND_CHUNK.load(deps.redis).catch(() => {});
    this.subscriptions.push(
      deps.pool.output$.subscribe(({ taskId, text }) => this.forward(taskId, text)),
      deps.pool.records.taskChanged$.subscribe(({ current }) => {
        if (current.state === 'pending_review' || FINAL_STATES.includes(current.state)) this.end(current.id);
      }),
    );
  }

  /** Stops forwarding. */
  stop(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.streaming.clear();
  }

  private forward(taskId: TaskId, text: string): void {
    if (!this.deps.holds(taskId)) return;
    const run = this.deps.pool.records.tasks.get(taskId)?.rejectionCount ?? 0;
    let stream = this.streaming.get(taskId);
    if (stream?.run !== run) {
      stream = { run, held: '' };
      this.streaming.set(taskId, stream);
    }
    let chunk = stream.held + text;
    stream.held = '';
    // A chunk that ends inside a surrogate pair keeps its high half for the next one: alone it is not UTF-8.
    const last = chunk.charCodeAt(chunk.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      stream.held = chunk.slice(-1);
      chunk = chunk.slice(0, -1);
    }
    if (chunk !== '') this.append(taskId, run, chunk);
  }

  private end(taskId: TaskId): void {
    const stream = this.streaming.get(taskId);
    if (!stream) return;
    this.streaming.delete(taskId);
    if (stream.held !== '') this.append(taskId, stream.run, stream.held);
    const { redis, keys } = this.deps;
    void redis.expire(keys.output(taskId, stream.run), ENDED_OUTPUT_TTL_SECS).catch(() => {});
  }

  private append(taskId: TaskId, run: number, chunk: string): void {
    // Sent at once, so the chunks and the record changes of the run reach Redis in the order they happened.
    void appendOutputChunk(this.deps.redis, this.deps.keys, taskId, run, chunk).catch(() => {});
  }
}

/**
 * Appends a chunk to run `run` of a task and publishes it (one script); resolves with the output key's byte
 * length after it.
 */
export async function appendOutputChunk(
  redis: Redis,
  keys: ClusterKeys,
  taskId: TaskId,
  run: number,
  chunk: string,
): Promise<number> {
  const length = await APPEND_CHUNK.run(
    redis,
    [keys.output(taskId, run), keys.outputChannel(taskId)],
    [chunk, run, RUNNING_OUTPUT_TTL_SECS],
  );
  return Number(length);
}

/** One chunk as published: its run, the output key's byte length after it, and its text. */
interface ChunkMessage {
  run: number;
  end: number;
  text: string;
}

function parseChunk(message: string): ChunkMessage | undefined {
  const first = message.indexOf(' ');
  const second = message.indexOf(' ', first + 1);
  if (first <= 0 || second <= first) return undefined;
  const run = Number(message.slice(0, first));
  const end = Number(message.slice(first + 1, second));
  if (!Number.isInteger(run) || !Number.isInteger(end)) return undefined;
  return { run, end, text: message.slice(second + 1) };
}

/**
 * Channels of the node's subscriber connection subscribed while someone listens: the first listener of a
 * channel SUBSCRIBEs, the last one to go UNSUBSCRIBEs.
 */
export class SharedChannels {
  private readonly channels = new Map<string, { listeners: Set<(message: string) => void>; ready: Promise<void> }>();

  constructor(private readonly subscriber: Redis) {}

  /**
   * Listens to `channel`; `ready` resolves once the server has confirmed the subscription (messages published
   * after that reach the listener). Call `release` to stop listening.
   */
  listen(channel: string, listener: (message: string) => void): { ready: Promise<void>; release: () => void } {
    let entry = this.channels.get(channel);
    if (!entry) {
      const created = {
        listeners: new Set<(message: string) => void>(),
        ready: this.subscriber.subscribe(channel).then(() => undefined),
      };
      // A failed SUBSCRIBE is reported to its listeners; the next listener tries again.
      created.ready.catch(() => {
        if (this.channels.get(channel) === created) this.channels.delete(channel);
      });
      this.channels.set(channel, created);
      entry = created;
    }
    const listeners = entry.listeners;
    const wrapped = (message: string) => listener(message);
    listeners.add(wrapped);
    let released = false;
    return {
      ready: entry.ready,
      release: () => {
        if (released) return;
        released = true;
        listeners.delete(wrapped);
        if (listeners.size > 0 || this.channels.get(channel)?.listeners !== listeners) return;
        this.channels.delete(channel);
        void this.subscriber.unsubscribe(channel).catch(() => {});
      },
    };
  }

  /** Hands a message to the channel's listeners; false when nobody here listens to it. */
  receive(channel: string, message: string): boolean {
    const entry = this.channels.get(channel);
    if (!entry) return false;
    for (const listener of [...entry.listeners]) listener(message);
    return true;
  }

  /** How many channels are subscribed now. */
  get size(): number {
    return this.channels.size;
  }
}

/** What a reader works with. */
export interface TaskOutputReaderDeps {
  /** Reads a run's output key. */
  redis: Pick<Redis, 'get'>;
  keys: ClusterKeys;
  channels: SharedChannels;
  /** The task's current record, then its changes (errors with `TaskNotFound` for an unknown id). */
  task$(taskId: TaskId): Observable<TaskRecord>;
}

/** True when `record` shows that run `run` has ended. */
function runEnded(record: TaskRecord, run: number): boolean {
  if (FINAL_STATES.includes(record.state)) return true;
  if (record.rejectionCount > run) return true;
  return record.state === 'pending_review' && record.rejectionCount === run;
}

/** Reads tasks' streamed text from Redis, on any node. */
export class TaskOutputReader {
  constructor(private readonly deps: TaskOutputReaderDeps) {}

  /**
   * The task's current run's text: what it has streamed so far (one chunk, when there is any), then each new
   * chunk, exactly once and in order; completes when the run ends (at once for a run that has ended). Errors
   * with `TaskNotFound` for an unknown id.
   */
  output$(taskId: TaskId): Observable<string> {
    return new Observable<string>((subscriber) => {
      const { redis, keys, channels } = this.deps;
      let run: number | undefined;
      /** Bytes of the run's text emitted so far; undefined until the key has been read. */
      let covered: number | undefined;
      const early: ChunkMessage[] = [];
      let ended = false;

      const deliver = (chunk: ChunkMessage) => {
        if (chunk.run !== run || covered === undefined || chunk.end <= covered) return;
        const start = chunk.end - Buffer.byteLength(chunk.text);
        // Each append is atomic, so a chunk is either all covered by the read or not at all; the slice is a guard.
        const text =
          start >= covered
            ? chunk.text
            : Buffer.from(chunk.text)
                .subarray(covered - start)
                .toString();
        covered = chunk.end;
        subscriber.next(text);
      };
      const caughtUp = (text: string | null) => {
        covered = Buffer.byteLength(text ?? '');
        if (text) subscriber.next(text);
        for (const chunk of early.splice(0)) deliver(chunk);
        if (ended) subscriber.complete();
      };
      const channel = channels.listen(keys.outputChannel(taskId), (message) => {
        const chunk = parseChunk(message);
        if (!chunk) return;
        if (covered === undefined) early.push(chunk);
        else deliver(chunk);
      });
      let reading = false;
      /** Reads the run's key once: what it holds is emitted, then the messages that came after it. */
      const read = () => {
        if (reading || run === undefined) return;
        reading = true;
        redis.get(keys.output(taskId, run)).then(caughtUp, (error: unknown) => subscriber.error(error));
      };
      let subscribed = false;
      channel.ready.then(
        () => {
          subscribed = true;
          read();
        },
        (error: unknown) => {
          // Without the channel a run that has ended can still be read whole; a live one cannot be followed.
          if (!ended) subscriber.error(error);
        },
      );
      const records = this.deps.task$(taskId).subscribe({
        next: (record) => {
          if (run === undefined) {
            run = record.rejectionCount;
            ended = runEnded(record, run);
            // A live run is read once the channel is subscribed (nothing between the read and the channel is
            // lost); an ended run's key already holds all of it.
            if (ended || subscribed) read();
            return;
          }
          if (ended || !runEnded(record, run)) return;
          // The run's chunks were appended and published before the change that ends it, on one connection.
          ended = true;
          if (covered !== undefined) subscriber.complete();
          else read();
        },
        error: (error: unknown) => subscriber.error(error),
      });
      return () => {
        records.unsubscribe();
        channel.release();
      };
    });
  }
}

/** What a node's {@link ClusterOutput} works with. */
export interface ClusterOutputDeps extends OutputForwarderDeps {
  /** The node's subscriber connection (the output channels are subscribed on it while read). */
  subscriber: Redis;
  /** The task's current record, then its changes (errors with `TaskNotFound` for an unknown id). */
  task$(taskId: TaskId): Observable<TaskRecord>;
}

/** A node's share of the cluster's streamed text: it forwards its own runs' chunks and reads any task's. */
export class ClusterOutput {
  private readonly channels: SharedChannels;
  private readonly reader: TaskOutputReader;
  private readonly forwarder: OutputForwarder;

  constructor(deps: ClusterOutputDeps) {
    this.channels = new SharedChannels(deps.subscriber);
    this.reader = new TaskOutputReader({
      redis: deps.redis,
      keys: deps.keys,
      channels: this.channels,
      task$: deps.task$,
    });
    this.forwarder = new OutputForwarder(deps);
  }

  /** See {@link TaskOutputReader.output$}. */
  output$(taskId: TaskId): Observable<string> {
    return this.reader.output$(taskId);
  }

  /** Hands a message of the subscriber connection to its readers; false when it is no output channel read here. */
  receive(channel: string, message: string): boolean {
    return this.channels.receive(channel, message);
  }

  /** Stops forwarding this node's chunks. */
  stop(): void {
    this.forwarder.stop();
  }
}
