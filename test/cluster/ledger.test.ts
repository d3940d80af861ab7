/**
 * The cluster's ledger scripts against the single-pool rule (`machines/budget.ts`): for the same ledger and
 * request, the Lua reservation decides what `planReservation` decides, and settlement books what it is told.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planReservation, type BudgetLedger } from '../../machines/budget.js';
import { clusterKeys } from '../../src/cluster/keys.js';
import { ClusterLedger } from '../../src/cluster/ledger.js';
import { redisAvailable, startRedis, type RedisServer } from '../support/redis.js';

describe.skipIf(!redisAvailable())('the cluster ledger', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  /** A ledger in Redis as given; the free slots of other nodes sum to `freeSlots - 1`. */
  async function ledgerIn(
    queue: string,
    ledger: BudgetLedger,
    floor: number,
    freeSlots: number,
  ): Promise<ClusterLedger> {
    const keys = clusterKeys(queue);
    await redis.del(keys.budget, keys.reservations, keys.freeSlots);
    const target = new ClusterLedger(redis, keys);
    await target.init({
      limitMicrodollars: ledger.limitMicrodollars,
      floorMicrodollars: floor,
      defaultReserveMicrodollars: ledger.defaultReserveMicrodollars,
    });
    await redis.hset(keys.budget, 'spent', ledger.spentMicrodollars);
    for (const [id, amount] of Object.entries(ledger.reservations)) await redis.hset(keys.reservations, id, amount);
    // Spread over two other nodes, as the cluster would see them.
    const others = freeSlots - 1;
    await redis.hset(keys.freeSlots, 'a', Math.ceil(others / 2), 'b', Math.floor(others / 2));
    return target;
  }

  it('reserves, waits and refuses exactly as one pool would', async () => {
    // mulberry32: the same cases on every run.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
    };
    const kinds = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const limit = random(4) === 0 ? undefined : random(1_000_000);
      const ledger: BudgetLedger = {
        limitMicrodollars: limit,
        spentMicrodollars: random(600_000),
        reservations: Object.fromEntries(Array.from({ length: random(4) }, (_, k) => [`r${k}`, random(200_000)])),
        defaultReserveMicrodollars: random(5) === 0 ? random(300_000) : undefined,
      };
      const floor = random(3) * 50_000;
      const freeSlots = 1 + random(8);
      const cap = random(3) === 0 ? random(400_000) : undefined;
      const target = await ledgerIn(`rule-${i}`, ledger, floor, freeSlots);
      const expected = planReservation(ledger, { capMicrodollars: cap, freeSlots, floorMicrodollars: floor });
      const decision = await target.reserve('task-x', cap);
      const { limited: _limited, ...comparable } = decision.kind === 'reserve' ? decision : { ...decision, limited: 0 };
      expect(comparable, JSON.stringify({ ledger, floor, freeSlots, cap })).toEqual(expected);
      kinds.add(expected.kind === 'refuse' ? expected.refusal.code : expected.kind);
    }
    // The cases cover every outcome of the rule.
    expect([...kinds].sort()).toEqual(['budget_exhausted', 'reserve', 'task_budget_exceeds_remaining', 'wait']);
  });

  it('holds a reservation once per task and books what settlement says', async () => {
    const target = await ledgerIn(
      'settle',
      { limitMicrodollars: 1_000_000, spentMicrodollars: 0, reservations: {} },
      50_000,
      4,
    );
    const first = await target.reserve('task-a', undefined);
    expect(first).toEqual({ kind: 'reserve', amount: 250_000, limited: true });
    expect(await target.reserve('task-a', undefined)).toEqual(first);
    expect(await target.settle('task-a', 40_000)).toBe(40_000);
    await target.reserve('task-b', 100_000);
    expect(await target.settle('task-b', 'reserved')).toBe(100_000);
    expect(await target.read()).toEqual({
      limitMicrodollars: 1_000_000,
      spentMicrodollars: 140_000,
      reservedMicrodollars: 0,
      reservations: {},
    });
  });
});
