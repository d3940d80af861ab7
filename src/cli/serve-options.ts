/**
 * The server flags of `claude-pool serve` (those of the reference server): transports (`--http`, `--rest`,
 * ports, bind address, tokens, REST concurrency), skill sources, `--mcp-config` and the working directory
 * default (the git top level). Every problem is a `SettingsError` naming the flag.
 */
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import type { McpServers } from '../../machines/types.js';
import { SettingsError } from './settings.js';

/** The server flags as commander parses them. */
export interface ServeFlagOptions {
  http?: boolean;
  port?: string;
  bind?: string;
  httpToken?: string[];
  rest?: boolean;
  restPort?: string;
  restMaxConcurrent?: string;
  builtins?: boolean;
  projectSkills?: boolean;
  globalSkills?: boolean;
  disableSkill?: string[];
  mcpConfig?: string;
  strictMcpConfig?: boolean;
}

/** One HTTP listener to start. */
export interface ListenerPlan {
  port: number;
  mcp: boolean;
  rest: boolean;
}

/** The resolved server flags. */
export interface ServePlan {
  /** MCP on stdio (no `--http`). */
  stdio: boolean;
  /** HTTP listeners: none, one (MCP and/or REST) or two (`--http` and `--rest` on different ports). */
  listeners: ListenerPlan[];
  bind: string;
  tokens: string[];
  restMaxConcurrent: number;
  mcpServers?: McpServers;
  strictMcpConfig: boolean;
}

/** The reference's default ports. */
export const DEFAULT_HTTP_PORT = 3100;
export const DEFAULT_REST_PORT = 3200;

function integer(
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
    return fallback;
  }
  return value;
}

/** Comma-separated, repeatable list values, trimmed, empties dropped. */
function list(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

/** Reads `--mcp-config FILE`: a JSON object `{mcpServers: {...}}`. */
export function readMcpConfig(path: string): McpServers {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError([
      `failed to read --mcp-config ${path}: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SettingsError([
      `invalid JSON in --mcp-config: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
  const servers = (parsed as { mcpServers?: unknown } | null)?.mcpServers;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof servers !== 'object' ||
    servers === null ||
    Array.isArray(servers)
  ) {
    throw new SettingsError([`--mcp-config ${path} must be a JSON object with an "mcpServers" object`]);
  }
  for (const [name, server] of Object.entries(servers)) {
    if (typeof server !== 'object' || server === null || Array.isArray(server)) {
      throw new SettingsError([`--mcp-config ${path}: mcpServers.${name} must be an object (a server definition)`]);
    }
  }
  return servers as McpServers;
}

/** Resolves the server flags; throws `SettingsError` listing every problem. */
export function planServe(options: ServeFlagOptions): ServePlan {
  const problems: string[] = [];
  const port = integer('--port', options.port, DEFAULT_HTTP_PORT, 0, 65535, problems);
  const restPortGiven = options.restPort !== undefined;
  const restPort = integer('--rest-port', options.restPort, DEFAULT_REST_PORT, 0, 65535, problems);
  const restMaxConcurrent = integer('--rest-max-concurrent', options.restMaxConcurrent, 0, 0, 1_000_000, problems);
  const tokens = list(options.httpToken);
  const http = options.http === true;
  const rest = options.rest === true;
  if (!http && !rest) {
    for (const [flag, given] of [
      ['--port', options.port !== undefined],
      ['--bind', options.bind !== undefined],
      ['--http-token', tokens.length > 0],
    ] as const) {
      if (given) problems.push(`${flag} needs --http or --rest`);
    }
  }
  if (!rest && (restPortGiven || options.restMaxConcurrent !== undefined)) {
    problems.push(`${restPortGiven ? '--rest-port' : '--rest-max-concurrent'} needs --rest`);
  }
  const listeners: ListenerPlan[] = [];
  if (http && rest && (!restPortGiven || restPort === port)) listeners.push({ port, mcp: true, rest: true });
  else {
    if (http) listeners.push({ port, mcp: true, rest: false });
    if (rest) listeners.push({ port: restPort, mcp: false, rest: true });
  }
  let mcpServers: McpServers | undefined;
  if (options.mcpConfig !== undefined) {
    try {
      mcpServers = readMcpConfig(options.mcpConfig);
    } catch (error) {
      problems.push(...(error instanceof SettingsError ? error.problems : [String(error)]));
    }
  }
  if (problems.length > 0) throw new SettingsError(problems);
  return {
    stdio: !http,
    listeners,
    bind: options.bind ?? '127.0.0.1',
    tokens,
    restMaxConcurrent,
    ...(mcpServers ? { mcpServers } : {}),
    strictMcpConfig: options.strictMcpConfig !== false,
  };
}

/** The git top level of `cwd`, or `undefined` outside a repository (or without git). */
export async function gitTopLevel(cwd: string): Promise<string | undefined> {
  const result = await execa('git', ['rev-parse', '--show-toplevel'], { cwd, reject: false });
  return result.exitCode === 0 && result.stdout.trim() !== '' ? result.stdout.trim() : undefined;
}
