import { describe, expect, it } from 'vitest';
import { EventLog, type LoggedEvent } from '../../src/http/event-log.js';

describe('EventLog', () => {
  it('numbers events 1, 2, 3, … and keeps only the newest `capacity`', () => {
    const log = new EventLog(3);
    for (const n of [1, 2, 3, 4, 5]) log.append('tick', { n });
    expect(log.lastId).toBe(5);
    const all = log.read(0);
    expect(all.backlog.map((e) => e.id)).toEqual([3, 4, 5]);
    expect(all.gap).toBe(true);
    const resumed = log.read(3);
    expect(resumed.backlog.map((e) => e.id)).toEqual([4, 5]);
    expect(resumed.gap).toBe(false);
    expect(log.read(5).backlog).toEqual([]);
  });

  it('hands live events to readers and completes them when closed; ids go on after a reopen', () => {
    const log = new EventLog(10);
    log.append('a', 1);
    const reading = log.read(1);
    const seen: LoggedEvent[] = [];
    let completed = false;
    reading.live.subscribe({ next: (e) => seen.push(e), complete: () => (completed = true) });
    log.append('b', 2);
    log.close();
    expect(log.append('c', 3)).toBeUndefined();
    expect(seen.map((e) => [e.id, e.event])).toEqual([[2, 'b']]);
    expect(completed).toBe(true);
    expect(log.read(0).ended).toBe(true);
    log.reopen();
    expect(log.append('d', 4)?.id).toBe(3);
  });

  it('rejects a capacity that is not a positive integer', () => {
    expect(() => new EventLog(0)).toThrow(RangeError);
  });
});
