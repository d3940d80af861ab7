/**
 * Messaging tools: slot-to-slot messages, delivered into the recipient's next task.
 */
import { z } from 'zod';
import { slotIdParam } from '../params.js';
import { defineTool, type PoolTool } from '../tool.js';
import { wireObject } from '../wire.js';

const contentParam = z.string().describe('Message text');

/** The messaging tools. */
export function messageTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_send_message',
      title: 'Send a message to a slot',
      description:
        'Send a message from one slot to another; the recipient sees it in its next task. Returns {message_id}.',
      input: {
        from: slotIdParam.describe('Sender slot id'),
        to: slotIdParam.describe('Recipient slot id'),
        content: contentParam,
      },
      annotations: { destructiveHint: false },
      run(args, { pool }) {
        return { message_id: pool.sendMessage(args.from, args.to, args.content) };
      },
    }),
    defineTool({
      name: 'pool_broadcast',
      title: 'Broadcast a message',
      description:
        'Send a message to every other live slot. Returns {message_ids, recipients} (recipients = how many).',
      input: { from: slotIdParam.describe('Sender slot id'), content: contentParam },
      annotations: { destructiveHint: false },
      run(args, { pool }) {
        const ids = pool.broadcastMessage(args.from, args.content);
        return { message_ids: ids, recipients: ids.length };
      },
    }),
    defineTool({
      name: 'pool_read_messages',
      title: 'Read (and remove) messages',
      description:
        "Remove and return a slot's messages, oldest first: {messages:[{id, from, to, content, timestamp}], count}.",
      input: { slot_id: slotIdParam },
      annotations: { destructiveHint: false },
      run(args, { pool }) {
        const messages = pool.readMessages(args.slot_id);
        return { messages: messages.map(wireObject), count: messages.length };
      },
    }),
    defineTool({
      name: 'pool_peek_messages',
      title: 'Peek at messages',
      description: "A slot's messages, left in place: {messages:[…], count}.",
      input: { slot_id: slotIdParam },
      annotations: { readOnlyHint: true },
      run(args, { pool }) {
        const messages = pool.peekMessages(args.slot_id);
        return { messages: messages.map(wireObject), count: messages.length };
      },
    }),
  ];
}
