/**
 * Builds the `claude` command line for one run. The result is an argv array for a direct spawn: no shell.
 *
 * Single-value flags are written as one `--flag=value` entry (as the Agent SDK does), so a value that starts
 * with `-` can never be read as an option. Variadic flags (`--allowedTools`, `--disallowedTools`, `--tools`)
 * get one comma-joined `--flag=a,b` entry, and the options end with `--` followed by the prompt, so no variadic
 * flag can swallow the prompt and a prompt that starts with `-` is not read as an option.
 */
import type { ResolvedConfig } from './types.js';

/** The parts of a run request that reach the command line. */
export interface ArgvRequest {
  prompt: string;
  /** CLI session to continue (`--resume=<id>`). */
  resumeSessionId?: string;
  /** The prompt goes to stdin (too long for argv): the command line ends with the options. */
  promptOnStdin?: boolean;
  /** The system prompt is in this file (too long for argv): `--system-prompt-file`. */
  systemPromptFile?: string;
  /** The appended system prompt is in this file: `--append-system-prompt-file`. */
  appendSystemPromptFile?: string;
  /** The MCP config is in this file (too long for argv): `--mcp-config <file>`. */
  mcpConfigFile?: string;
}

/**
 * The argv (without the binary) for `claude -p` in stream-json mode:
 * `-p --output-format stream-json --verbose`, then the config flags, then `--` and the prompt as the last element
 * (unless `promptOnStdin`).
 */
export function buildClaudeArgv(config: ResolvedConfig, request: ArgvRequest): string[] {
  const argv: string[] = ['-p', '--output-format', 'stream-json', '--verbose'];

  if (nonEmpty(config.model)) argv.push(`--model=${config.model}`);
  if (nonEmpty(config.fallbackModel) && config.fallbackModel !== config.model) {
    argv.push(`--fallback-model=${config.fallbackModel}`);
  }
  if (isFiniteNumber(config.maxTurns)) argv.push(`--max-turns=${String(config.maxTurns)}`);
  if (isFiniteNumber(config.maxBudgetUsd)) argv.push(`--max-budget-usd=${String(config.maxBudgetUsd)}`);
  if (nonEmpty(config.effort)) argv.push(`--effort=${config.effort}`);
  argv.push(`--permission-mode=${config.permissionMode}`);

  const allowed = uniqueNonEmpty(config.allowedTools);
  if (allowed.length > 0) argv.push(`--allowedTools=${allowed.join(',')}`);
  const disallowed = uniqueNonEmpty(config.disallowedTools);
  if (disallowed.length > 0) argv.push(`--disallowedTools=${disallowed.join(',')}`);
  if (config.tools !== undefined) argv.push(`--tools=${uniqueNonEmpty(config.tools).join(',')}`);

  if (nonEmpty(request.systemPromptFile)) argv.push(`--system-prompt-file=${request.systemPromptFile}`);
  else if (nonEmpty(config.systemPrompt)) argv.push(`--system-prompt=${config.systemPrompt}`);
  if (nonEmpty(request.appendSystemPromptFile))
    argv.push(`--append-system-prompt-file=${request.appendSystemPromptFile}`);
  else if (nonEmpty(config.appendSystemPrompt)) argv.push(`--append-system-prompt=${config.appendSystemPrompt}`);

  const mcpServers = config.mcpServers ?? {};
  if (Object.keys(mcpServers).length > 0) {
    argv.push('--mcp-config', nonEmpty(request.mcpConfigFile) ? request.mcpConfigFile : mcpConfigJson(mcpServers));
    if (config.strictMcpConfig) argv.push('--strict-mcp-config');
  }

  if (config.jsonSchema !== undefined && config.jsonSchema !== null) {
    const schema = typeof config.jsonSchema === 'string' ? config.jsonSchema : JSON.stringify(config.jsonSchema);
    argv.push(`--json-schema=${schema}`);
  }

  if (nonEmpty(request.resumeSessionId)) argv.push(`--resume=${request.resumeSessionId}`);

  if (!request.promptOnStdin) argv.push('--', request.prompt);
  return argv;
}

/**
 * A copy-pasteable POSIX shell rendering of a command, for failure details only (the runner never uses a
 * shell). Arguments that are empty or contain anything beyond `[A-Za-z0-9_@%+=:,./-]` are single-quoted.
 */
export function commandString(binary: string, argv: readonly string[]): string {
  return [binary, ...argv].map(shellQuote).join(' ');
}

/** Single-quotes one argument when a POSIX shell would otherwise split or interpret it. */
export function shellQuote(arg: string): string {
  if (arg.length > 0 && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The `--mcp-config` JSON of a server map. */
export function mcpConfigJson(mcpServers: ResolvedConfig['mcpServers']): string {
  return JSON.stringify({ mcpServers });
}

function nonEmpty(value: string | undefined): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isFiniteNumber(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function uniqueNonEmpty(values: readonly string[] | undefined): string[] {
  const seen = new Set<string>();
  for (const v of values ?? []) {
    const t = v.trim();
    if (t.length > 0) seen.add(t);
  }
  return [...seen];
}
