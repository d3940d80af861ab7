/**
 * The agent boundary: one run of a prompt by an agent process, as the slot actor sees it.
 */
import type { Effort, McpServers, PermissionMode, TaskResult } from '../../machines/types.js';
import type { PermissionDecision, ToolPermissionQuestion } from './control-protocol.js';

/** Pool, slot and task settings merged for one run (task > slot > pool). */
export interface ResolvedConfig {
  model?: string;
  /** Always set: the pool default is `plan`. */
  permissionMode: PermissionMode;
  maxTurns?: number;
  /** Replaces the CLI's default system prompt (`--system-prompt`). */
  systemPrompt?: string;
  /** Added to the system prompt (`--append-system-prompt`): identity, shared context, messages. */
  appendSystemPrompt?: string;
  allowedTools: string[];
  disallowedTools: string[];
  /** `undefined` keeps the CLI's default tool set. */
  tools?: string[];
  mcpServers: McpServers;
  strictMcpConfig: boolean;
  effort?: Effort;
  fallbackModel?: string;
  jsonSchema?: unknown;
  maxBudgetUsd?: number;
}

/** How the pool reaches the `claude` binary. */
export interface ClaudeOptions {
  /** Path or name of the executable (default `claude`). */
  binary?: string;
  /** Extra environment for every run. */
  env?: Record<string, string>;
  /** Default working directory (default: the process cwd). */
  workingDir?: string;
  /** Kill any run after this many seconds (default: no limit). */
  timeoutSecs?: number;
}

/** One run to perform. */
export interface AgentRunRequest {
  prompt: string;
  config: ResolvedConfig;
  workingDir: string;
  /** CLI session to continue (`--resume`). */
  resumeSessionId?: string;
  /** The cumulative session cost the CLI reported last time, to subtract after a resume. */
  previousSessionCostUsd?: number;
  /** Kill the run after this many milliseconds. */
  timeoutMs?: number;
  /** The slot that runs it: a runner that keeps processes warm keeps one per slot. */
  slotId?: string;
  /** The run must not continue the slot's conversation (it runs elsewhere, e.g. a chain step's directory). */
  newConversation?: boolean;
  /**
   * Answers the agent's tool-permission questions. When set, the run uses the stream-json session
   * (`--input-format stream-json --permission-prompt-tool stdio`) and every `can_use_tool` request is passed
   * here; `signal` aborts when the run ends before the answer (it is then denied).
   */
  askPermission?: (question: ToolPermissionQuestion, signal: AbortSignal) => Promise<PermissionDecision>;
}

/** Something that happened during a run, streamed as it happens. */
export type AgentEvent =
  | { type: 'spawned'; pid: number; command: string }
  | { type: 'init'; sessionId: string; model?: string }
  | { type: 'text'; text: string }
  | { type: 'tool_use'; name: string; input: unknown }
  | { type: 'permission_denied'; toolName: string; message?: string }
  /**
   * `system/api_retry`: the CLI is retrying a failed API call (the run goes on). `status` is the HTTP status
   * (`error_status`), `error` the CLI's classification (`overloaded`, `rate_limit`, …).
   */
  | { type: 'api_retry'; attempt?: number; maxRetries?: number; retryDelayMs?: number; status?: number; error?: string }
  /**
   * `rate_limit_event`: the account's usage window. `status` is `allowed`, `allowed_warning` or `rejected` (the
   * window is used up until `resetsAtMs`, Unix ms).
   */
  | { type: 'rate_limit'; status: string; resetsAtMs?: number; rateLimitType?: string }
  /** The run went on in a warm process (no new process was started). */
  | { type: 'reused'; pid: number };

/** How a run ended. */
export interface AgentOutcome {
  result: TaskResult;
  /** The cumulative session cost the CLI reported (for the next resume). */
  sessionCostUsd?: number;
  /**
   * `ok`: a result line arrived (success or not), or the run failed for a reason of its own that leaves the
   * agent fine (a command line too long for the system: `errorCode: 'spawn_failed'` in the result).
   * `crashed`: the process ended without a result line. `spawn_failed`: the agent could not be started (a
   * missing binary: the slot's fault). `aborted`: the pool killed it. `timeout`: it ran too long.
   */
  kind: 'ok' | 'crashed' | 'spawn_failed' | 'aborted' | 'timeout';
}

/** Runs prompts. The claude CLI adapter and test doubles implement it. */
export interface AgentRunner {
  run(request: AgentRunRequest, signal: AbortSignal, onEvent: (event: AgentEvent) => void): Promise<AgentOutcome>;
}
