/**
 * The published lists of permission modes, effort levels and final task states.
 */
import { describe, expect, it } from 'vitest';
import { EFFORTS, FINAL_TASK_STATES, PERMISSION_MODES } from '../../machines/types.js';

describe('published value lists', () => {
  it('lists the CLI’s permission modes in its order', () => {
    expect(PERMISSION_MODES).toEqual(['default', 'acceptEdits', 'bypassPermissions', 'dontAsk', 'plan', 'auto']);
  });
  it('lists the CLI’s effort levels in its order', () => {
    expect(EFFORTS).toEqual(['low', 'medium', 'high', 'xhigh', 'max']);
  });
  it('lists the states a task never leaves', () => {
    expect(FINAL_TASK_STATES).toEqual(['completed', 'failed', 'cancelled']);
  });
});
