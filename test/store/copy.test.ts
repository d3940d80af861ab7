import { describe, expect, it } from 'vitest';
import { copyPlain } from '../../src/store/copy.js';

describe('copyPlain', () => {
  it('copies nested records deeply, keeping undefined fields and leaving the original untouched', () => {
    const original = {
      id: 't',
      tags: ['a', 'b'],
      config: { mcpServers: { one: { command: 'x', args: ['--y'] } }, model: undefined },
      result: { output: 'o', success: true, failure: { kind: 'api_error', status: 529 } },
      none: null,
    };
    const copy = copyPlain(original);
    expect(copy).toStrictEqual(original);
    expect('model' in copy.config).toBe(true);
    copy.tags.push('c');
    copy.config.mcpServers.one.args.push('--z');
    copy.result.failure.status = 500;
    expect(original.tags).toEqual(['a', 'b']);
    expect(original.config.mcpServers.one.args).toEqual(['--y']);
    expect(original.result.failure.status).toBe(529);
  });

  it('returns primitives as they are', () => {
    expect(copyPlain(3)).toBe(3);
    expect(copyPlain('s')).toBe('s');
    expect(copyPlain(undefined)).toBeUndefined();
    expect(copyPlain(null)).toBeNull();
  });
});
