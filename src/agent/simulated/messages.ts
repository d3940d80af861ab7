/**
 * Builders for the stream-json lines of `claude -p --output-format stream-json --verbose` 2.1.331.
 * Field names, order and constant values copy the captured real output in `shared/claude-cli/captured/`.
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** The CLI version the simulated agent claims to be. */
export const CLAUDE_CODE_VERSION = '2.1.331';

/** A JSON object line. */
export type Json = Record<string, unknown>;

/** Model aliases of 2.1.331 and the ids they resolve to. */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  opus: 'claude-opus-5-5',
  sonnet: 'claude-sonnet-5-5',
  haiku: 'claude-haiku-5-5',
  fable: 'claude-fable-5-2',
};

/** The model used when `--model` is not given. */
export const DEFAULT_MODEL = 'claude-opus-5-5';

/** Resolves an alias (`opus`, `sonnet`, `haiku`, `fable`) to its id; other values pass through. */
export function resolveModel(model: string | undefined): string {
  if (model === undefined || model === '') return DEFAULT_MODEL;
  return MODEL_ALIASES[model] ?? model;
}

/** The built-in tool list the real CLI reports in `init.tools` by default. */
export const DEFAULT_TOOLS: readonly string[] = [
  'Task',
  'Bash',
  'CronCreate',
  'CronDelete',
  'CronList',
  'DesignSync',
  'Edit',
  'EnterWorktree',
  'ExitWorktree',
  'ListAgents',
  'Monitor',
  'NotebookEdit',
  'Read',
  'ReportFindings',
  'ScheduleWakeup',
  'SendMessage',
  'Skill',
  'TaskStop',
  'ToolSearch',
  'WebFetch',
  'WebSearch',
  'Workflow',
  'Write',
];

const SLASH_COMMANDS = [
  'deep-research',
  'design',
  'design-sync',
  'dataviz',
  'update-config',
  'verify',
  'debug',
  'code-review',
  'simplify',
  'batch',
  'fewer-permission-prompts',
  'doctor',
  'loop',
  'claude-api',
  'workflow-authoring',
  'run',
  'run-skill-generator',
  'plugin-authoring',
  'agents',
  'auto-mode-setup',
  'autocompact',
  'clear',
  'color',
  'compact',
  'config',
  'output-style',
  'context',
  'effort',
  'fast',
  'focus',
  'heapdump',
  'init',
  'mcp',
  'model',
  '__remote-workflow',
  'workflow-launch-exec',
  'reload-plugins',
  'reload-skills',
  'rename',
  'security-review',
  'usage',
  'insights',
  'recap',
  'goal',
  'design-consent',
  'design-revoke',
  'list-agents',
  'team-onboarding',
];
const SKILLS = SLASH_COMMANDS.slice(0, 18);
const CAPABILITIES = [
  'interrupt_receipt_v1',
  'interrupt_cancel_queued_v1',
  'interrupt_send_now_v1',
  'interrupt_requeue_taken_v1',
  'msg_lifecycle_v1',
  'request_marker_lists_v1',
  'ask_user_question_unanswered_v1',
  'lifecycle_wakeup_source_v1',
  'sdk_mcp_tools_list_changed',
  'sdk_mcp_manifests',
  'mcp_read_resource_v1',
  'mcp_tool_ui_meta_v1',
  'ui_surface_v1',
  'mcp_call_result_not_for_model_v1',
  'mcp_call_soft_error_result_v1',
  'mcp_call_check_permissions_v1',
  'voice_call_talk_line_v1',
  'withdrawn_files_note_v2',
  'withdrawn_tools_v1',
  'ui_pane_widget_v1',
  'reload_plugins_refuse_if_busy_v1',
  'get_usage_detached_v1',
  'silent_resend_files_v1',
];
const PLUGINS = ['cc-plugin-agents-md', 'cc-plugin-telemetry', 'cc-plugin-privacy', 'cc-plugin-plugin-authoring'].map(
  (name) => ({ name, path: 'builtin', source: `${name}@builtin` }),
);

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random id in the style of the API's ids: `msg_01…`, `toolu_01…`, `req_01…`. */
export function apiId(prefix: 'msg' | 'toolu' | 'req'): string {
  const bytes = randomBytes(22);
  let s = '';
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return `${prefix}_01${s}`;
}

/** Per-call usage of one `assistant` line: the message_start figures (output_tokens is 1). */
export interface CallUsage {
  inputTokens: number;
}

/** The fixed context every line of a run shares. */
export interface LineContext {
  sessionId: string;
  model: string;
}

/** Inputs of the `system/init` line. */
export interface InitInfo {
  cwd: string;
  tools: string[];
  mcpServers: { name: string; status: string; source?: string }[];
  permissionMode: string;
  apiKeySource: string;
  servedByAnthropic: boolean;
  memoryDir: string;
  additionalDirectories: string[];
}

/** The `system/init` line, first of every stream-json run. */
export function initLine(ctx: LineContext, info: InitInfo): Json {
  return {
    type: 'system',
    subtype: 'init',
    cwd: info.cwd,
    session_id: ctx.sessionId,
    tools: info.tools,
    mcp_servers: info.mcpServers,
    model: ctx.model,
    permissionMode: info.permissionMode,
    slash_commands: SLASH_COMMANDS,
    terminal_slash_commands: ['doctor', 'color', 'focus', 'reload-plugins'],
    apiKeySource: info.apiKeySource,
    claude_code_version: CLAUDE_CODE_VERSION,
    output_style: 'default',
    agents: ['claude', 'Explore', 'general-purpose', 'Plan', 'statusline-setup'],
    skills: SKILLS,
    plugins: PLUGINS,
    capabilities: CAPABILITIES,
    analytics_disabled: false,
    product_feedback_disabled: false,
    served_by_anthropic: info.servedByAnthropic,
    uuid: randomUUID(),
    sandbox_enabled: false,
    memory_paths: { auto: info.memoryDir },
    original_cwd: info.cwd,
    additional_directories: info.additionalDirectories,
    messaging_socket_path: `/tmp/cc-socks/${process.pid}.sock`,
    fast_mode_state: 'off',
    fast_mode_disabled_reason: 'sdk_opt_in_required',
    per_turn_effort_active: true,
    ultrathink_available: false,
    ultrathink_typed_raises: false,
    view_mode: 'default',
  };
}

/** One content block of an assistant message. */
export type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown };

/** The `usage` of an assistant message as the CLI prints it while the message streams (one output token so far). */
export function messageUsage(inputTokens: number): Json {
  return {
    input_tokens: inputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: 1,
    service_tier: 'standard',
  };
}

/** One `assistant` line: a single content block of a model response (the CLI prints one per block). */
export function assistantLine(
  ctx: LineContext,
  call: { messageId: string; requestId: string; inputTokens: number },
  block: ContentBlock,
): Json {
  return {
    type: 'assistant',
    message: {
      id: call.messageId,
      type: 'message',
      role: 'assistant',
      model: ctx.model,
      content: [block],
      stop_reason: null,
      stop_sequence: null,
      usage: messageUsage(call.inputTokens),
      context_management: null,
    },
    parent_tool_use_id: null,
    session_id: ctx.sessionId,
    uuid: randomUUID(),
    timestamp: new Date().toISOString(),
    request_id: call.requestId,
  };
}

/** The synthetic `assistant` line the CLI makes itself when a call fails (`model: "<synthetic>"`). */
export function syntheticErrorLine(
  ctx: LineContext,
  text: string,
  error: string,
  api?: { status: number; type: string },
): Json {
  const line: Json = {
    type: 'assistant',
    message: {
      diagnostics: null,
      id: randomUUID(),
      container: null,
      model: '<synthetic>',
      role: 'assistant',
      stop_details: null,
      stop_reason: 'stop_sequence',
      stop_sequence: '',
      type: 'message',
      usage: {
        output_tokens_details: null,
        input_tokens: 0,
        output_tokens: 0,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
        service_tier: null,
        cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 },
        inference_geo: null,
        iterations: null,
        speed: null,
        fallback_credit: null,
      },
      content: [{ type: 'text', text }],
      context_management: null,
    },
    parent_tool_use_id: null,
    session_id: ctx.sessionId,
    uuid: randomUUID(),
    timestamp: new Date().toISOString(),
    error,
  };
  if (api) line.request_id = apiId('req');
  line.is_api_error_message = true;
  if (api) {
    line.api_error_status = api.status;
    line.api_error_type = api.type;
  }
  return line;
}

/** A `system/api_retry` line. */
export function apiRetryLine(
  ctx: LineContext,
  attempt: number,
  maxRetries: number,
  delayMs: number,
  status: number | null,
  error: string,
): Json {
  return {
    type: 'system',
    subtype: 'api_retry',
    attempt,
    max_retries: maxRetries,
    retry_delay_ms: delayMs,
    error_status: status,
    error,
    session_id: ctx.sessionId,
    uuid: randomUUID(),
  };
}

/**
 * A `rate_limit_event` line: the account's usage window. `resetsAt` is Unix seconds, as the CLI prints it;
 * `status` is `allowed`, `allowed_warning` or `rejected` (the window is used up).
 */
export function rateLimitEventLine(ctx: LineContext, status: string, resetsAt: number): Json {
  return {
    type: 'rate_limit_event',
    rate_limit_info: {
      status,
      resetsAt,
      rateLimitType: 'five_hour',
      overageStatus: 'rejected',
      overageDisabledReason: 'org_level_disabled',
      isUsingOverage: false,
    },
    uuid: randomUUID(),
    session_id: ctx.sessionId,
  };
}

/** A `user` line carrying one tool_result. */
export function toolResultLine(
  ctx: LineContext,
  toolUseId: string,
  content: string,
  isError: boolean | undefined,
  toolUseResult: unknown,
  meta: Json | undefined,
): Json {
  const block: Json = { tool_use_id: toolUseId, type: 'tool_result', content };
  if (isError !== undefined) block.is_error = isError;
  return {
    type: 'user',
    message: { role: 'user', content: [block] },
    parent_tool_use_id: null,
    session_id: ctx.sessionId,
    uuid: randomUUID(),
    timestamp: new Date().toISOString(),
    tool_use_result: toolUseResult,
    ...(meta ? { tool_result_meta: [{ id: toolUseId, ...meta }] } : {}),
  };
}

/** The `system/permission_denied` line printed before a denied call's error tool_result. */
export function permissionDeniedLine(ctx: LineContext, toolName: string, toolUseId: string, message: string): Json {
  return {
    type: 'system',
    subtype: 'permission_denied',
    tool_name: toolName,
    tool_use_id: toolUseId,
    message,
    uuid: randomUUID(),
    session_id: ctx.sessionId,
  };
}

/** The `user` line printed when SIGINT interrupts a request. */
export function interruptedLine(ctx: LineContext, text = '[Request interrupted by user]'): Json {
  return {
    type: 'user',
    message: { role: 'user', content: [{ type: 'text', text }] },
    parent_tool_use_id: null,
    session_id: ctx.sessionId,
    uuid: randomUUID(),
    timestamp: new Date().toISOString(),
  };
}

/** `system/status` (only with `--include-partial-messages`). */
export function statusLine(ctx: LineContext, status: string): Json {
  return { type: 'system', subtype: 'status', status, session_id: ctx.sessionId, uuid: randomUUID() };
}

/** A `stream_event` line wrapping one Messages-API SSE event (only with `--include-partial-messages`). */
export function streamEventLine(ctx: LineContext, event: Json): Json {
  return { type: 'stream_event', event, parent_tool_use_id: null, session_id: ctx.sessionId, uuid: randomUUID() };
}

/** Token and cost totals for one model. */
export interface ModelTotals {
  inputTokens: number;
  outputTokens: number;
  thinkingTokens: number;
  costUSD: number;
}

/** Per-model usage as the CLI prints it in `modelUsage`. */
export function modelUsageEntry(model: string, t: ModelTotals): Json {
  return {
    inputTokens: t.inputTokens,
    outputTokens: t.outputTokens,
    cacheReadInputTokens: 0,
    cacheCreationInputTokens: 0,
    webSearchRequests: 0,
    costUSD: t.costUSD,
    contextWindow: 1000000,
    maxOutputTokens: 128000,
    thinkingTokens: t.thinkingTokens,
    cacheCreationEphemeral5mInputTokens: 0,
    cacheCreationEphemeral1hInputTokens: 0,
    canonicalModel: model,
    provider: 'firstParty',
    costBasis: 'list',
  };
}

/** Renders a `modelUsage` record. */
export function modelUsageRecord(usage: Record<string, ModelTotals>): Json {
  const out: Json = {};
  for (const [model, t] of Object.entries(usage)) out[model] = modelUsageEntry(model, t);
  return out;
}

/** The `result.usage` object (main loop of this process). */
export function resultUsage(input: number, output: number, thinking: number): Json {
  return {
    input_tokens: input,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: output,
    output_tokens_details: { thinking_tokens: thinking },
    server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
    service_tier: 'standard',
    cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 },
    inference_geo: '',
    iterations: [],
    speed: 'standard',
    fallback_credit: null,
  };
}

/** The all-zero `result.usage` of failed runs. */
export function zeroUsage(): Json {
  return {
    output_tokens_details: { thinking_tokens: 0 },
    input_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: 0,
    server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
    service_tier: 'standard',
    cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 },
    inference_geo: '',
    iterations: [],
    speed: 'standard',
    fallback_credit: null,
  };
}

const SUBAGENT_STATS = {
  spawned: 0,
  requested: { background: 0, foreground: 0, unset: 0 },
  started_in_background: 0,
  max_depth: 0,
  spawned_by_subagents: 0,
  completed: 0,
  failed: 0,
  killed: { parent: 0, user: 0, system: 0 },
  refused: { depth_limit: 0, concurrency_limit: 0, budget: 0 },
  by_type: {},
};

/** A denied tool call as listed in `result.permission_denials`. */
export interface PermissionDenial {
  tool_name: string;
  tool_use_id: string;
  tool_input: unknown;
}

/** What a run's `result` line reports. */
export interface ResultInfo {
  subtype: 'success' | 'error_max_turns' | 'error_max_budget_usd' | 'error_during_execution';
  isError: boolean;
  durationMs: number;
  durationApiMs: number;
  numTurns: number;
  stopReason: string | null;
  /** Cumulative over the session (after `--resume`). */
  totalCostUsd: number;
  usage: Json;
  /** Cumulative over the session. */
  modelUsage: Json;
  /** This process only; `undefined` leaves the field out (json output mode). */
  modelUsageSinceLastResult?: Json;
  permissionDenials: PermissionDenial[];
  terminalReason: string;
  /** Success subtype: the final text (or the error text when `isError`). */
  result?: string;
  /** Error subtypes. */
  errors?: string[];
  apiErrorStatus?: number | null;
  apiErrorType?: string;
  structuredOutput?: unknown;
  ttftMs?: number;
}

/** The `result` line: exactly one, last, for every run that was not killed or crashed. */
export function resultLine(ctx: LineContext, r: ResultInfo): Json {
  const line: Json = {
    duration_api_ms: r.durationApiMs,
    stop_reason: r.stopReason,
    session_id: ctx.sessionId,
    total_cost_usd: r.totalCostUsd,
    usage: r.usage,
    modelUsage: r.modelUsage,
    permission_denials: r.permissionDenials,
    terminal_reason: r.terminalReason,
    fast_mode_state: 'off',
    fast_mode_disabled_reason: 'sdk_opt_in_required',
    subagent_stats: SUBAGENT_STATS,
    safety_stops: 0,
    is_error: r.isError,
    num_turns: r.numTurns,
    subtype: r.subtype,
  };
  if (r.subtype === 'success') {
    line.api_error_status = r.apiErrorStatus ?? null;
    if (r.apiErrorType !== undefined) line.api_error_type = r.apiErrorType;
    line.result = r.result ?? '';
    if (r.structuredOutput !== undefined) line.structured_output = r.structuredOutput;
    if (r.ttftMs !== undefined) line.ttft_ms = r.ttftMs;
  } else {
    line.errors = r.errors ?? [];
  }
  line.type = 'result';
  line.duration_ms = r.durationMs;
  line.uuid = randomUUID();
  if (r.subtype === 'success' && r.ttftMs !== undefined) {
    line.ttft_stream_ms = Math.max(0, r.ttftMs - 1);
    line.time_to_request_ms = Math.max(0, r.ttftMs - 15);
    line.first_content_frame_ms = Math.max(0, r.ttftMs - 1);
  }
  line.queued_turn_count = 0;
  line.result_index = 0;
  if (r.modelUsageSinceLastResult !== undefined) line.model_usage_since_last_result = r.modelUsageSinceLastResult;
  return line;
}

/** The zeroed `error_during_execution` result of a startup failure (unknown resume id, bypass as root). */
export function zeroedFailureLine(sessionId: string, errors: string[], startupFailureReason?: string): Json {
  const line: Json = {
    type: 'result',
    subtype: 'error_during_execution',
    duration_ms: 0,
    duration_api_ms: 0,
    is_error: true,
    num_turns: 0,
    stop_reason: null,
    session_id: sessionId,
    total_cost_usd: 0,
    usage: zeroUsage(),
    modelUsage: {},
    permission_denials: [],
    uuid: randomUUID(),
    errors,
  };
  if (startupFailureReason !== undefined) line.startup_failure_reason = startupFailureReason;
  line.result_index = 0;
  return line;
}
