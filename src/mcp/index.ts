/**
 * The MCP front door: a pool's operations as MCP tools and resources.
 */
export { allTools, createPoolMcpServer, packageVersion, SERVER_INSTRUCTIONS, SERVER_NAME } from './server.js';
export type { PoolMcpServerOptions, ServerInfo } from './server.js';
export { serveStdio, type StdioServing } from './serve.js';
export { ToolError, type ToolFailure } from './errors.js';
export type { PoolTool, ProgressReporter, ToolContext } from './tool.js';
