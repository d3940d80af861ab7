import { describe, expect, it } from 'vitest';
import { emptyKeyed, keyedFrom, withKey, withKeys, withoutKey } from '../../machines/keyed.js';

describe('keyed records', () => {
  it('are read like records and changed by copy, never in place', () => {
    const empty = emptyKeyed<number>();
    const one = withKey(empty, 'task-1', 1);
    const three = withKeys(one, [
      ['task-2', 2],
      ['task-3', 3],
    ]);
    expect(Object.keys(empty)).toEqual([]);
    expect(one['task-1']).toBe(1);
    expect('task-1' in three && 'task-3' in three).toBe(true);
    expect(Object.entries(three)).toEqual([
      ['task-1', 1],
      ['task-2', 2],
      ['task-3', 3],
    ]);
    const two = withoutKey(three, 'task-2');
    expect(Object.keys(two)).toEqual(['task-1', 'task-3']);
    expect(Object.keys(three)).toEqual(['task-1', 'task-2', 'task-3']);
  });

  it('returns the same record when the key to remove is absent, and takes plain records in', () => {
    const record = withKey(emptyKeyed<string>(), 'a', 'x');
    expect(withoutKey(record, 'b')).toBe(record);
    const converted = keyedFrom({ a: 1, b: 2 });
    expect(Object.getPrototypeOf(converted)).toBeNull();
    expect(converted).toEqual({ a: 1, b: 2 });
  });

  it('has no prototype, so ids such as "constructor" or "toString" are ordinary keys', () => {
    const record = emptyKeyed<number>();
    expect('toString' in record).toBe(false);
    expect(withKey(record, 'constructor', 5).constructor).toBe(5);
  });
});
