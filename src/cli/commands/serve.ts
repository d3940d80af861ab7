/**
 * `claude-pool serve`: the MCP server on stdio (default), or over Streamable HTTP (`--http`), optionally with
 * the REST API (`--rest`). On stdio, stdout carries the protocol; logs always go to stderr.
 */
import { serveStdio, type StdioServing } from '../../mcp/serve.js';
import { err, settingsFromOptions, type PoolCommandOptions } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { buildPool } from '../pool-factory.js';
import type { CliState } from '../program.js';
import { gitTopLevel, planServe, type ServeFlagOptions } from '../serve-options.js';
import { SettingsError } from '../settings.js';
import { clusterFronts, clusterTarget, joinCluster, localPoolSettings } from '../cluster.js';
import { skillLoadOptionsFrom, type ServeSkillOptions } from './serve-skill-options.js';

/**
 * How long the server may take to stop once its client has gone. The MCP SDK's stdio client closes stdin, sends
 * SIGTERM 2 s later and SIGKILL after that; the server is gone well before, so its shutdown is never cut short.
 */
export const SHUTDOWN_DEADLINE_MS = 1_500;
/** After cancelling running work, how long the drain may wait for what is left before killing it. */
const DRAIN_AFTER_CANCEL_MS = 300;

/** Options of `serve`. */
export interface ServeCommandOptions extends PoolCommandOptions, ServeFlagOptions, ServeSkillOptions {
  verbose?: boolean;
  /** Serve the live web page at `/ui/` on the first HTTP listener (default true; `--no-ui`). */
  ui?: boolean;
}

/** A running front door (stdio or an HTTP listener). */
interface Front {
  /** Resolves when it ends on its own (the stdio client went away); HTTP listeners never do. */
  closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs `serve` until the client disconnects (stdin ends: exit 0) or SIGINT/SIGTERM arrives (exit 130). Either
 * way running tasks are cancelled (their cost booked), queued ones dropped, and the process is gone within
 * {@link SHUTDOWN_DEADLINE_MS}; a second signal exits at once. Agents never outlive the server.
 */
export async function serveAction(state: CliState, options: ServeCommandOptions): Promise<void> {
  delete process.env.CLAUDECODE;
  const plan = planServe(options);
  const resolved = settingsFromOptions(options);
  const { settings } = resolved;
  const log = (text: string) => err(`[claude-pool] ${text}`);
  if (settings.workingDir === undefined) {
    // As the reference server: tasks run at the top of the git repository, else in the current directory.
    const top = await gitTopLevel(process.cwd());
    if (top) settings.workingDir = top;
    else log(`not in a git repository: tasks run in ${process.cwd()}`);
  }
  if (plan.listeners.length > 0 && plan.tokens.length === 0) {
    const { isLoopback } = await import('../../http/server.js');
    if (!isLoopback(plan.bind)) {
      throw new SettingsError([
        `refusing to bind ${plan.bind} without --http-token: anyone who can reach it could run tasks (bind 127.0.0.1, or pass --http-token)`,
      ]);
    }
    log('no --http-token: the HTTP server accepts every local client');
  }
  const cluster = clusterTarget(settings);
  const built = await buildPool(cluster ? localPoolSettings(settings) : settings, {
    supervisor: true,
    skills: skillLoadOptionsFrom(options),
    ...(plan.mcpServers ? { mcpServers: plan.mcpServers } : {}),
    strictMcpConfig: plan.strictMcpConfig,
  });
  const { pool, agent } = built;
  const node = cluster
    ? await joinCluster(pool, cluster).catch(async (error: unknown) => {
        await pool.drain().catch(() => undefined);
        await built.cleanup();
        throw error;
      })
    : undefined;
  if (node) log(`joined cluster ${cluster!.queue} as node ${node.nodeId}`);
  const supervisor = pool.startSupervisor();
  const subscription = options.verbose
    ? pool.events$.subscribe((event) => {
        if ('task' in event)
          log(
            `${event.type} ${event.task.id} ${event.task.state}${event.task.slotId ? ` on ${event.task.slotId}` : ''}`,
          );
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
  const info = { agent, slots: settings.slots, permissionMode: settings.permissionMode, model: settings.model };
  // A node of a cluster gives its clients the cluster's tasks and chains: its queue, its shared budget, every
  // node's slots.
  const clusterDoors = node ? await clusterFronts(node) : {};
  const fronts: Front[] = [];
  const summary =
    `${settings.slots} slots, ${agent === 'simulated' ? 'simulated agent' : agent}` +
    (settings.budgetUsd !== undefined ? `, budget $${settings.budgetUsd}` : '') +
    (resolved.configFile ? `, config ${resolved.configFile}` : '') +
    `, ${pool.skills.size} skills` +
    (options.allowSkillCommands ? ' (skill shell commands ENABLED: !`cmd` runs on this host)' : '');
  try {
    if (plan.listeners.length > 0) {
      const { startHttpServer } = await import('../../http/server.js');
      for (const [index, listener] of plan.listeners.entries()) {
        const withUi = options.ui !== false && index === 0;
        const serving = await startHttpServer(pool, {
          host: plan.bind,
          port: listener.port,
          tokens: plan.tokens,
          mcp: listener.mcp,
          rest: listener.rest,
          ui: withUi,
          maxConcurrent: plan.restMaxConcurrent,
          info,
          ...clusterDoors,
        }).catch((error: unknown) => {
          // A refused configuration or a port that cannot be bound is a usage problem (exit 2).
          const code = (error as { code?: unknown }).code;
          if (
            error instanceof Error &&
            (error.name === 'HttpServerError' || (typeof code === 'string' && code.startsWith('E')))
          ) {
            throw new SettingsError([`cannot serve HTTP on ${plan.bind}:${listener.port}: ${error.message}`]);
          }
          throw error;
        });
        fronts.push({ closed: new Promise<void>(() => undefined), close: () => serving.close() });
        const { uiPageUrl } = await import('../../ui/serve.js');
        const what = [
          listener.mcp ? `MCP at ${serving.url}/mcp` : '',
          listener.rest ? `REST at ${serving.url}/v1` : '',
          withUi ? `live page at ${uiPageUrl(serving.url, plan.tokens[0])}` : '',
        ]
          .filter(Boolean)
          .join(', ');
        log(`HTTP server ready: ${what} (${summary})`);
      }
    }
    if (plan.stdio) {
      const serving: StdioServing = await serveStdio(pool, { info, ...clusterDoors });
      fronts.push(serving);
      log(`MCP server ready on stdio: ${summary}`);
    }
  } catch (error) {
    await Promise.allSettled(fronts.map((front) => front.close()));
    await node?.leave().catch(() => undefined);
    supervisor?.stop();
    await pool.drain({ queued: 'cancel', timeoutMs: 1000 }).catch(() => undefined);
    await built.cleanup();
    throw error;
  }
  await Promise.race([...fronts.map((front) => front.closed), stopped]);
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
  await node?.leave().catch(() => undefined);
  const totals = await pool.drain({ queued: 'cancel', timeoutMs: DRAIN_AFTER_CANCEL_MS }).catch(() => undefined);
  await Promise.allSettled(fronts.map((front) => front.close()));
  await built.cleanup();
  clearTimeout(deadline);
  if (totals) {
    log(
      `stopped: ${totals.totalTasksCompleted} task(s) completed, spent $${(totals.totalCostMicrodollars / 1e6).toFixed(4)}`,
    );
  }
  state.exitCode = exitCode;
  state.forceExit = true;
}
