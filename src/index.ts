/**
 * claude-pool: a pool of Claude Code CLI workers run as XState actors.
 *
 * The public API, named one by one. The raw statecharts are in `claude-pool/machines`, the SQLite store in
 * `claude-pool/sqlite`, the MCP server in `claude-pool/mcp` and the HTTP front door in `claude-pool/http`.
 */

// The pool and its options.
export { Pool, PoolBuilder } from './pool/index.js';
export type {
  CancelChainOptions,
  DrainOptions,
  FanOutChainOutcome,
  OutputChunk,
  RunOptions,
  SlotQuery,
  SubmitOptions,
  SupervisorHandle,
} from './pool/index.js';
export { defaultPoolConfig, resolveConfig } from './config.js';
export type { PoolConfigInput } from './config.js';
export type { InterruptedRunPolicy } from './restore.js';
export type { TaskFront } from './pool/task-front.js';
export type { ChainFront } from './pool/chain-front.js';
export { poolChainFront } from './pool/chain-front.js';

// Records, settings and results.
export type {
  ChainIsolation,
  ChainOptions,
  ChainProgress,
  ChainResult,
  ChainStatus,
  ChainStep,
  DrainSummary,
  Effort,
  McpServers,
  Message,
  PermissionDenial,
  PermissionMode,
  PendingPermission,
  PoolConfig,
  PoolStatus,
  ScalingConfig,
  SlotConfig,
  SlotId,
  SlotRecord,
  SlotState,
  StepAction,
  StepFailurePolicy,
  StepResult,
  TaskFilter,
  TaskId,
  TaskOverrides,
  TaskRecord,
  TaskResult,
  TaskState,
} from '../machines/types.js';
export { EFFORTS, FINAL_TASK_STATES, PERMISSION_MODES } from '../machines/types.js';
export type { ErrorCode, FailureKind, TaskFailure } from '../machines/failure.js';
export { formatUsd, usdToMicrodollars } from '../machines/budget.js';
export { defaultBackpressureConfig } from '../machines/backpressure.js';
export type { BackpressureConfig, ConcurrencyStatus, PressureReason } from '../machines/backpressure.js';

// Errors: every error the pool throws is a PoolError with a stable code.
export {
  BudgetExhausted,
  InvalidInput,
  InvalidTaskState,
  NoSlotAvailable,
  PermissionPromptDetected,
  PermissionRequestNotFound,
  PoolError,
  PoolShutdown,
  RateLimited,
  ScaleLimitExceeded,
  SlotNotFound,
  TaskBudgetExceedsRemaining,
  TaskCancelled,
  TaskNotFound,
} from './errors.js';
export type { CoreErrorCode, PoolErrorCode } from './errors.js';

// Observation and inspection.
export type { PersistentMap, PoolEvent, PoolEventType, PoolPhase, PoolSnapshot } from './observe.js';
export { describeActors, type ActorDescription } from './inspect/describe.js';
export {
  toGraph,
  type GraphEdge,
  type GraphEdgeKind,
  type GraphNode,
  type GraphNodeType,
  type StatechartGraph,
} from './inspect/graph.js';
export { toMermaid, type MermaidOptions } from './inspect/mermaid.js';
export { computeSessionMetrics } from './metrics.js';
export type { MetricsFilter, ModelMetrics, SessionMetrics } from './metrics.js';

// Stores.
export type { PoolStore } from './store/types.js';
export { MemoryStore } from './store/memory.js';
export { StoreError, StoreLocked, type StoreHolder } from './store/errors.js';

// Agents.
export type {
  AgentEvent,
  AgentOutcome,
  AgentRunner,
  AgentRunRequest,
  ClaudeOptions,
  ResolvedConfig,
} from './agent/types.js';
export { ClaudeCliRunner } from './agent/claude-cli.js';
export {
  SessionRunner,
  DEFAULT_WARM_IDLE_MS,
  DEFAULT_WARM_SLOTS,
  type WarmSlotOptions,
} from './agent/session-runner.js';
export type { PermissionDecision, ToolPermissionQuestion } from './agent/control-protocol.js';

// Tool-permission questions.
export {
  DEFAULT_PERMISSION_TIMEOUT_MS,
  ruleMatches,
  type PermissionAnsweredBy,
  type PermissionEvent,
  type PermissionOptions,
  type PermissionPolicy,
  type PermissionRequest,
  type PolicyAnswer,
} from './pool/permissions.js';
export { simulatedClaude } from './agent/simulated/path.js';

// Skills and workflows.
export {
  BUILTIN_SKILLS,
  SkillError,
  SkillRegistry,
  ejectSkill,
  loadSkillSources,
  renderSkill,
  saveSkill,
  shellCommandRunner,
  type RegisteredSkill,
  type SavedSkill,
  type SaveSkillOptions,
  type Skill,
  type SkillArgument,
  type SkillDefinition,
  type SkillErrorCode,
  type SkillScope,
  type SkillSource,
  type SkillSourceOptions,
} from './skills/index.js';
export {
  BUILTIN_WORKFLOWS,
  WorkflowError,
  WorkflowRegistry,
  instantiateWorkflow,
  type Workflow,
  type WorkflowArgument,
  type WorkflowErrorCode,
  type WorkflowStep,
} from './workflows/index.js';

// Auto-routing.
export {
  RouteError,
  RouteParseError,
  ROUTER_PROMPT,
  formatRouteTestReport,
  parseRouteTestCases,
  runRouteTest,
  type AutoConfig,
  type AutoHint,
  type AutoOptions,
  type AutoResult,
  type AutoRoute,
  type AutoStep,
  type RouteDecision,
  type RouteName,
  type RouteOptions,
  type RoutePreference,
  type RouteTestCase,
  type RouteTestOutcome,
  type RouteTestReport,
} from './routing/index.js';

// Git isolation.
export { WorktreeError, WorktreeManager, sanitizeId } from './worktree.js';
