/**
 * The progress of the cluster's chains in Redis: the node that runs a chain writes its progress (current step,
 * the steps done, its status) as the chain's actor moves, and publishes each change, so any node can answer
 * `chainProgress`, `listChainProgress` and stream `chain$` for every chain of the cluster.
 *
 * A chain's progress changes with every chunk its current step streams. The node writes a chain's state in
 * order, one write at a time, and a state not yet written gives way to a newer one: a chain costs at most one
 * write in flight, however fast its step streams. Progress is written before the chain's record, so a reader
 * that sees the record ended finds the progress ended too.
 */
import type { Redis } from 'ioredis';
import type { ChainProgress, TaskId, TaskRecord } from '../../machines/types.js';
import type { ClusterKeys } from './keys.js';
import type { ClusterRecords } from './records.js';

/** A chain's state as its actor has it: its record and its progress. */
export interface ChainState {
  record: TaskRecord;
  progress: ChainProgress;
}

/** The chains' progress of one cluster. */
export class ClusterChainProgress {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  /** Writes a chain's progress and publishes the change. */
  async put(progress: ChainProgress): Promise<void> {
    const json = JSON.stringify(progress);
    await this.redis
      .multi()
      .hset(this.keys.chainProgress, progress.chainId, json)
      .publish(this.keys.chainChannel, json)
      .exec();
  }

  /** A chain's progress, or `undefined` when there is none. */
  async get(id: TaskId): Promise<ChainProgress | undefined> {
    const json = await this.redis.hget(this.keys.chainProgress, id);
    return json === null ? undefined : (JSON.parse(json) as ChainProgress);
  }

  /** The progress of these chains, in their order (chains without progress are left out). */
  async getMany(ids: readonly TaskId[]): Promise<ChainProgress[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.keys.chainProgress, ...ids);
    return values.filter((json): json is string => json !== null).map((json) => JSON.parse(json) as ChainProgress);
  }
}

/**
 * Writes one chain's states to Redis in order, progress first and then the record, one state at a time; a
 * state that has not started to be written is replaced by a newer one.
 */
export class ChainStateWriter {
  private next?: ChainState;
  private written?: ChainState;
  private writing?: Promise<void>;

  constructor(
    private readonly progress: ClusterChainProgress,
    private readonly records: ClusterRecords,
  ) {}

  /** Queues the chain's newest state. */
  write(state: ChainState): void {
    this.next = state;
    this.writing ??= this.drain();
  }

  /** Resolves once every state queued so far is written (or its write has failed). */
  flushed(): Promise<void> {
    return this.writing ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const state = this.next;
      this.next = undefined;
      // A write that fails (Redis unreachable) is dropped; the next state carries everything anyway.
      if (state.progress !== this.written?.progress) await this.progress.put(state.progress).catch(() => {});
      if (state.record !== this.written?.record) await this.records.put(state.record).catch(() => false);
      this.written = state;
    }
    this.writing = undefined;
  }
}
