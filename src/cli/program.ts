/**
 * The `claude-pool` command line: commander program, error reporting and exit codes.
 *
 * Command definitions are light; each action loads its module (and with it the pool, the MCP SDK…) only
 * when it runs, so `--help` and usage errors answer at once.
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../mcp/version.js';
import { addOutputOptions, addPoolOptions } from './common.js';
import { addServeSkillOptions } from './commands/serve-skill-options.js';
import { addTaskOptions } from './commands/task-options.js';
import { EXIT, exitCodeForError } from './exit-codes.js';
import { SETTING_FIELDS, SettingsError } from './settings.js';

/** What a command leaves for `runCli`. */
export interface CliState {
  /** The exit code (default 0). */
  exitCode: number;
  /** The command asked for JSON output (errors are then printed as JSON on stdout too). */
  json: boolean;
  /** Exit the process as soon as the command ends (servers may leave handles open). */
  forceExit: boolean;
}

const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    a task (or chain step) failed
  2    usage or configuration error (bad flag, invalid config file or environment variable)
  3    budget or pool error (budget exhausted, task budget above what is left, no slot, pool shut down)
  130  interrupted (Ctrl-C: the first drains gracefully, a second one stops at once)`;

const SETTINGS_HELP = `
Settings precedence: flags > config file (claude-pool.config.json / .toml, or --config) > environment > defaults.
Environment: ${SETTING_FIELDS.map((f) => f.env).join(', ')}, CLAUDE_POOL_CONFIG.
Docs: docs/cli.md and docs/mcp.md.`;

function defineCommands(state: CliState): Command[] {
  const demo = new Command('demo')
    .description(
      'Run the demo on the simulated agent: a fan-out, a chain and a review, with live progress (no credentials needed)',
    )
    .option('-n, --slots <n>', 'slot count', '4')
    .option('--json', 'print a JSON report instead of progress')
    .option('--ui', 'serve the live web page while the demo runs (its URL is printed; it stays up a while after)')
    .option('--ui-port <n>', 'port of the page with --ui (default: 3100; 0 = any free port)')
    .option(
      '--ui-linger <seconds>',
      'how long the page stays up after the demo with --ui (default: 60; Ctrl-C ends it sooner)',
    )
    .option(
      '--ui-wait <seconds>',
      'with --ui, how long the demo waits for a page to connect before it starts (default: 10)',
    )
    .option(
      '--ui-pace <factor>',
      'with --ui, multiply the simulated agent delays to make the demo easier to follow (default: 4)',
    )
    .action(async (options) => (await import('./commands/demo.js')).demoAction(state, options));

  const run = new Command('run')
    .description(
      'Run one prompt on the pool and print its result (the answer on stdout, progress and a summary on stderr)',
    )
    .argument('<prompt>', 'the prompt for the agent');
  addOutputOptions(addPoolOptions(addTaskOptions(run)));
  run.action(async (prompt: string, options) => (await import('./commands/run.js')).runAction(state, prompt, options));

  const fanOut = new Command('fan-out')
    .description('Run prompts in parallel across the slots and print every result, in input order')
    .argument('[prompts...]', 'prompts, one task each')
    .option(
      '-f, --file <path>',
      'read prompts from a file, one per line (blank lines and # comments skipped; - = stdin)',
    );
  addOutputOptions(addPoolOptions(addTaskOptions(fanOut)));
  fanOut.action(async (prompts: string[], options) =>
    (await import('./commands/fan-out.js')).fanOutAction(state, prompts, options),
  );

  const chain = new Command('chain')
    .description('Run a chain of steps from a JSON or YAML file; each step sees {previous_output} and {steps.NAME.VAR}')
    .argument('<file>', 'chain file: a list of steps, or {steps, tags?, isolation?}')
    .option('--isolation <mode>', "none, worktree or clone (default: the file's, else worktree in a git repository)")
    .option('--tag <tag...>', 'tag the chain (repeatable)');
  addOutputOptions(addPoolOptions(chain));
  chain.action(async (file: string, options) =>
    (await import('./commands/chain.js')).chainAction(state, file, options),
  );

  const routeTest = new Command('route-test')
    .description('Route every case of a JSON file with the router (the work is not run) and print the accuracy table')
    .argument(
      '<cases>',
      'JSON file: a list of {label, prompt, expected: route or [routes] (single, parallel, chain, any), hints?}',
    );
  addOutputOptions(addPoolOptions(routeTest));
  routeTest.action(async (file: string, options) =>
    (await import('./commands/route-test.js')).routeTestAction(state, file, options),
  );

  const serve = new Command('serve').description(
    'Serve the pool as an MCP server on stdio (for Claude Code and other MCP clients), or over HTTP (--http) with an ' +
      'optional REST API (--rest); logs go to stderr',
  );
  addPoolOptions(serve)
    .option('--verbose', 'log every task state change to stderr')
    .option('--http', 'serve MCP over Streamable HTTP at /mcp instead of stdio (several clients can share the pool)')
    .option('--port <n>', 'HTTP port (default: 3100)')
    .option('--bind <address>', 'HTTP bind address (default: 127.0.0.1); any other address needs --http-token')
    .option('--http-token <tokens...>', 'bearer tokens accepted by the HTTP server (comma-separated or repeated)')
    .option(
      '--rest',
      'also serve the REST API (/v1/..., SSE streams, webhooks, /openapi.json); with --http on the same port unless --rest-port differs',
    )
    .option('--rest-port <n>', 'port of the REST API when it has a server of its own (default: 3200)')
    .option('--rest-max-concurrent <n>', 'REST requests handled at once, more get 429 (default: 0 = no limit)')
    .option('--mcp-config <file>', 'JSON file {"mcpServers": {...}}: MCP servers every slot run gets')
    .option('--no-strict-mcp-config', 'slot runs may also use the MCP servers of their usual Claude Code config')
    .option('--no-ui', 'do not serve the live web page at /ui/ on the HTTP server');
  addServeSkillOptions(serve);
  serve.action(async (options) => (await import('./commands/serve.js')).serveAction(state, options));

  const ui = new Command('ui').description(
    'Serve the pool with its live web page (slots, statecharts, queue, timeline, reviews, budget) at http://127.0.0.1:<port>/ui/, ' +
      'plus MCP at /mcp and the REST API at /v1 on the same port to give it work; Ctrl-C stops',
  );
  addPoolOptions(ui)
    .option('--verbose', 'log every task state change to stderr')
    .option('--port <n>', 'HTTP port (default: 3100)')
    .option('--bind <address>', 'bind address (default: 127.0.0.1); any other address needs --http-token')
    .option(
      '--http-token <tokens...>',
      'bearer tokens the page and the API accept (the page URL carries the first one)',
    );
  addServeSkillOptions(ui);
  ui.action(async (options) =>
    (await import('./commands/serve.js')).serveAction(state, { ...options, http: true, rest: true, ui: true }),
  );

  const status = new Command('status').description(
    'Build a pool from the flags, config file and environment; print the resolved settings (and where each came from) and the pool status',
  );
  addPoolOptions(status).option('--json', 'print one JSON document');
  status.action(async (options) => (await import('./commands/status.js')).statusAction(state, options));

  const inspect = new Command('inspect')
    .description('Print a statechart (pool, slot, task, chain) as a Mermaid stateDiagram-v2')
    .argument('[machine]', 'pool, slot, task or chain (none: list them)')
    .option('--json', 'print the JSON graph (nodes and edges) instead')
    .option('--direction <dir>', 'layout direction: LR, TB, RL, BT')
    .action(async (machine: string | undefined, options) =>
      (await import('./commands/inspect.js')).runInspect(state, machine, options),
    );

  return [demo, run, fanOut, chain, routeTest, serve, ui, status, inspect];
}

/** Builds the program; commands record their exit code in `state`. */
export function createProgram(state: CliState): Command {
  const program = new Command('claude-pool')
    .description('A pool of Claude Code workers: run, fan out and chain prompts, or serve the pool over MCP')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP + '\n' + SETTINGS_HELP);
  // With --json, usage errors are printed as JSON by runCli instead of commander's text (and its hint).
  const outputError = (text: string, write: (text: string) => void) => {
    if (!state.json) write(text);
  };
  const writeErr = (text: string) => {
    if (!state.json) process.stderr.write(text);
  };
  program.configureOutput({ writeOut: (t) => process.stdout.write(t), writeErr, outputError });
  for (const command of defineCommands(state)) {
    command
      .exitOverride()
      .showHelpAfterError('(run with --help for usage)')
      .addHelpText('after', EXIT_CODES_HELP)
      .configureOutput({ writeErr, outputError });
    program.addCommand(command);
  }
  return program;
}

/** Prints an error the way the command asked for (JSON on stdout with `--json`, else text on stderr). */
async function reportError(error: unknown, state: CliState): Promise<void> {
  if (error instanceof CommanderError) {
    // Commander printed it already, unless --json asked for JSON (help and version are not errors).
    if (state.json && error.exitCode !== 0) {
      const failure = { code: 'usage', message: error.message.replace(/^error: /, '') };
      process.stdout.write(`${JSON.stringify({ error: failure }, null, 2)}\n`);
    }
    return;
  }
  let failure: { code: string; message: string };
  if (error instanceof SettingsError) failure = { code: error.code, message: error.message };
  else failure = (await import('../mcp/errors.js')).describeError(error);
  if (state.json) process.stdout.write(`${JSON.stringify({ error: failure }, null, 2)}\n`);
  else
    process.stderr.write(
      `error: ${failure.message}${failure.code === 'invalid_settings' ? '' : ` [${failure.code}]`}\n`,
    );
}

/** Runs the command line; resolves with the exit code and whether to exit at once. */
export async function runCli(argv: readonly string[]): Promise<{ exitCode: number; forceExit: boolean }> {
  // --json before any `--` asks for JSON errors, even when parsing fails before the command runs.
  const end = argv.indexOf('--');
  const json = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  const state: CliState = { exitCode: EXIT.ok, json, forceExit: false };
  const program = createProgram(state);
  try {
    await program.parseAsync([...argv]);
    return { exitCode: state.exitCode, forceExit: state.forceExit };
  } catch (error) {
    await reportError(error, state);
    return { exitCode: exitCodeForError(error), forceExit: true };
  }
}
