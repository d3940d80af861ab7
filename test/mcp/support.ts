/**
 * Test support for the MCP server: spawn `claude-pool serve` (the built CLI) and talk to it with the SDK's
 * own client over stdio.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';

/** The built CLI entry point. */
export const CLI_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/src/cli/main.js');

/** Fails fast with a clear message when the package has not been built. */
export function requireBuild(): void {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} not found: run npm run build first`);
}

/** A global skills folder that does not exist, so that no test reads the developer's ~/.claude-pool/skills. */
export const NO_GLOBAL_SKILLS_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../fixtures/skills/no-global-skills',
);

/**
 * The environment without any CLAUDE_POOL_* setting of the developer's shell, and with the global skills
 * folder pointed at a folder that does not exist (override it in `extra`).
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('CLAUDE_POOL_') && key !== 'CLAUDECODE') env[key] = value;
  }
  return { ...env, CLAUDE_POOL_GLOBAL_SKILLS_DIR: NO_GLOBAL_SKILLS_DIR, ...extra };
}

/** A connected client and what it needs to be closed. */
export interface ServerHandle {
  client: Client;
  transport: StdioClientTransport;
  /** What the server wrote to stderr so far. */
  stderr(): string;
  close(): Promise<void>;
}

/**
 * Starts `node dist/src/cli/main.js serve …args` in a fresh temporary directory (or `options.cwd`) and
 * connects; `options.env` is added to the clean environment.
 */
export async function startServer(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<ServerHandle> {
  requireBuild();
  const ownDir = options.cwd === undefined;
  const cwd = options.cwd ?? mkdtempSync(join(tmpdir(), 'claude-pool-mcp-e2e-'));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI_MAIN, 'serve', ...args],
    cwd,
    env: cleanEnv(options.env),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const client = new Client({ name: 'claude-pool-e2e', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    transport,
    stderr: () => stderr,
    async close() {
      await client.close();
      if (ownDir) rmSync(cwd, { recursive: true, force: true });
    },
  };
}

/** The JSON body of a tool result (its structured content), checked against the text content. */
export function bodyOf(result: CallToolResult): Record<string, unknown> {
  const body = result.structuredContent as Record<string, unknown>;
  expect(body).toBeTypeOf('object');
  const text = result.content.find((c) => c.type === 'text');
  expect(text?.type).toBe('text');
  expect(JSON.parse((text as { text: string }).text)).toEqual(body);
  return body;
}

/** Calls a tool that must succeed; returns its body. */
export async function callOk(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  onprogress?: (progress: Progress) => void,
): Promise<Record<string, unknown>> {
  const result = (await client.callTool(
    { name, arguments: args },
    undefined,
    onprogress ? { onprogress } : {},
  )) as CallToolResult;
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return bodyOf(result);
}

/** Calls a tool that must fail; returns the error's code and message. */
export async function callError(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<{ code: string; message: string }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError, `${name} should fail: ${JSON.stringify(result.content)}`).toBe(true);
  const body = bodyOf(result) as { error: { code: string; message: string } };
  expect(body.error.code).toBeTypeOf('string');
  expect(body.error.message).toBeTypeOf('string');
  return body.error;
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
