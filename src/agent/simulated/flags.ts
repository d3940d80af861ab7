/**
 * Command-line parsing for the simulated agent, written to match how commander (which the real
 * `claude` 2.1.331 CLI uses) treats the same argv: `--flag value` and `--flag=value`, variadic options
 * that keep eating operands, `--` ending the options, short-flag combos, and the exact error texts.
 */

/** The three `--output-format` values. */
export type OutputFormat = 'text' | 'json' | 'stream-json';

/** Everything the simulated agent understood from its argv. */
export interface SimFlags {
  print: boolean;
  outputFormat: OutputFormat;
  inputFormat: 'text' | 'stream-json';
  verbose: boolean;
  includePartialMessages: boolean;
  model?: string;
  fallbackModel?: string;
  maxTurns?: number;
  maxBudgetUsd?: number;
  /** As given (`manual` not yet mapped to `default`). */
  permissionMode?: string;
  dangerouslySkipPermissions: boolean;
  /** `--permission-prompt-tool`: `stdio` asks the host with `can_use_tool` control requests. */
  permissionPromptTool?: string;
  /** Rules, split on commas and spaces outside parentheses. */
  allowedTools: string[];
  disallowedTools: string[];
  /** `undefined` when `--tools` was not given. */
  tools?: string[];
  systemPrompt?: string;
  appendSystemPrompt?: string;
  systemPromptFile?: string;
  appendSystemPromptFile?: string;
  /** `true` when `--resume` was given without a value (the interactive picker). */
  resume?: string | true;
  continue: boolean;
  sessionId?: string;
  forkSession: boolean;
  /** `false` with `--no-session-persistence`. */
  sessionPersistence: boolean;
  mcpConfig: string[];
  strictMcpConfig: boolean;
  addDir: string[];
  settings?: string;
  settingSources?: string;
  effort?: string;
  jsonSchema?: string;
  /** The first operand: the prompt. */
  prompt?: string;
  /** Every operand, the prompt included. */
  operands: string[];
}

/** What parsing produced: flags to run with, or an immediate answer (version, help, usage error). */
export type ParseOutcome =
  { kind: 'run'; flags: SimFlags } | { kind: 'version' } | { kind: 'help' } | { kind: 'error'; message: string };

type Arity = 'bool' | 'required' | 'optional' | 'variadic';

interface OptionSpec {
  /** Every spelling, e.g. `['-p', '--print']`. */
  names: string[];
  /** The commander flags string used in error messages, e.g. `--model <model>`. */
  display: string;
  arity: Arity;
  apply: (flags: SimFlags, value: string | undefined, spec: OptionSpec) => void;
}

class UsageError extends Error {}

const invalid = (spec: OptionSpec, value: string, why: string): UsageError =>
  new UsageError(`error: option '${spec.display}' argument '${value}' is invalid. ${why}`);

const choices =
  (allowed: readonly string[], accepted: readonly string[], set: (f: SimFlags, v: string) => void) =>
  (flags: SimFlags, value: string | undefined, spec: OptionSpec): void => {
    const v = value ?? '';
    if (!accepted.includes(v)) throw invalid(spec, v, `Allowed choices are ${allowed.join(', ')}.`);
    set(flags, v);
  };

/** Splits a tool list the way the CLI does: commas or whitespace, but not inside `Bash(git *)`. */
export function splitToolList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of value) {
    if (ch === '(') depth++;
    if (ch === ')') depth = Math.max(0, depth - 1);
    if (depth === 0 && (ch === ',' || /\s/.test(ch))) {
      if (current) out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) out.push(current);
  return out;
}

const ignore = (): void => {};

/** The permission modes the real CLI lists in its `--permission-mode` error (it accepts `default` too). */
export const PERMISSION_MODE_CHOICES = [
  'acceptEdits',
  'auto',
  'bypassPermissions',
  'manual',
  'dontAsk',
  'plan',
] as const;

const OPTIONS: OptionSpec[] = [
  { names: ['-p', '--print'], display: '-p, --print', arity: 'bool', apply: (f) => void (f.print = true) },
  {
    names: ['--output-format'],
    display: '--output-format <format>',
    arity: 'required',
    apply: choices(['text', 'json', 'stream-json'], ['text', 'json', 'stream-json'], (f, v) => {
      f.outputFormat = v as OutputFormat;
    }),
  },
  {
    names: ['--input-format'],
    display: '--input-format <format>',
    arity: 'required',
    apply: choices(['text', 'stream-json'], ['text', 'stream-json'], (f, v) => {
      f.inputFormat = v as SimFlags['inputFormat'];
    }),
  },
  { names: ['--verbose'], display: '--verbose', arity: 'bool', apply: (f) => void (f.verbose = true) },
  {
    names: ['--include-partial-messages'],
    display: '--include-partial-messages',
    arity: 'bool',
    apply: (f) => void (f.includePartialMessages = true),
  },
  { names: ['--model'], display: '--model <model>', arity: 'required', apply: (f, v) => void (f.model = v) },
  {
    names: ['--fallback-model'],
    display: '--fallback-model <model>',
    arity: 'required',
    apply: (f, v) => void (f.fallbackModel = v),
  },
  {
    names: ['--max-turns'],
    display: '--max-turns <turns>',
    arity: 'required',
    apply: (f, v, spec) => {
      const n = Number.parseInt(v ?? '', 10);
      if (Number.isNaN(n)) throw invalid(spec, v ?? '', 'must be a number');
      f.maxTurns = n;
    },
  },
  {
    names: ['--max-budget-usd'],
    display: '--max-budget-usd <amount>',
    arity: 'required',
    apply: (f, v, spec) => {
      const n = Number(v);
      if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n <= 0) {
        throw invalid(spec, v ?? '', '--max-budget-usd must be a number greater than 0');
      }
      f.maxBudgetUsd = n;
    },
  },
  {
    names: ['--permission-mode'],
    display: '--permission-mode <mode>',
    arity: 'required',
    apply: choices(PERMISSION_MODE_CHOICES, [...PERMISSION_MODE_CHOICES, 'default'], (f, v) => {
      f.permissionMode = v;
    }),
  },
  {
    names: ['--dangerously-skip-permissions'],
    display: '--dangerously-skip-permissions',
    arity: 'bool',
    apply: (f) => void (f.dangerouslySkipPermissions = true),
  },
  {
    names: ['--allowedTools', '--allowed-tools'],
    display: '--allowedTools, --allowed-tools <tools...>',
    arity: 'variadic',
    apply: (f, v) => void f.allowedTools.push(...splitToolList(v ?? '')),
  },
  {
    names: ['--disallowedTools', '--disallowed-tools'],
    display: '--disallowedTools, --disallowed-tools <tools...>',
    arity: 'variadic',
    apply: (f, v) => void f.disallowedTools.push(...splitToolList(v ?? '')),
  },
  {
    names: ['--tools'],
    display: '--tools <tools...>',
    arity: 'variadic',
    apply: (f, v) => void (f.tools = [...(f.tools ?? []), ...splitToolList(v ?? '')]),
  },
  {
    names: ['--system-prompt'],
    display: '--system-prompt <prompt>',
    arity: 'required',
    apply: (f, v) => void (f.systemPrompt = v),
  },
  {
    names: ['--append-system-prompt'],
    display: '--append-system-prompt <prompt>',
    arity: 'required',
    apply: (f, v) => void (f.appendSystemPrompt = v),
  },
  {
    names: ['--system-prompt-file'],
    display: '--system-prompt-file <file>',
    arity: 'required',
    apply: (f, v) => void (f.systemPromptFile = v),
  },
  {
    names: ['--append-system-prompt-file'],
    display: '--append-system-prompt-file <file>',
    arity: 'required',
    apply: (f, v) => void (f.appendSystemPromptFile = v),
  },
  {
    names: ['-r', '--resume'],
    display: '-r, --resume [value]',
    arity: 'optional',
    apply: (f, v) => void (f.resume = v ?? true),
  },
  { names: ['-c', '--continue'], display: '-c, --continue', arity: 'bool', apply: (f) => void (f.continue = true) },
  {
    names: ['--session-id'],
    display: '--session-id <uuid>',
    arity: 'required',
    apply: (f, v) => void (f.sessionId = v),
  },
  { names: ['--fork-session'], display: '--fork-session', arity: 'bool', apply: (f) => void (f.forkSession = true) },
  {
    names: ['--no-session-persistence'],
    display: '--no-session-persistence',
    arity: 'bool',
    apply: (f) => void (f.sessionPersistence = false),
  },
  {
    names: ['--mcp-config'],
    display: '--mcp-config <configs...>',
    arity: 'variadic',
    apply: (f, v) => void f.mcpConfig.push(v ?? ''),
  },
  {
    names: ['--strict-mcp-config'],
    display: '--strict-mcp-config',
    arity: 'bool',
    apply: (f) => void (f.strictMcpConfig = true),
  },
  {
    names: ['--add-dir'],
    display: '--add-dir <directories...>',
    arity: 'variadic',
    apply: (f, v) => void f.addDir.push(v ?? ''),
  },
  {
    names: ['--settings'],
    display: '--settings <file-or-json>',
    arity: 'required',
    apply: (f, v) => void (f.settings = v),
  },
  {
    names: ['--setting-sources'],
    display: '--setting-sources <sources>',
    arity: 'required',
    apply: (f, v) => void (f.settingSources = v),
  },
  { names: ['--effort'], display: '--effort <level>', arity: 'required', apply: (f, v) => void (f.effort = v) },
  {
    names: ['--json-schema'],
    display: '--json-schema <schema>',
    arity: 'required',
    apply: (f, v) => void (f.jsonSchema = v),
  },
  // Accepted for compatibility (right arity, no effect on the simulation).
  {
    names: ['--allow-dangerously-skip-permissions'],
    display: '--allow-dangerously-skip-permissions',
    arity: 'bool',
    apply: ignore,
  },
  { names: ['--permission-prompts'], display: '--permission-prompts <target>', arity: 'required', apply: ignore },
  {
    names: ['--permission-prompt-tool'],
    display: '--permission-prompt-tool <tool>',
    arity: 'required',
    apply: (f, v) => void (f.permissionPromptTool = v),
  },
  { names: ['--include-hook-events'], display: '--include-hook-events', arity: 'bool', apply: ignore },
  { names: ['--replay-user-messages'], display: '--replay-user-messages', arity: 'bool', apply: ignore },
  { names: ['--forward-subagent-text'], display: '--forward-subagent-text', arity: 'bool', apply: ignore },
  { names: ['--thinking'], display: '--thinking <mode>', arity: 'required', apply: ignore },
  { names: ['--thinking-display'], display: '--thinking-display <display>', arity: 'required', apply: ignore },
  { names: ['--max-thinking-tokens'], display: '--max-thinking-tokens <tokens>', arity: 'required', apply: ignore },
  { names: ['--task-budget'], display: '--task-budget <tokens>', arity: 'required', apply: ignore },
  { names: ['--betas'], display: '--betas <betas...>', arity: 'variadic', apply: ignore },
  { names: ['--agents'], display: '--agents <json-or-file>', arity: 'required', apply: ignore },
  { names: ['--agent'], display: '--agent <agent>', arity: 'required', apply: ignore },
  { names: ['-n', '--name'], display: '-n, --name <name>', arity: 'required', apply: ignore },
  { names: ['-d', '--debug'], display: '-d, --debug [filter]', arity: 'optional', apply: ignore },
  { names: ['--debug-file'], display: '--debug-file <path>', arity: 'required', apply: ignore },
  { names: ['--bare'], display: '--bare', arity: 'bool', apply: ignore },
  { names: ['--disable-slash-commands'], display: '--disable-slash-commands', arity: 'bool', apply: ignore },
  {
    names: ['--exclude-dynamic-system-prompt-sections'],
    display: '--exclude-dynamic-system-prompt-sections',
    arity: 'bool',
    apply: ignore,
  },
  { names: ['--plugin-dir'], display: '--plugin-dir <path>', arity: 'required', apply: ignore },
  { names: ['--resume-session-at'], display: '--resume-session-at <message id>', arity: 'required', apply: ignore },
  {
    names: ['--system-prompt-snapshot'],
    display: '--system-prompt-snapshot <on|off>',
    arity: 'required',
    apply: ignore,
  },
  { names: ['--await-initialize'], display: '--await-initialize', arity: 'bool', apply: ignore },
];

const VERSION_NAMES = ['-v', '--version'];
const HELP_NAMES = ['-h', '--help'];

const byName = new Map<string, OptionSpec>();
for (const spec of OPTIONS) for (const name of spec.names) byName.set(name, spec);

/** Every long option spelling the simulated agent accepts (for the docs and the help text). */
export const KNOWN_OPTIONS: readonly string[] = OPTIONS.map((o) => o.display);

/** Default flag values before any argv is applied. */
export function defaultFlags(): SimFlags {
  return {
    print: false,
    outputFormat: 'text',
    inputFormat: 'text',
    verbose: false,
    includePartialMessages: false,
    dangerouslySkipPermissions: false,
    allowedTools: [],
    disallowedTools: [],
    continue: false,
    forkSession: false,
    sessionPersistence: true,
    mcpConfig: [],
    strictMcpConfig: false,
    addDir: [],
    operands: [],
  };
}

/** Commander's test for "looks like an option". */
const maybeOption = (arg: string): boolean => arg.length > 1 && arg[0] === '-';

/**
 * Parses argv (without `node` and the script path) like the real CLI's commander setup.
 * `--version` answers as soon as it is met, as commander does; other problems become `error` outcomes
 * carrying the exact stderr text (without the trailing newline).
 */
export function parseArgv(argv: readonly string[]): ParseOutcome {
  const flags = defaultFlags();
  const unknown: string[] = [];
  let help = false;
  const args = [...argv];
  let active: OptionSpec | null = null;
  try {
    while (args.length > 0) {
      const arg = args.shift() as string;
      if (arg === '--') {
        flags.operands.push(...args);
        break;
      }
      if (active && !maybeOption(arg)) {
        active.apply(flags, arg, active);
        continue;
      }
      active = null;
      if (maybeOption(arg)) {
        if (VERSION_NAMES.includes(arg)) return { kind: 'version' };
        if (HELP_NAMES.includes(arg)) {
          help = true;
          continue;
        }
        const spec = byName.get(arg);
        if (spec) {
          if (spec.arity === 'bool') {
            spec.apply(flags, undefined, spec);
          } else if (spec.arity === 'optional') {
            const next = args[0];
            spec.apply(flags, next !== undefined && !maybeOption(next) ? args.shift() : undefined, spec);
          } else {
            const value = args.shift();
            if (value === undefined) throw new UsageError(`error: option '${spec.display}' argument missing`);
            spec.apply(flags, value, spec);
          }
          active = spec.arity === 'variadic' ? spec : null;
          continue;
        }
      }
      // Combined short flags: `-pv`, `-rSESSION`.
      if (arg.length > 2 && arg[0] === '-' && arg[1] !== '-') {
        const short = `-${arg[1]}`;
        if (VERSION_NAMES.includes(short)) return { kind: 'version' };
        const spec = byName.get(short);
        if (spec) {
          if (spec.arity === 'bool') {
            spec.apply(flags, undefined, spec);
            args.unshift(`-${arg.slice(2)}`);
          } else {
            spec.apply(flags, arg.slice(2), spec);
          }
          continue;
        }
      }
      // `--flag=value` (only for options that take a value; variadic ones stop after it).
      if (/^--[^=]+=/.test(arg)) {
        const index = arg.indexOf('=');
        const spec = byName.get(arg.slice(0, index));
        if (spec && spec.arity !== 'bool') {
          spec.apply(flags, arg.slice(index + 1), spec);
          continue;
        }
      }
      if (maybeOption(arg)) unknown.push(arg);
      else if (unknown.length > 0) unknown.push(arg);
      else flags.operands.push(arg);
    }
  } catch (err) {
    if (err instanceof UsageError) return { kind: 'error', message: err.message };
    throw err;
  }
  if (help) return { kind: 'help' };
  const firstUnknown = unknown.find(maybeOption);
  if (firstUnknown !== undefined) return { kind: 'error', message: `error: unknown option '${firstUnknown}'` };
  flags.prompt = flags.operands[0];
  return { kind: 'run', flags };
}

/** The `--help` text of the simulated agent. */
export function helpText(): string {
  return [
    'Usage: claude-pool-simulated-agent [options] [prompt]',
    '',
    'A stand-in for `claude -p` (Claude Code 2.1.331) whose behaviour is scripted by',
    '[[sim:...]] directives in the prompt. See docs/simulated-agent.md.',
    '',
    'Options:',
    ...KNOWN_OPTIONS.map((o) => `  ${o}`),
    '  -v, --version',
    '  -h, --help',
    '',
  ].join('\n');
}
