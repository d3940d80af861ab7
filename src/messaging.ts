/**
 * Messages between slots: one ordered inbox per slot, in memory.
 */
import { Subject, type Observable } from 'rxjs';
import type { Message, SlotId } from '../machines/types.js';
import { newId } from './ids.js';

/** Inboxes of every slot. */
export class MessageBus {
  private readonly inboxes = new Map<SlotId, Message[]>();
  private readonly sent = new Subject<Message>();

  /** Every message as it is sent. */
  readonly sent$: Observable<Message> = this.sent.asObservable();

  /** Puts a message in `to`'s inbox and returns it. */
  send(from: SlotId, to: SlotId, content: string, now: Date = new Date()): Message {
    const message: Message = { id: newId('msg'), from, to, content, timestamp: now.toISOString() };
    const inbox = this.inboxes.get(to) ?? [];
    inbox.push(message);
    this.inboxes.set(to, inbox);
    this.sent.next(message);
    return message;
  }

  /** Removes and returns every message in the inbox, oldest first. */
  read(slot: SlotId): Message[] {
    const inbox = this.inboxes.get(slot) ?? [];
    this.inboxes.delete(slot);
    return inbox;
  }

  /** Puts messages back at the front of the inbox (their run never started), keeping their order. */
  restore(slot: SlotId, messages: readonly Message[]): void {
    if (messages.length === 0) return;
    this.inboxes.set(slot, [...messages, ...(this.inboxes.get(slot) ?? [])]);
  }

  /** Returns the inbox without removing anything. */
  peek(slot: SlotId): Message[] {
    return [...(this.inboxes.get(slot) ?? [])];
  }

  /** How many messages wait for the slot. */
  count(slot: SlotId): number {
    return this.inboxes.get(slot)?.length ?? 0;
  }

  /** Forgets a slot's inbox (the slot was removed). */
  forget(slot: SlotId): void {
    this.inboxes.delete(slot);
  }

  /** Ends the stream of sent messages. */
  close(): void {
    this.sent.complete();
  }
}
