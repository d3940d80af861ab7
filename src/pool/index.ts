/**
 * The Pool facade and its builder, and the types of their options.
 */
export { Pool } from './pool.js';
export { PoolBuilder } from './builder.js';
export type {
  CancelChainOptions,
  DrainOptions,
  FanOutChainOutcome,
  OutputChunk,
  RunOptions,
  SlotQuery,
  SubmitOptions,
  SupervisorHandle,
} from './options.js';
