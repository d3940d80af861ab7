/**
 * claude-pool: a pool of Claude Code CLI workers run as XState actors.
 *
 * The public API, and nothing else.
 */
export { Pool, PoolBuilder } from './pool/index.js';
export type {
  CancelChainOptions,
  FanOutChainOutcome,
  DrainOptions,
  OutputChunk,
  RunOptions,
  SlotQuery,
  SubmitOptions,
  SupervisorHandle,
} from './pool/index.js';
export * from './errors.js';
export type * from '../machines/types.js';
export { EFFORTS, PERMISSION_MODES, FINAL_TASK_STATES } from '../machines/types.js';
export { defaultPoolConfig, resolveConfig } from './config.js';
export type { PoolConfigInput } from './config.js';
export type { PoolStore } from './store/types.js';
export { MemoryStore } from './store/memory.js';
export type {
  AgentEvent,
  AgentOutcome,
  AgentRunner,
  AgentRunRequest,
  ClaudeOptions,
  ResolvedConfig,
} from './agent/types.js';
export { ClaudeCliRunner } from './agent/claude-cli.js';
export { simulatedClaude } from './agent/simulated/path.js';
export { poolMachine } from '../machines/pool.js';
export { slotMachine } from '../machines/slot.js';
export { taskMachine } from '../machines/task.js';
export { chainMachine } from '../machines/chain.js';
export { extractOutputVar, renderStepPrompt } from '../machines/templating.js';
export * from './skills/index.js';
export * from './workflows/index.js';
export { WorktreeManager, WorktreeError, sanitizeId } from './worktree.js';
export { usdToMicrodollars } from '../machines/budget.js';
export { computeSessionMetrics } from './metrics.js';
export type { MetricsFilter, ModelMetrics, SessionMetrics } from './metrics.js';
export type { PoolEvent, PoolEventType, PoolPhase, PoolSnapshot } from './observe.js';
export { describeActors, toGraph, toMermaid } from './inspect.js';
export type {
  ActorDescription,
  GraphEdge,
  GraphEdgeKind,
  GraphNode,
  GraphNodeType,
  MermaidOptions,
  StatechartGraph,
} from './inspect.js';
export { StoreError, StoreLocked, type StoreHolder } from './store/errors.js';
export type { InterruptedRunPolicy } from './restore.js';
/** Auto-routing: route, auto and the route-test harness. */
export * from './routing/index.js';
