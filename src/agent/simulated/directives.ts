/**
 * The scripting language of the simulated agent: `[[sim:NAME ARGS]]` directives anywhere in the prompt.
 *
 * A directive starts at `[[sim:`, is followed by a lower-case name and optional arguments, and ends at
 * the first `]]` at which its arguments parse. So `[[sim:json [[1,2]]]]` and
 * `[[sim:text "a ]] in quotes"]]` work. String arguments are either a JSON string literal (`"a\nb"`) or
 * the bare rest of the directive, trimmed. See docs/simulated-agent.md for the full list.
 */

/** Which scripted failure to produce. */
export type ErrorKind = 'max-turns' | 'budget' | 'api-error' | 'not-logged-in';

/** A tool call the script asks for, in prompt order. */
export type ToolAction =
  | { kind: 'write'; path: string; content: string }
  | { kind: 'deny'; tool: string; target?: string }
  /** A call that needs permission: asked (`--permission-prompt-tool stdio`), else decided by the mode. */
  | { kind: 'ask'; tool: string; target?: string; content?: string };

/** Everything the prompt's directives asked for. */
export interface Script {
  /** ms to wait after `init`, before the first model call. */
  delayMs: number;
  /** ms to wait between streamed text chunks. */
  chunkDelayMs: number;
  /** ms to wait between model calls (tool rounds). */
  turnDelayMs: number;
  text?: string;
  /** The parsed value of `[[sim:json …]]`. */
  json?: { value: unknown };
  thinking?: string;
  costUsd?: number;
  turns?: number;
  chunks?: number;
  error?: { kind: ErrorKind; arg?: string };
  exitCode?: number;
  crash?: { message?: string };
  /**
   * Fail (an API error result with this HTTP status, default 529) the first `count` runs that carry `key`, across
   * every process sharing the state folder; later runs go on normally.
   */
  failTimes?: { count: number; key: string; status?: number };
  /** `system/api_retry` lines (HTTP `status`) before the first model call; the run then goes on. */
  apiRetries?: { count: number; status: number };
  /**
   * A `rate_limit_event` right after `init`: `rejected` (the window resets in `resetInMs`; the run then ends on
   * HTTP 429) for every run, or with `key` only for the first run carrying it (later ones see `allowed`).
   */
  rateLimit?: { resetInMs: number; key?: string };
  /** Set by the run's setup: a keyed `rate-limit` already spent; this run prints an `allowed` event. */
  rateLimitAllowed?: boolean;
  /** The answer of the first run that carries `key`; later runs with the key answer as otherwise scripted. */
  firstText?: { key: string; text: string };
  hang: boolean;
  /** Wait forever after the last scripted tool round (`write`, `deny`, `ask`), before the answer. */
  hangAfterTools: boolean;
  garbage: boolean;
  largeBytes?: number;
  tools: ToolAction[];
  echoSystem: boolean;
  echoArgs: boolean;
  pid: boolean;
  pidFile?: string;
  /** Start a child in a process group of its own that runs until killed, and write its pid here. */
  childPidFile?: string;
  stderr: string[];
  /** The prompt with every directive removed and whitespace collapsed. */
  cleanPrompt: string;
}

/** A directive that could not be understood. */
export class DirectiveError extends Error {}

const OPEN = '[[sim:';

/** Reads a string argument: a JSON string literal, or the bare text. Returns `[value, rest]`. */
function readString(src: string): [string, string] | null {
  const s = src.trimStart();
  if (s.startsWith('"')) {
    // Find the closing quote of a JSON string literal.
    for (let i = 1; i < s.length; i++) {
      if (s[i] === '\\') {
        i++;
        continue;
      }
      if (s[i] === '"') {
        try {
          return [JSON.parse(s.slice(0, i + 1)) as string, s.slice(i + 1)];
        } catch {
          return null;
        }
      }
    }
    return null;
  }
  return [s.trim(), ''];
}

/** Reads one token: a JSON string literal or a run of non-space characters. */
function readToken(src: string): [string, string] | null {
  const s = src.trimStart();
  if (s.startsWith('"')) return readString(s);
  const m = /^(\S+)([\s\S]*)$/.exec(s);
  return m ? [m[1], m[2]] : null;
}

const INT = /^\d+$/;

function parseInteger(args: string): number | null {
  const s = args.trim();
  return INT.test(s) ? Number(s) : null;
}

/** `2000000`, `512k`, `2mb`, `1.5M`: k = 1024 bytes, m = 1024² bytes. */
export function parseSize(args: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib)?$/i.exec(args.trim());
  if (!m) return null;
  const unit = (m[2] ?? '').toLowerCase();
  const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1;
  return Math.floor(Number(m[1]) * mult);
}

type Applier = (script: Script, args: string) => boolean;

const noArgs =
  (set: (s: Script) => void): Applier =>
  (script, args) => {
    if (args.trim() !== '') return false;
    set(script);
    return true;
  };

const intArg =
  (set: (s: Script, n: number) => void): Applier =>
  (script, args) => {
    const n = parseInteger(args);
    if (n === null) return false;
    set(script, n);
    return true;
  };

const stringArg =
  (set: (s: Script, v: string) => void): Applier =>
  (script, args) => {
    const r = readString(args);
    if (!r || r[1].trim() !== '') return false;
    set(script, r[0]);
    return true;
  };

const ERROR_KINDS: readonly ErrorKind[] = ['max-turns', 'budget', 'api-error', 'not-logged-in'];

const APPLIERS: Record<string, Applier> = {
  delay: intArg((s, n) => void (s.delayMs = n)),
  'chunk-delay': intArg((s, n) => void (s.chunkDelayMs = n)),
  'turn-delay': intArg((s, n) => void (s.turnDelayMs = n)),
  text: stringArg((s, v) => void (s.text = v)),
  thinking: stringArg((s, v) => void (s.thinking = v)),
  json: (s, args) => {
    if (args.trim() === '') return false;
    try {
      s.json = { value: JSON.parse(args) };
      return true;
    } catch {
      return false;
    }
  },
  cost: (s, args) => {
    const t = args.trim().replace(/^\$/, '');
    const n = Number(t);
    if (t === '' || !Number.isFinite(n) || n < 0) return false;
    s.costUsd = n;
    return true;
  },
  turns: intArg((s, n) => void (s.turns = Math.max(1, n))),
  chunks: intArg((s, n) => void (s.chunks = Math.max(1, n))),
  error: (s, args) => {
    const parts = args.trim().split(/\s+/);
    const kind = parts[0] as ErrorKind;
    if (!ERROR_KINDS.includes(kind) || parts.length > 2) return false;
    const arg = parts[1];
    if (arg !== undefined) {
      if (kind === 'not-logged-in') return false;
      if ((kind === 'max-turns' || kind === 'api-error') && !INT.test(arg)) return false;
      if (kind === 'budget' && !(Number(arg.replace(/^\$/, '')) > 0)) return false;
    }
    s.error = { kind, arg: arg?.replace(/^\$/, '') };
    return true;
  },
  exit: intArg((s, n) => void (s.exitCode = n)),
  'fail-times': (s, args) => {
    const m = /^\s*(\d+)\s+([A-Za-z0-9._-]+)(?:\s+(\d{3}))?\s*$/.exec(args);
    if (!m) return false;
    s.failTimes = { count: Number(m[1]), key: m[2], ...(m[3] !== undefined && { status: Number(m[3]) }) };
    return true;
  },
  'api-retry': (s, args) => {
    const m = /^\s*(\d+)(?:\s+(\d{3}))?\s*$/.exec(args);
    if (!m) return false;
    s.apiRetries = { count: Number(m[1]), status: m[2] === undefined ? 529 : Number(m[2]) };
    return true;
  },
  'rate-limit': (s, args) => {
    const m = /^\s*(\d+)(?:\s+([A-Za-z0-9._-]+))?\s*$/.exec(args);
    if (!m) return false;
    s.rateLimit = { resetInMs: Number(m[1]), ...(m[2] !== undefined && { key: m[2] }) };
    return true;
  },
  'first-text': (s, args) => {
    const m = /^\s*([A-Za-z0-9._-]+)\s+/.exec(args);
    if (!m) return false;
    const r = readString(args.slice(m[0].length));
    if (!r || r[1].trim() !== '') return false;
    s.firstText = { key: m[1], text: r[0] };
    return true;
  },
  crash: (s, args) => {
    if (args.trim() === '') {
      s.crash = {};
      return true;
    }
    const r = readString(args);
    if (!r || r[1].trim() !== '') return false;
    s.crash = { message: r[0] };
    return true;
  },
  hang: noArgs((s) => void (s.hang = true)),
  'hang-after-tools': noArgs((s) => void (s.hangAfterTools = true)),
  garbage: noArgs((s) => void (s.garbage = true)),
  large: (s, args) => {
    const n = parseSize(args);
    if (n === null) return false;
    s.largeBytes = n;
    return true;
  },
  deny: (s, args) => {
    const tool = readToken(args);
    if (!tool) return false;
    const rest = tool[1].trim();
    if (rest === '') {
      s.tools.push({ kind: 'deny', tool: tool[0] });
      return true;
    }
    const target = readString(rest);
    if (!target || target[1].trim() !== '') return false;
    s.tools.push({ kind: 'deny', tool: tool[0], target: target[0] });
    return true;
  },
  ask: (s, args) => {
    const tool = readToken(args);
    if (!tool || tool[0] === '') return false;
    const target = readToken(tool[1]);
    if (!target || target[0] === '') {
      if (tool[1].trim() !== '') return false;
      s.tools.push({ kind: 'ask', tool: tool[0] });
      return true;
    }
    if (target[1].trim() === '') {
      s.tools.push({ kind: 'ask', tool: tool[0], target: target[0] });
      return true;
    }
    const content = readString(target[1]);
    if (!content || content[1].trim() !== '') return false;
    s.tools.push({ kind: 'ask', tool: tool[0], target: target[0], content: content[0] });
    return true;
  },
  write: (s, args) => {
    const path = readToken(args);
    if (!path || path[0] === '') return false;
    const rest = path[1];
    if (rest.trim() === '') {
      s.tools.push({ kind: 'write', path: path[0], content: '' });
      return true;
    }
    const content = readString(rest);
    if (!content || content[1].trim() !== '') return false;
    s.tools.push({ kind: 'write', path: path[0], content: content[0] });
    return true;
  },
  'echo-system': noArgs((s) => void (s.echoSystem = true)),
  'echo-args': noArgs((s) => void (s.echoArgs = true)),
  pid: noArgs((s) => void (s.pid = true)),
  pidfile: stringArg((s, v) => {
    if (v !== '') s.pidFile = v;
  }),
  child: stringArg((s, v) => {
    if (v !== '') s.childPidFile = v;
  }),
  stderr: stringArg((s, v) => void s.stderr.push(v)),
};

/** The directive names, for documentation and error messages. */
export const DIRECTIVE_NAMES: readonly string[] = Object.keys(APPLIERS);

function emptyScript(): Script {
  return {
    delayMs: 0,
    chunkDelayMs: 0,
    turnDelayMs: 0,
    hang: false,
    hangAfterTools: false,
    garbage: false,
    tools: [],
    echoSystem: false,
    echoArgs: false,
    pid: false,
    stderr: [],
    cleanPrompt: '',
  };
}

/**
 * Reads every `[[sim:…]]` directive of a prompt. Later scalar directives override earlier ones;
 * `write`, `deny` and `stderr` accumulate in order. Throws a DirectiveError for an unknown name or
 * arguments that do not parse, so a typo in a test fails loudly instead of being ignored.
 */
export function parseDirectives(prompt: string): Script {
  const script = emptyScript();
  const kept: string[] = [];
  let pos = 0;
  for (;;) {
    const start = prompt.indexOf(OPEN, pos);
    if (start < 0) {
      kept.push(prompt.slice(pos));
      break;
    }
    kept.push(prompt.slice(pos, start));
    const nameMatch = /^[a-z][a-z0-9-]*/.exec(prompt.slice(start + OPEN.length));
    const name = nameMatch?.[0] ?? '';
    const apply = APPLIERS[name];
    const argsStart = start + OPEN.length + name.length;
    const shown = prompt.slice(start, Math.min(prompt.length, start + 60));
    if (!apply) {
      throw new DirectiveError(`unknown directive '${shown.split(']]')[0]}]]' (known: ${DIRECTIVE_NAMES.join(', ')})`);
    }
    let end = -1;
    for (let close = prompt.indexOf(']]', argsStart); close >= 0; close = prompt.indexOf(']]', close + 1)) {
      const rawArgs = prompt.slice(argsStart, close);
      // A name must be followed by whitespace or the end of the directive.
      if (rawArgs !== '' && !/^\s/.test(rawArgs)) continue;
      if (apply(script, rawArgs)) {
        end = close + 2;
        break;
      }
    }
    if (end < 0) throw new DirectiveError(`malformed directive '${shown}${shown.length === 60 ? '…' : ''}'`);
    pos = end;
  }
  script.cleanPrompt = kept.join(' ').replace(/\s+/g, ' ').trim();
  return script;
}
