/**
 * Slots: discovery, per-slot config, scaling (bounds are the supervisor's decision) and the supervisor's
 * restarts.
 */
import { activeSlotIds, nextSlotIds, type SlotSpec } from '../../machines/pool.js';
import type { SlotConfig, SlotId, SlotRecord } from '../../machines/types.js';
import { validateSlotConfig } from '../config.js';
import { InvalidInput } from '../errors.js';
import { newId } from '../ids.js';
import { errorForRefusal } from './failure-errors.js';
import type { SlotQuery, SupervisorHandle } from './options.js';
import type { PoolRuntime } from './runtime.js';

/** Slots matching every given field. */
export function findSlots(rt: PoolRuntime, query: SlotQuery = {}): SlotRecord[] {
  return rt
    .slots()
    .filter(
      (slot) =>
        (query.name === undefined || slot.config.name === query.name) &&
        (query.role === undefined || slot.config.role === query.role) &&
        (query.state === undefined || slot.state === query.state),
    );
}

/** Changes a slot's identity or settings for its next tasks. */
export function configureSlot(rt: PoolRuntime, slotId: SlotId, config: SlotConfig): SlotRecord {
  rt.slotRecord(slotId);
  validateSlotConfig(config);
  rt.actor.send({ type: 'CONFIGURE_SLOT', slotId, config });
  return rt.slotRecord(slotId);
}

/** Runs scale calls one at a time, in call order. */
export function serialised<T>(rt: PoolRuntime, operation: () => Promise<T>): Promise<T> {
  const next = rt.scaling.then(operation, operation);
  rt.scaling = next.catch(() => undefined);
  return next;
}

/** Adds `count` slots; resolves with the new slot count. */
export async function scaleUp(rt: PoolRuntime, count: number, config: SlotConfig = {}): Promise<number> {
  checkCount(count);
  validateSlotConfig(config);
  const ids = count === 0 ? [] : nextSlotIds(rt.context(), count);
  const slots: SlotSpec[] = [];
  const isolated = rt.config.worktreeIsolation && rt.context().phase === 'running';
  for (const id of ids) {
    const worktreePath = isolated ? await rt.worktrees?.createForSlot(id) : undefined;
    slots.push({ id, config, worktreePath });
  }
  const requestId = newId('scale');
  const refusal = await rt.request({ type: 'SCALE_UP', requestId, slots }, requestId);
  if (refusal) {
    for (const slot of slots) if (slot.worktreePath) rt.removeSlotWorktree(slot.id);
    throw errorForRefusal(refusal);
  }
  await rt.projection.flush();
  return activeSlotIds(rt.context()).length;
}

/** Removes `count` slots (see `Pool.scaleDown`); resolves with the new slot count. */
export async function scaleDown(rt: PoolRuntime, count: number): Promise<number> {
  checkCount(count);
  const requestId = newId('scale');
  const refusal = await rt.request({ type: 'SCALE_DOWN', requestId, count }, requestId);
  if (refusal) throw errorForRefusal(refusal);
  await rt.projection.flush();
  return activeSlotIds(rt.context()).length;
}

/** Scales up or down to `target` slots; resolves with the new count. */
export async function setTargetSlots(rt: PoolRuntime, target: number): Promise<number> {
  checkCount(target);
  const current = activeSlotIds(rt.context()).length;
  if (target > current) return scaleUp(rt, target - current);
  if (target < current) return scaleDown(rt, current - target);
  return scaleUp(rt, 0); // no change, but the supervisor still answers (a drained pool refuses)
}

/** Starts restarting errored slots (up to `maxRestarts` each); `undefined` when `supervisorEnabled` is false. */
export function startSupervisor(rt: PoolRuntime): SupervisorHandle | undefined {
  if (!rt.config.supervisorEnabled) return undefined;
  rt.actor.send({ type: 'SUPERVISOR.START' });
  return { stop: () => rt.actor.send({ type: 'SUPERVISOR.STOP' }) };
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0) throw new InvalidInput(`count must be an integer >= 0, got ${count}`);
}
