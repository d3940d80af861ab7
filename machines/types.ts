import type { BackpressureConfig, ConcurrencyStatus } from './backpressure.js';
import type { ErrorCode, TaskFailure } from './failure.js';

/**
 * Domain types shared by the statecharts and the adapters.
 *
 * Everything here is plain data: records are what the store persists and what snapshots publish.
 * Money is integer microdollars (USD × 1,000,000, truncated) everywhere inside the pool.
 */

/** A slot id: `slot-0`, `slot-1`, … */
export type SlotId = string;
/** A task id: `task-…` for tasks, `chain-…` for chains. */
export type TaskId = string;

/** Permission modes accepted by `claude --permission-mode`. */
export type PermissionMode = 'default' | 'acceptEdits' | 'bypassPermissions' | 'dontAsk' | 'plan' | 'auto';
/** Every permission mode, in the CLI's order. */
export const PERMISSION_MODES: readonly PermissionMode[] = [
  'default',
  'acceptEdits',
  'bypassPermissions',
  'dontAsk',
  'plan',
  'auto',
];

/** Effort levels accepted by `claude --effort`. */
export type Effort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';
/** Every effort level, in the CLI's order. */
export const EFFORTS: readonly Effort[] = ['low', 'medium', 'high', 'xhigh', 'max'];

/** MCP server definitions by name, as in `.mcp.json`'s `mcpServers`. */
export type McpServers = Record<string, unknown>;

/** Bounds for scaling the pool. */
export interface ScalingConfig {
  /** Fewest slots `scaleDown` may leave (default 1). */
  minSlots: number;
  /** Most slots `scaleUp` may create (default 16). */
  maxSlots: number;
}

/** Pool-wide defaults and limits. */
export interface PoolConfig {
  /** Default `--model`. */
  model?: string;
  /** Default `--permission-mode`; the pool's effective default is `plan`. */
  permissionMode?: PermissionMode;
  /** Default `--max-turns`. */
  maxTurns?: number;
  /** Base system prompt given to every slot. */
  systemPrompt?: string;
  /** Tools pre-approved for every task (slot and task lists are appended). */
  allowedTools: string[];
  /** MCP servers for every slot (slot and task entries override by name). */
  mcpServers: McpServers;
  /** Default `--effort`. */
  effort?: Effort;
  /** Default `--fallback-model`. */
  fallbackModel?: string;
  /** Pool-wide spend cap in microdollars. */
  budgetMicrodollars?: number;
  /**
   * What a task without its own cap reserves from the pool budget while it runs (and is given as its
   * `--max-budget-usd`). Default: its share of what is unreserved, shared among the free slots, never less
   * than `minTaskReserveMicrodollars`. The reservations together never exceed the budget.
   */
  defaultTaskReserveMicrodollars?: number;
  /**
   * The floor: the least an uncapped task reserves (default 50,000 = $0.05, about one model call). When less
   * than this is left, the pool answers `BudgetExhausted` instead of starting a run that could not complete.
   */
  minTaskReserveMicrodollars: number;
  /** How often the supervisor may restart an errored slot (default 3). */
  maxRestarts: number;
  /** Give every slot its own git worktree. */
  worktreeIsolation: boolean;
  /** How long a task may wait for an idle slot before it fails with `NoSlotAvailable` (default 300). */
  slotAssignmentTimeoutSecs: number;
  /** Scaling bounds. */
  scaling: ScalingConfig;
  /** Turn a failed run whose stderr shows a permission prompt into `PermissionPromptDetected`. */
  detectPermissionPrompts: boolean;
  /** Whether `startSupervisor()` starts anything. */
  supervisorEnabled: boolean;
  /** How many consecutive crashed runs move a slot to Errored (default 3). */
  crashThreshold: number;
  /** Pass `--strict-mcp-config` whenever an MCP config is passed (default true). */
  strictMcpConfig: boolean;
  /** Where worktrees and clones are made (default `<repo>/.claude/pool-worktrees`). */
  worktreeBaseDir?: string;
  /** How the pool backs off when the model API pushes back (HTTP 429/529, `api_retry`, a used-up window). */
  backpressure: BackpressureConfig;
}

/** Per-slot overrides; a set field wins over the pool's. */
export interface SlotConfig {
  model?: string;
  permissionMode?: PermissionMode;
  maxTurns?: number;
  systemPrompt?: string;
  /** Appended to the pool's list. */
  allowedTools?: string[];
  /** Merged with the pool's by name. */
  mcpServers?: McpServers;
  effort?: Effort;
  fallbackModel?: string;
  /** Shown to the agent as its identity, and used by `findSlots`. */
  name?: string;
  /** Shown to the agent as its identity, and used by `findSlots`. */
  role?: string;
  /** Shown to the agent as its identity. */
  description?: string;
}

/** Per-task overrides; a set field wins over the slot's and the pool's. */
export interface TaskOverrides {
  model?: string;
  permissionMode?: PermissionMode;
  maxTurns?: number;
  systemPrompt?: string;
  /** Appended to the pool and slot lists. */
  allowedTools?: string[];
  /** Task-only: tools taken away. */
  disallowedTools?: string[];
  /** Task-only: the built-in tool set (`--tools`); `[]` gives none. */
  tools?: string[];
  /** Merged with the pool's and slot's by name. */
  mcpServers?: McpServers;
  effort?: Effort;
  fallbackModel?: string;
  /** JSON schema for structured output (`--json-schema`). */
  jsonSchema?: unknown;
  /** The task's own spend cap in USD (`--max-budget-usd`), reserved from the pool budget at dispatch. */
  maxBudgetUsd?: number;
  /** Kill the run after this many seconds. */
  timeoutSecs?: number;
}

/** Slot states, as published in records and snapshots. */
export type SlotState = 'idle' | 'busy' | 'retiring' | 'errored' | 'stopped';

/** Task states, as published in records and snapshots. */
export type TaskState = 'pending' | 'running' | 'pending_review' | 'completed' | 'failed' | 'cancelled';

/** States a task never leaves. */
export const FINAL_TASK_STATES: readonly TaskState[] = ['completed', 'failed', 'cancelled'];

/** What one run of the agent produced. */
export interface TaskResult {
  /** The final text (or the error text). */
  output: string;
  /** True when the agent's result line said the run succeeded. */
  success: boolean;
  /** What this run spent, in microdollars. */
  costMicrodollars: number;
  /** Model round trips in this run. */
  turnsUsed: number;
  /** Wall time of the run measured by the pool. */
  elapsedMs: number;
  /** The model the CLI reported (or the one asked for). */
  model?: string;
  /** The CLI session id of the run. */
  sessionId?: string;
  /** The command line, when the run failed without a result. */
  failedCommand?: string;
  /** Exit code of a failed run. */
  exitCode?: number;
  /** Signal that ended a failed run. */
  signal?: string;
  /** stderr of a failed run. */
  stderr?: string;
  /** True when the run cost more than its cap. */
  budgetExceeded?: boolean;
  /** Tools the CLI denied during the run. */
  permissionDenials?: PermissionDenial[];
  /** The CLI's result subtype (`success`, `error_max_turns`, …). */
  subtype?: string;
  /** The structured output, when the task asked for a JSON schema. */
  structuredOutput?: unknown;
  /** The stable code of the failure (`cancelled`, `timeout`, `crashed`, `api_error`, …); unset on success. */
  errorCode?: ErrorCode;
  /** Why the task failed, as data; unset on success. */
  failure?: TaskFailure;
  /** The HTTP status of the model API's error, when the run ended on one. */
  apiErrorStatus?: number;
  /** What the agent streamed before the run failed on an API error (set when it streamed anything). */
  partialOutput?: string;
}

/** One tool call the CLI denied. */
export interface PermissionDenial {
  toolName: string;
  toolUseId?: string;
  toolInput?: unknown;
}

/** A tool-permission question an agent asked and waits on. */
export interface PendingPermission {
  /** The question's id (answer it with `answerPermission`). */
  requestId: string;
  toolName: string;
  /** The tool's input as the agent asked to run it. */
  input: Record<string, unknown>;
  toolUseId?: string;
  /** When it was asked (Unix ms). */
  requestedAtMs: number;
  /** When it is denied if no one answers (Unix ms). */
  deadlineAtMs: number;
}

/** The durable record of a task. */
export interface TaskRecord {
  id: TaskId;
  /** The prompt as it will run (after a rejection it carries the feedback). */
  prompt: string;
  state: TaskState;
  slotId?: SlotId;
  result?: TaskResult;
  tags: string[];
  config?: TaskOverrides;
  /** Run in this directory instead of the slot's. */
  workingDir?: string;
  reviewRequired: boolean;
  maxRejections: number;
  rejectionCount: number;
  originalPrompt?: string;
  /** Set on chain records: this task is a chain, not a prompt run. */
  kind: 'task' | 'chain';
  createdAtMs: number;
  startedAtMs?: number;
  completedAtMs?: number;
  /** While Running: the tool-permission questions the agent waits on (the task is AwaitingPermission). */
  pendingPermissions?: PendingPermission[];
}

/** The durable record of a slot. */
export interface SlotRecord {
  id: SlotId;
  state: SlotState;
  config: SlotConfig;
  currentTask?: TaskId;
  /** CLI session the next task on this slot resumes. */
  sessionId?: string;
  /** The cumulative cost the CLI last reported for that session, in USD (subtracted after a resume). */
  sessionCostUsd?: number;
  /** Runs on this slot that completed their task (a run whose result reported a failure does not count). */
  tasksCompleted: number;
  costMicrodollars: number;
  restartCount: number;
  /** Consecutive runs that ended without a result line. */
  consecutiveCrashes: number;
  /** Why the slot is errored. */
  lastError?: string;
  worktreePath?: string;
}

/** Filter for `PoolStore.listTasks`. */
export interface TaskFilter {
  state?: TaskState;
  slotId?: SlotId;
  /** Matches when any tag matches. */
  tags?: string[];
}

/** The pool's counts, spend and shutdown flag. */
export interface PoolStatus {
  totalSlots: number;
  idleSlots: number;
  busySlots: number;
  retiringSlots: number;
  erroredSlots: number;
  stoppedSlots: number;
  pendingTasks: number;
  runningTasks: number;
  pendingReviewTasks: number;
  completedTasks: number;
  failedTasks: number;
  cancelledTasks: number;
  /** Settled spend. */
  totalSpendMicrodollars: number;
  /** Held for running tasks, not yet settled. */
  reservedMicrodollars: number;
  budgetMicrodollars?: number;
  shutdown: boolean;
  /**
   * Back-pressure: the concurrency limit now, why, any pause and the tasks in rate-limit backoff. `status()` and
   * the MCP/REST status read it live; a snapshot (`snapshot$`, `status$`) carries it as it was when the snapshot
   * was made. `events$` reports its changes (`pool.throttled`, `pool.recovered`, `pool.paused`, `pool.resumed`).
   */
  concurrency?: ConcurrencyStatus;
}

/** What `drain()` reports. */
export interface DrainSummary {
  totalCostMicrodollars: number;
  totalTasksCompleted: number;
  /** Queued tasks that drain cancelled (policy `cancel`) or ran (policy `finish`). */
  cancelledTasks: TaskId[];
}

/** A message between slots. */
export interface Message {
  id: string;
  from: SlotId;
  to: SlotId;
  content: string;
  /** RFC 3339, UTC. */
  timestamp: string;
}

/** What a chain step does. */
export type StepAction =
  { type: 'prompt'; prompt: string } | { type: 'skill'; skill: string; arguments?: Record<string, string> };

/** What a chain does when a step fails. */
export interface StepFailurePolicy {
  /** Extra attempts after the first. */
  retries: number;
  /** Runs after the last failed attempt instead of failing the chain (`{error}`, `{previous_output}`). */
  recoveryPrompt?: string;
}

/** One step of a chain. */
export interface ChainStep {
  name: string;
  action: StepAction;
  config?: TaskOverrides;
  failurePolicy?: StepFailurePolicy;
  /** Variable name → dot path into the step's JSON output. */
  outputVars?: Record<string, string>;
}

/** How a chain is isolated from the main checkout. */
export type ChainIsolation = 'none' | 'worktree' | 'clone';

/** Options of `submitChain`. */
export interface ChainOptions {
  tags?: string[];
  isolation?: ChainIsolation;
}

/** What one step of a chain produced. */
export interface StepResult {
  name: string;
  output: string;
  success: boolean;
  costMicrodollars: number;
  retriesUsed: number;
  skipped: boolean;
}

/** What a chain produced. */
export interface ChainResult {
  steps: StepResult[];
  finalOutput: string;
  totalCostMicrodollars: number;
  success: boolean;
}

/** Chain status in progress reports. */
export type ChainStatus = 'running' | 'completed' | 'failed' | 'cancelled';

/** Live view of a chain. */
export interface ChainProgress {
  chainId: TaskId;
  totalSteps: number;
  currentStep?: number;
  currentStepName?: string;
  currentStepPartialOutput?: string;
  /** Unix milliseconds. */
  currentStepStartedAt?: number;
  completedSteps: StepResult[];
  status: ChainStatus;
  /** Warnings the chain collected (isolation fallback, output variables not found, cleanup failures); set once it ends. */
  warnings?: string[];
}

/** How one agent run ended, as the slot statechart sees it. */
export interface RunOutcome {
  result: TaskResult;
  /** The cumulative session cost the CLI reported (for the next resume). */
  sessionCostUsd?: number;
  /**
   * `ok`: a result line arrived (success or not). `crashed`: the process ended without a result line.
   * `spawn_failed`: the process never started. `aborted`: the pool stopped it. `timeout`: it ran too long.
   */
  kind: 'ok' | 'crashed' | 'spawn_failed' | 'aborted' | 'timeout';
}

/** The work a slot is handed: one run of one task. */
export interface SlotJob {
  taskId: TaskId;
  prompt: string;
  overrides?: TaskOverrides;
  /** Run here instead of the slot's directory. */
  workingDir?: string;
  /** The cap reserved for this run from the pool budget, in microdollars (passed to the CLI). */
  reservedMicrodollars?: number;
}
