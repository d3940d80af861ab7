/**
 * Which nodes are in the cluster: each node keeps a heartbeat key in Redis (its slots and where it runs) that
 * expires when it stops refreshing it, and its count of free slots (which the ledger shares the budget over).
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { SlotRecord } from '../../machines/types.js';
import type { ClusterKeys } from './keys.js';

/** What a node's heartbeat says about it. */
export interface NodeInfo {
  nodeId: string;
  host: string;
  pid: number;
  startedAtMs: number;
  /** When the heartbeat was written. */
  updatedAtMs: number;
  /** The node's slots as they were then. */
  slots: Pick<SlotRecord, 'id' | 'state' | 'currentTask' | 'tasksCompleted' | 'costMicrodollars'>[];
  /** Jobs the node holds now. */
  activeJobs: number;
}

/** One node's membership: writes its heartbeat and free-slot count, and reads the others'. */
export class Membership {
  private readonly startedAtMs = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    readonly nodeId: string,
    private readonly heartbeatMs: number,
    private readonly describe: () => Pick<NodeInfo, 'slots' | 'activeJobs'>,
  ) {}

  /** Writes the first heartbeat and keeps refreshing it. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch(() => {});
    }, this.heartbeatMs);
    this.timer.unref();
  }

  /** Writes the heartbeat and free-slot count now. */
  async beat(): Promise<void> {
    const state = this.describe();
    const info: NodeInfo = {
      nodeId: this.nodeId,
      host: hostname(),
      pid: process.pid,
      startedAtMs: this.startedAtMs,
      updatedAtMs: Date.now(),
      ...state,
    };
    // In the member set again too: a node whose heartbeat was once late (an overloaded host) was dropped from it.
    await this.redis
      .multi()
      .sadd(this.keys.nodes, this.nodeId)
      .set(this.keys.node(this.nodeId), JSON.stringify(info), 'PX', this.heartbeatMs * 3)
      .hset(this.keys.freeSlots, this.nodeId, Math.max(0, state.slots.length - state.activeJobs))
      .exec();
  }

  /** Sets the free-slot count the ledger shares the budget over. */
  async setFreeSlots(count: number): Promise<void> {
    await this.redis.hset(this.keys.freeSlots, this.nodeId, Math.max(0, count));
  }

  /** Stops the heartbeat and leaves the cluster. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis
      .multi()
      .del(this.keys.node(this.nodeId))
      .srem(this.keys.nodes, this.nodeId)
      .hdel(this.keys.freeSlots, this.nodeId)
      .exec();
  }

  /** True while the node's heartbeat has not expired. */
  async isAlive(nodeId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.node(nodeId))) === 1;
  }

  /** Every live node, by id; nodes whose heartbeat has expired are dropped from the cluster. */
  async nodes(): Promise<NodeInfo[]> {
    const ids = (await this.redis.smembers(this.keys.nodes)).sort();
    if (ids.length === 0) return [];
    const values = await this.redis.mget(...ids.map((id) => this.keys.node(id)));
    const alive: NodeInfo[] = [];
    const gone: string[] = [];
    values.forEach((json, i) => {
      if (json === null) gone.push(ids[i]!);
      else alive.push(JSON.parse(json) as NodeInfo);
    });
    if (gone.length > 0) await this.forget(gone);
    return alive;
  }

  /** Drops nodes that are gone from the member set and the free-slot counts. */
  async forget(nodeIds: string[]): Promise<void> {
    await this.redis
      .multi()
      .srem(this.keys.nodes, ...nodeIds)
      .hdel(this.keys.freeSlots, ...nodeIds)
      .exec();
  }
}
