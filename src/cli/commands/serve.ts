/**
 * `claude-pool serve`: the MCP server on stdio. stdout carries the protocol; logs go to stderr.
 */
import { serveStdio } from '../../mcp/serve.js';
import { err, settingsFromOptions, type PoolCommandOptions } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { buildPool } from '../pool-factory.js';
import type { CliState } from '../program.js';

/**
 * How long the server may take to stop once its client has gone. The MCP SDK's stdio client closes stdin, sends
 * SIGTERM 2 s later and SIGKILL after that; the server is gone well before, so its shutdown is never cut short.
 */
export const SHUTDOWN_DEADLINE_MS = 1_500;
/** After cancelling running work, how long the drain may wait for what is left before killing it. */
const DRAIN_AFTER_CANCEL_MS = 300;

/** Options of `serve`. */
export interface ServeCommandOptions extends PoolCommandOptions {
  verbose?: boolean;
}

/**
 * Runs `serve` until the client disconnects (stdin ends: exit 0) or SIGINT/SIGTERM arrives (exit 130). Either
 * way running tasks are cancelled (their cost booked), queued ones dropped, and the process is gone within
 * {@link SHUTDOWN_DEADLINE_MS}; a second signal exits at once. Agents never outlive the server.
 */
export async function serveAction(state: CliState, options: ServeCommandOptions): Promise<void> {
  delete process.env.CLAUDECODE;
  const resolved = settingsFromOptions(options);
  const { settings } = resolved;
  const built = await buildPool(settings, { supervisor: true });
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
      (resolved.configFile ? `, config ${resolved.configFile}` : ''),
  );
  await Promise.race([serving.closed, stopped]);
  log(signalled ? 'interrupted: stopping the pool' : 'client disconnected: stopping the pool');
  const exitCode = signalled ? EXIT.interrupted : EXIT.ok;
  // Past the deadline the process exits at once: its agents are killed with it (see the agent lifeline).
  const deadline = setTimeout(() => {
    log('the pool did not stop in time: exiting now');
    process.exit(exitCode);
  }, SHUTDOWN_DEADLINE_MS);
  subscription?.unsubscribe();
  supervisor?.stop();
  // Running tasks are cancelled first: each is interrupted, so the CLI reports what it spent and it is booked.
  const running = (await pool.listTasks({ state: 'running' }).catch(() => [])).filter((task) => task.kind === 'task');
  await Promise.allSettled(running.map((task) => pool.cancel(task.id)));
  const summary = await pool.drain({ queued: 'cancel', timeoutMs: DRAIN_AFTER_CANCEL_MS }).catch(() => undefined);
  await serving.close();
  await built.cleanup();
  clearTimeout(deadline);
  if (summary) {
    log(`stopped: ${summary.totalTasksCompleted} task(s) completed, spent $${(summary.totalCostMicrodollars / 1e6).toFixed(4)}`);
  }
  state.exitCode = exitCode;
  state.forceExit = true;
}
