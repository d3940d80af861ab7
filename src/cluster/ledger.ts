/**
 * The cluster's budget ledger in Redis: one limit, one settled spend and the reservations of every running
 * task on every node. Reservation and settlement are Lua scripts, so they are atomic however many nodes call
 * them at once, and the rule is the one a single pool follows (`machines/budget.ts`, `planReservation`): a
 * capped task reserves its cap; an uncapped one its share of what is unreserved among the cluster's free
 * slots, never less than the floor. The reservations together never exceed what is left of the limit.
 */
import type { Redis } from 'ioredis';
import type { BudgetRefusal } from '../../machines/budget.js';
import type { TaskId } from '../../machines/types.js';
import type { ClusterKeys } from './keys.js';
import { LuaScript } from './script.js';

/** The ledger's budget settings (microdollars), as a node joins. */
export interface LedgerSettings {
  /** The cluster's spend cap; `undefined` means no limit. */
  limitMicrodollars?: number;
  /** The least an uncapped task reserves. */
  floorMicrodollars: number;
  /** A fixed reservation for uncapped tasks instead of the free-slot share. */
  defaultReserveMicrodollars?: number;
}

/** The ledger as read at one moment. */
export interface LedgerState {
  limitMicrodollars?: number;
  spentMicrodollars: number;
  /** The sum of the running tasks' reservations. */
  reservedMicrodollars: number;
  reservations: Record<TaskId, number>;
}

/** What a reservation attempt decided. */
export type ReservationDecision =
  /** `limited`: the ledger has a limit (the amount then caps the run). */
  { kind: 'reserve'; amount: number; limited: boolean } | { kind: 'wait' } | { kind: 'refuse'; refusal: BudgetRefusal };

// KEYS: budget, reservations, freeSlots. ARGV: taskId, cap (-1: none).
const RESERVE = new LuaScript(`
local limit = redis.call('HGET', KEYS[1], 'limit')
local limited = 0
if limit then limited = 1 end
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then return {'reserve', tonumber(held), limited} end
local cap = tonumber(ARGV[2])
if not limit then
  local amount = 0
  if cap >= 0 then amount = cap end
  redis.call('HSET', KEYS[2], ARGV[1], amount)
  return {'reserve', amount, 0}
end
limit = tonumber(limit)
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local floor = tonumber(redis.call('HGET', KEYS[1], 'floor') or '0')
local fixed = redis.call('HGET', KEYS[1], 'defaultReserve')
local reserved = 0
local anyRunning = false
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
  reserved = reserved + tonumber(v)
  anyRunning = true
end
local free = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  local n = tonumber(v)
  if n > 0 then free = free + n end
end
local freeSlots = free + 1
local remaining = math.max(0, limit - spent)
local needed = 1
if cap < 0 then needed = math.max(1, floor) end
if remaining < needed then
  if anyRunning then return {'wait'} end
  return {'refuse', 'budget_exhausted', spent, limit}
end
if cap >= 0 and cap > remaining then
  if anyRunning then return {'wait'} end
  return {'refuse', 'task_budget_exceeds_remaining', cap, remaining}
end
local unreserved = math.max(0, remaining - reserved)
local wanted
if cap >= 0 then wanted = cap
elseif fixed then wanted = tonumber(fixed)
else wanted = math.min(unreserved, math.max(floor, math.floor(unreserved / freeSlots))) end
if wanted > 0 and wanted <= unreserved and (cap >= 0 or wanted >= floor) then
  redis.call('HSET', KEYS[2], ARGV[1], wanted)
  return {'reserve', wanted, 1}
end
if anyRunning then return {'wait'} end
if cap >= 0 or fixed then return {'refuse', 'task_budget_exceeds_remaining', wanted, unreserved} end
return {'refuse', 'budget_exhausted', spent, limit}
`);

// KEYS: budget, reservations, settledChannel. ARGV: taskId, cost (-1: what the task had reserved), '1' to do
// nothing unless the task holds a reservation. Returns the amount booked (-1: nothing was held, nothing done).
const SETTLE = new LuaScript(`
local held = redis.call('HGET', KEYS[2], ARGV[1])
if ARGV[3] == '1' and not held then return -1 end
local cost = tonumber(ARGV[2])
if cost < 0 then cost = tonumber(held or '0') end
redis.call('HDEL', KEYS[2], ARGV[1])
if cost > 0 then redis.call('HINCRBY', KEYS[1], 'spent', cost) end
redis.call('PUBLISH', KEYS[3], ARGV[1])
return cost
`);

/** The budget ledger of one cluster. */
export class ClusterLedger {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
  ) {}

  /**
   * Sets the budget settings when the cluster has none yet (the first node to join sets them; later nodes
   * keep them). Returns the settings in force.
   */
  async init(settings: LedgerSettings): Promise<void> {
    const fields: Record<string, string> = { floor: String(settings.floorMicrodollars), spent: '0' };
    if (settings.limitMicrodollars !== undefined) fields.limit = String(settings.limitMicrodollars);
    if (settings.defaultReserveMicrodollars !== undefined) {
      fields.defaultReserve = String(settings.defaultReserveMicrodollars);
    }
    const multi = this.redis.multi();
    for (const [field, value] of Object.entries(fields)) multi.hsetnx(this.keys.budget, field, value);
    await multi.exec();
  }

  /** Reserves what the task may spend, decides it must wait for running tasks to settle, or refuses it. */
  async reserve(taskId: TaskId, capMicrodollars: number | undefined): Promise<ReservationDecision> {
    const reply = (await RESERVE.run(
      this.redis,
      [this.keys.budget, this.keys.reservations, this.keys.freeSlots],
      [taskId, capMicrodollars ?? -1],
    )) as [string, ...(string | number)[]];
    if (reply[0] === 'reserve') return { kind: 'reserve', amount: Number(reply[1]), limited: Number(reply[2]) === 1 };
    if (reply[0] === 'wait') return { kind: 'wait' };
    const [, code, a, b] = reply;
    if (code === 'budget_exhausted') {
      return {
        kind: 'refuse',
        refusal: { code, spentMicrodollars: Number(a), limitMicrodollars: Number(b) },
      };
    }
    return {
      kind: 'refuse',
      refusal: {
        code: 'task_budget_exceeds_remaining',
        taskMicrodollars: Number(a),
        remainingMicrodollars: Number(b),
      },
    };
  }

  /**
   * Releases the task's reservation and books `costMicrodollars` (`'reserved'`: the whole reservation, for a
   * run whose real cost died with its node). Returns the amount booked.
   */
  async settle(taskId: TaskId, costMicrodollars: number | 'reserved'): Promise<number> {
    return this.book(taskId, costMicrodollars, false);
  }

  /**
   * Settles the task's reservation with `costMicrodollars` only if it still holds one (a run whose node
   * recorded its result, then died before it settled); books nothing otherwise. Resolves with whether it did.
   */
  async settleIfHeld(taskId: TaskId, costMicrodollars: number): Promise<boolean> {
    return (await this.book(taskId, costMicrodollars, true)) >= 0;
  }

  private async book(taskId: TaskId, costMicrodollars: number | 'reserved', onlyHeld: boolean): Promise<number> {
    const cost = costMicrodollars === 'reserved' ? -1 : Math.max(0, Math.trunc(costMicrodollars));
    return Number(
      await SETTLE.run(
        this.redis,
        [this.keys.budget, this.keys.reservations, this.keys.settledChannel],
        [taskId, cost, onlyHeld ? '1' : '0'],
      ),
    );
  }

  /** The ledger now. */
  async read(): Promise<LedgerState> {
    const [budget, reservations] = await Promise.all([
      this.redis.hgetall(this.keys.budget),
      this.redis.hgetall(this.keys.reservations),
    ]);
    const held: Record<TaskId, number> = {};
    let total = 0;
    for (const [id, amount] of Object.entries(reservations)) {
      held[id] = Number(amount);
      total += Number(amount);
    }
    return {
      limitMicrodollars: budget.limit === undefined ? undefined : Number(budget.limit),
      spentMicrodollars: Number(budget.spent ?? 0),
      reservedMicrodollars: total,
      reservations: held,
    };
  }
}
