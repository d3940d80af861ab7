/**
 * What the pool adds to an agent's system prompt: the slot's identity, the shared context and the messages
 * that arrived for the slot while it was idle.
 */
import type { Message, SlotConfig } from '../../machines/types.js';
import { identityLine } from '../config.js';

/** Builds the text passed with `--append-system-prompt`, or `undefined` when there is nothing to add. */
export function buildAppendSystemPrompt(
  slot: SlotConfig,
  context: ReadonlyArray<readonly [string, string]>,
  messages: readonly Message[],
): string | undefined {
  const parts: string[] = [];
  const identity = identityLine(slot);
  if (identity) parts.push(identity);
  if (context.length > 0) {
    parts.push(['## Shared Context', ...context.map(([key, value]) => `- **${key}**: ${value}`)].join('\n'));
  }
  if (messages.length > 0) {
    const lines = messages.map((message) => {
      const time = message.timestamp.slice(11, 19);
      return `**From ${message.from}** (${time} UTC): ${message.content}`;
    });
    parts.push(['## Messages received while idle', ...lines].join('\n\n'));
  }
  return parts.length > 0 ? parts.join('\n\n') : undefined;
}
