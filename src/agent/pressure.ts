/**
 * API pressure as the agent adapter reports it to the pool: the stream's `api_retry` and `rate_limit` events
 * become the pool's `PressureSignal`s while the run goes on.
 */
import type { PressureSignal } from '../../machines/backpressure.js';
import type { AgentEvent } from './types.js';

/**
 * The pressure signal an agent event stands for, or `undefined` (most events; also a `rate_limit_event` that
 * only reports an open window, which the real CLI prints on every call).
 */
export function pressureSignalOf(event: AgentEvent): PressureSignal | undefined {
  if (event.type === 'api_retry') {
    const { type: _type, ...fields } = event;
    return { kind: 'api_retry', ...fields };
  }
  if (event.type === 'rate_limit' && event.status === 'rejected') {
    const { type: _type, ...fields } = event;
    return { kind: 'rate_limit', ...fields };
  }
  return undefined;
}
