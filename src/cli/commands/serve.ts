/**
 * `claude-pool serve`: the MCP server on stdio. stdout carries the protocol; logs go to stderr.
 */
import { serveStdio } from '../../mcp/serve.js';
import { err, settingsFromOptions, type PoolCommandOptions } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { buildPool } from '../pool-factory.js';
import type { CliState } from '../program.js';
import { skillLoadOptionsFrom, type ServeSkillOptions } from './serve-skill-options.js';

/** How long running tasks may take to finish when the server stops. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Options of `serve`. */
export interface ServeCommandOptions extends PoolCommandOptions, ServeSkillOptions {
  verbose?: boolean;
}

/** Runs `serve` until the client disconnects (exit 0) or a signal arrives (exit 130). */
export async function serveAction(state: CliState, options: ServeCommandOptions): Promise<void> {
  delete process.env.CLAUDECODE;
  const resolved = settingsFromOptions(options);
  const { settings } = resolved;
  const built = await buildPool(settings, { supervisor: true, skills: skillLoadOptionsFrom(options) });
  const { pool, agent } = built;
  const supervisor = pool.startSupervisor();
  const log = (text: string) => err(`[claude-pool] ${text}`);
  const subscription = options.verbose
    ? pool.events$.subscribe((event) => {
        if ('task' in event) log(`${event.type} ${event.task.id} ${event.task.state}${event.task.slotId ? ` on ${event.task.slotId}` : ''}`);
      })
    : undefined;
  // Handlers first: a signal that arrives once 'ready' is logged must find them in place.
  let signalled = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      if (signalled) process.exit(EXIT.interrupted);
      signalled = true;
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const serving = await serveStdio(pool, {
    info: { agent, slots: settings.slots, permissionMode: settings.permissionMode, model: settings.model },
  });
  log(
    `MCP server ready on stdio: ${settings.slots} slots, ${agent === 'simulated' ? 'simulated agent' : agent}` +
      (settings.budgetUsd !== undefined ? `, budget $${settings.budgetUsd}` : '') +
      (resolved.configFile ? `, config ${resolved.configFile}` : '') +
      `, ${pool.skills.size} skills` +
      (options.allowSkillCommands ? ' (skill shell commands ENABLED: !`cmd` runs on this host)' : ''),
  );
  await Promise.race([serving.closed, stopped]);
  log(signalled ? 'interrupted: draining the pool' : 'client disconnected: draining the pool');
  subscription?.unsubscribe();
  supervisor?.stop();
  const summary = await pool.drain({ queued: 'cancel', timeoutMs: SHUTDOWN_GRACE_MS }).catch(() => undefined);
  await serving.close();
  await built.cleanup();
  if (summary) {
    log(`stopped: ${summary.totalTasksCompleted} task(s) completed, spent $${(summary.totalCostMicrodollars / 1e6).toFixed(4)}`);
  }
  state.exitCode = signalled ? EXIT.interrupted : EXIT.ok;
  state.forceExit = true;
}
