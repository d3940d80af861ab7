/**
 * Messaging between slots: send, broadcast (all but the sender), read (drains), peek, count; unread messages
 * reach the slot's next task in its system prompt and are then gone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidInput, SlotNotFound } from '../../src/errors.js';
import type { Message } from '../../src/index.js';
import { cleanupPools, eventually, simPool } from '../support/sim-pool.js';

afterEach(cleanupPools);

/** The text the simulated agent got with `--append-system-prompt` (from `[[sim:echo-system]]`). */
function appendedSystemPrompt(output: string): string {
  const line = output.split('\n').find((l) => l.startsWith('sim-echo-system: '));
  if (!line) throw new Error(`no echo-system line in ${output}`);
  return (
    (JSON.parse(line.slice('sim-echo-system: '.length)) as { appendSystemPrompt: string | null }).appendSystemPrompt ??
    ''
  );
}

describe('send, read, peek and count', () => {
  it('queues messages per slot; read drains them in order, peek and count do not', async () => {
    const pool = await simPool((b) => b.slots(3));
    const before = Date.now();
    const first = pool.sendMessage('slot-0', 'slot-2', 'first');
    const second = pool.sendMessage('slot-1', 'slot-2', 'second');
    const third = pool.sendMessage('slot-2', 'slot-0', 'to zero');
    expect(first).toMatch(/^msg-/);
    expect(new Set([first, second, third]).size).toBe(3);

    expect(pool.messageCount('slot-2')).toBe(2);
    expect(pool.messageCount('slot-0')).toBe(1);
    expect(pool.messageCount('slot-1')).toBe(0);

    const peeked = pool.peekMessages('slot-2');
    expect(peeked.map((m) => [m.id, m.from, m.to, m.content])).toEqual([
      [first, 'slot-0', 'slot-2', 'first'],
      [second, 'slot-1', 'slot-2', 'second'],
    ]);
    for (const message of peeked) {
      expect(message.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Date.parse(message.timestamp)).toBeGreaterThanOrEqual(before - 1);
      expect(Date.parse(message.timestamp)).toBeLessThanOrEqual(Date.now());
    }
    // Peek leaves them, and what it returns is a copy.
    const expected = [...peeked];
    peeked.pop();
    expect(pool.peekMessages('slot-2')).toHaveLength(2);
    expect(pool.messageCount('slot-2')).toBe(2);

    const read = pool.readMessages('slot-2');
    expect(read).toEqual(expected);
    expect(read.map((m) => m.content)).toEqual(['first', 'second']);
    expect(pool.readMessages('slot-2')).toEqual([]);
    expect(pool.messageCount('slot-2')).toBe(0);
    expect(pool.peekMessages('slot-2')).toEqual([]);
    // Other inboxes are untouched.
    expect(pool.readMessages('slot-0').map((m) => m.content)).toEqual(['to zero']);
  });

  it('a slot may message itself; every message is published on messages$', async () => {
    const pool = await simPool((b) => b.slots(2));
    const seen: Message[] = [];
    const subscription = pool.messages$().subscribe((message) => seen.push(message));
    const id = pool.sendMessage('slot-1', 'slot-1', 'note to self');
    pool.broadcastMessage('slot-0', 'all');
    await eventually(() => seen.length === 2);
    subscription.unsubscribe();
    expect(seen.map((m) => [m.from, m.to, m.content])).toEqual([
      ['slot-1', 'slot-1', 'note to self'],
      ['slot-0', 'slot-1', 'all'],
    ]);
    expect(seen[0].id).toBe(id);
    expect(pool.readMessages('slot-1').map((m) => m.content)).toEqual(['note to self', 'all']);
  });
});

describe('broadcast', () => {
  it('reaches every slot but the sender, with one id per recipient', async () => {
    const pool = await simPool((b) => b.slots(4));
    const ids = pool.broadcastMessage('slot-1', 'standup in 5');
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    expect(pool.messageCount('slot-1')).toBe(0);
    for (const slot of ['slot-0', 'slot-2', 'slot-3']) {
      const [message] = pool.peekMessages(slot);
      expect(message).toMatchObject({ from: 'slot-1', to: slot, content: 'standup in 5' });
      expect(ids).toContain(message.id);
    }
    // A pool of one: nobody to tell.
    const alone = await simPool((b) => b.slots(1));
    expect(alone.broadcastMessage('slot-0', 'anyone?')).toEqual([]);
  });

  it('reaches slots added by scale-up and not slots removed by scale-down', async () => {
    const pool = await simPool((b) => b.slots(2));
    await pool.scaleUp(2);
    await pool.scaleDown(1); // removes slot-3, the newest idle one
    const ids = pool.broadcastMessage('slot-0', 'hello');
    expect(ids).toHaveLength(2);
    expect([pool.messageCount('slot-1'), pool.messageCount('slot-2')]).toEqual([1, 1]);
    expect(() => pool.messageCount('slot-3')).toThrow(SlotNotFound);
  });
});

describe('unknown slots and bad input', () => {
  it('throw SlotNotFound / InvalidInput and queue nothing', async () => {
    const pool = await simPool((b) => b.slots(2));
    expect(() => pool.sendMessage('slot-0', 'slot-9', 'x')).toThrow(SlotNotFound);
    expect(() => pool.sendMessage('slot-9', 'slot-0', 'x')).toThrow(new SlotNotFound('slot-9'));
    expect(() => pool.sendMessage('slot-0', 'slot-9', 'x')).toThrow('slot not found: slot-9');
    expect(() => pool.broadcastMessage('slot-7', 'x')).toThrow(SlotNotFound);
    expect(() => pool.readMessages('nope')).toThrow(SlotNotFound);
    expect(() => pool.peekMessages('nope')).toThrow(SlotNotFound);
    expect(() => pool.messageCount('nope')).toThrow(SlotNotFound);
    expect(() => pool.sendMessage('slot-0', 'slot-1', 42 as never)).toThrow(InvalidInput);
    expect(() => pool.broadcastMessage('slot-0', undefined as never)).toThrow(InvalidInput);
    expect(pool.messageCount('slot-0') + pool.messageCount('slot-1')).toBe(0);
  });
});

describe('delivery into the next task', () => {
  it('puts unread messages in the system prompt of the slot’s next task, in order, then removes them', async () => {
    const pool = await simPool((b) => b.slots(2).slotConfig({ name: 'ada', role: 'reviewer' }));
    pool.sendMessage('slot-1', 'slot-0', 'please review PR 12');
    pool.sendMessage('slot-1', 'slot-0', 'and PR 13');
    pool.sendMessage('slot-0', 'slot-1', 'for slot-1 only');
    const [first, second] = pool.peekMessages('slot-0');

    const result = await pool.run('work [[sim:echo-system]]');
    const [task] = await pool.listTasks();
    expect(task.slotId).toBe('slot-0');
    const appended = appendedSystemPrompt(result.output);
    const time = (m: Message) => m.timestamp.slice(11, 19);
    expect(appended).toContain('You are ada, a reviewer.');
    expect(appended).toContain(
      [
        '## Messages received while idle',
        `**From slot-1** (${time(first)} UTC): please review PR 12`,
        `**From slot-1** (${time(second)} UTC): and PR 13`,
      ].join('\n\n'),
    );
    expect(appended).not.toContain('for slot-1 only');
    // Delivered means read: the inbox is empty, and the next task does not get them again.
    expect(pool.messageCount('slot-0')).toBe(0);
    const next = await pool.run('again [[sim:echo-system]]');
    expect(appendedSystemPrompt(next.output)).not.toContain('Messages received while idle');
    // The other slot's message waits for that slot.
    expect(pool.messageCount('slot-1')).toBe(1);
  });

  it('delivers a broadcast to the slot that runs next', async () => {
    const pool = await simPool((b) => b.slots(2));
    const blocker = await pool.submit('block [[sim:hang]]');
    await eventually(async () => (await pool.task(blocker)).state === 'running');
    pool.broadcastMessage('slot-0', 'build is green');
    expect(pool.messageCount('slot-0')).toBe(0);
    const result = await pool.run('next [[sim:echo-system]]');
    expect((await pool.listTasks({ state: 'completed' }))[0].slotId).toBe('slot-1');
    expect(appendedSystemPrompt(result.output)).toContain('**From slot-0**');
    expect(appendedSystemPrompt(result.output)).toContain('build is green');
    expect(pool.messageCount('slot-1')).toBe(0);
    await pool.cancel(blocker);
  });

  it('a removed slot’s inbox goes with it: a new slot with the same id starts empty', async () => {
    const pool = await simPool((b) => b.slots(3));
    pool.sendMessage('slot-0', 'slot-2', 'for the old slot-2');
    expect(await pool.scaleDown(1)).toBe(2); // slot-2: idle, unused, newest
    expect(() => pool.peekMessages('slot-2')).toThrow(SlotNotFound);
    await pool.scaleUp(1);
    expect(pool.slots().map((slot) => slot.id)).toEqual(['slot-0', 'slot-1', 'slot-2']);
    expect(pool.messageCount('slot-2')).toBe(0);
  });
});
