/**
 * Messages between slots (delivered into the recipient's next prompt) and the shared context injected into
 * every task's system prompt.
 */
import type { Message, SlotId } from '../../machines/types.js';
import { InvalidInput } from '../errors.js';
import type { PoolRuntime } from './runtime.js';

/** Sends a message to a slot; returns its id. */
export function sendMessage(rt: PoolRuntime, from: SlotId, to: SlotId, content: string): string {
  rt.slotRecord(from);
  rt.slotRecord(to);
  if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
  return rt.messages.send(from, to, content).id;
}

/**
 * Delivers a message from a sender outside this pool (a slot of another cluster node, named `node/slot-N`) to
 * one of its slots; returns the message.
 */
export function deliverMessage(rt: PoolRuntime, from: string, to: SlotId, content: string): Message {
  rt.slotRecord(to);
  if (typeof from !== 'string' || from === '') throw new InvalidInput('message sender must be a non-empty string');
  if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
  return rt.messages.send(from, to, content);
}

/** Sends a message to every other slot; returns one id per recipient. */
export function broadcastMessage(rt: PoolRuntime, from: SlotId, content: string): string[] {
  rt.slotRecord(from);
  if (typeof content !== 'string') throw new InvalidInput('message content must be a string');
  return rt
    .slots()
    .filter((slot) => slot.id !== from && slot.state !== 'stopped')
    .map((slot) => rt.messages.send(from, slot.id, content).id);
}

/** Removes and returns a slot's messages, oldest first. */
export function readMessages(rt: PoolRuntime, slotId: SlotId): Message[] {
  rt.slotRecord(slotId);
  return rt.messages.read(slotId);
}

/** A slot's messages, left in place. */
export function peekMessages(rt: PoolRuntime, slotId: SlotId): Message[] {
  rt.slotRecord(slotId);
  return rt.messages.peek(slotId);
}

/** How many messages wait for a slot. */
export function messageCount(rt: PoolRuntime, slotId: SlotId): number {
  rt.slotRecord(slotId);
  return rt.messages.count(slotId);
}

/** Sets a shared-context entry (injected into every task's system prompt). */
export function setContext(rt: PoolRuntime, key: string, value: string): void {
  if (typeof key !== 'string' || key.trim() === '') throw new InvalidInput('context key must be a non-empty string');
  if (typeof value !== 'string') throw new InvalidInput('context value must be a string');
  rt.contextEntries.set(key, value);
}

/** Deletes a shared-context entry and returns its old value. */
export function deleteContext(rt: PoolRuntime, key: string): string | undefined {
  const value = rt.contextEntries.get(key);
  rt.contextEntries.delete(key);
  return value;
}
