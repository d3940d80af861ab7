/**
 * Pool settings for the CLI and the MCP server, from four sources in this order of precedence:
 * command-line flags > config file > environment variables > defaults.
 *
 * The config file is `--config PATH` (or `$CLAUDE_POOL_CONFIG`), else `claude-pool.config.json` or
 * `claude-pool.config.toml` in the current directory. Keys may be camelCase, snake_case or kebab-case.
 * Every value is validated; problems are reported together, each naming its field and where it came from.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { EFFORTS, PERMISSION_MODES, type Effort, type PermissionMode } from '../../machines/types.js';

/** Everything needed to build a pool from the command line. */
export interface PoolSettings {
  /** Slots at startup (`-n/--slots`, default 2). */
  slots: number;
  /** Default model (`-m/--model`). */
  model?: string;
  /** Default effort (`-e/--effort`; `min` means `low`). */
  effort?: Effort;
  /** Pool budget in USD (`-b/--budget-usd`). */
  budgetUsd?: number;
  /** Base system prompt (`-s/--system-prompt`). */
  systemPrompt?: string;
  /** Default permission mode (`-p/--permission-mode`, default `plan`). */
  permissionMode: PermissionMode;
  /** Fewest slots scaling may leave (`--min-slots`, default 1). */
  minSlots: number;
  /** Most slots scaling may create (`--max-slots`, default 16). */
  maxSlots: number;
  /** One git worktree per slot (`-w/--worktree`). */
  worktree: boolean;
  /** Where tasks run (`--working-dir`, default: the current directory). Absolute. */
  workingDir?: string;
  /** The claude executable (`--binary`, default `claude` on PATH). */
  binary?: string;
  /** Use the built-in simulated agent instead of claude (`--simulated`). */
  simulated: boolean;
  /** Extra skills folder (`--skills-dir`). Absolute. */
  skillsDir?: string;
  /** Extra workflows folder (`--workflows-dir`). Absolute. */
  workflowsDir?: string;
  /** Back-pressure: the fewest runs the concurrency limit goes down to (`--min-concurrency`, default 1). */
  minConcurrency?: number;
  /** Back-pressure: what a pressure signal multiplies the limit by (`--decrease-factor`, default 0.5). */
  decreaseFactor?: number;
  /** Back-pressure: what a successful run adds to the limit (`--increase-step`, default 1). */
  increaseStep?: number;
  /** Back-pressure: re-queues of a rate-limited task before it fails (`--rate-limit-retries`, default 5). */
  rateLimitRetries?: number;
  /** Back-pressure: the first retry's backoff (`--backoff-base-ms`, default 1000). */
  backoffBaseMs?: number;
  /** Back-pressure: the longest backoff (`--backoff-max-ms`, default 60000). */
  backoffMaxMs?: number;
  /**
   * Agents' tool-permission questions wait this many seconds for an answer from outside (MCP
   * `pool_answer_permission`, `POST /v1/permissions/{id}`), then are denied (`--permission-timeout-secs`).
   * Unset: no one is asked, the permission mode decides.
   */
  permissionTimeoutSecs?: number;
  /** Slots keep their agent process between tasks (`--warm-slots`). */
  warmSlots?: boolean;
  /** Redis server of the cluster this node joins (`--redis`, a `redis://` URL; `serve` and `status`). */
  redis?: string;
  /** Name of the cluster's queue (`--queue`; required with `redis`). */
  queue?: string;
}

/** A setting name. */
export type SettingKey = keyof PoolSettings;

/** Where a setting's value came from. */
export type SettingSource = 'flag' | 'file' | 'env' | 'default';

/** Settings with the source of each value and the config file used. */
export interface ResolvedSettings {
  settings: PoolSettings;
  sources: Record<SettingKey, SettingSource>;
  /** The config file that was read, if any. */
  configFile?: string;
}

/** Invalid settings: every problem, each naming the field and its source. */
export class SettingsError extends Error {
  /** Always `invalid_settings`. */
  readonly code = 'invalid_settings';

  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0] : `invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

type Kind =
  'int' | 'usd' | 'fraction' | 'positive' | 'string' | 'boolean' | 'effort' | 'permissionMode' | 'path' | 'binary';

interface FieldSpec {
  key: SettingKey;
  flag: string;
  env: string;
  kind: Kind;
  /** Lowest integer allowed. */
  min?: number;
}

/** Every setting with its flag and environment variable. */
export const SETTING_FIELDS: readonly FieldSpec[] = [
  { key: 'slots', flag: '--slots', env: 'CLAUDE_POOL_SLOTS', kind: 'int', min: 0 },
  { key: 'model', flag: '--model', env: 'CLAUDE_POOL_MODEL', kind: 'string' },
  { key: 'effort', flag: '--effort', env: 'CLAUDE_POOL_EFFORT', kind: 'effort' },
  { key: 'budgetUsd', flag: '--budget-usd', env: 'CLAUDE_POOL_BUDGET_USD', kind: 'usd' },
  { key: 'systemPrompt', flag: '--system-prompt', env: 'CLAUDE_POOL_SYSTEM_PROMPT', kind: 'string' },
  { key: 'permissionMode', flag: '--permission-mode', env: 'CLAUDE_POOL_PERMISSION_MODE', kind: 'permissionMode' },
  { key: 'minSlots', flag: '--min-slots', env: 'CLAUDE_POOL_MIN_SLOTS', kind: 'int', min: 0 },
  { key: 'maxSlots', flag: '--max-slots', env: 'CLAUDE_POOL_MAX_SLOTS', kind: 'int', min: 1 },
  { key: 'worktree', flag: '--worktree', env: 'CLAUDE_POOL_WORKTREE', kind: 'boolean' },
  { key: 'workingDir', flag: '--working-dir', env: 'CLAUDE_POOL_WORKING_DIR', kind: 'path' },
  { key: 'binary', flag: '--binary', env: 'CLAUDE_POOL_BINARY', kind: 'binary' },
  { key: 'simulated', flag: '--simulated', env: 'CLAUDE_POOL_SIMULATED', kind: 'boolean' },
  { key: 'skillsDir', flag: '--skills-dir', env: 'CLAUDE_POOL_SKILLS_DIR', kind: 'path' },
  { key: 'workflowsDir', flag: '--workflows-dir', env: 'CLAUDE_POOL_WORKFLOWS_DIR', kind: 'path' },
  { key: 'minConcurrency', flag: '--min-concurrency', env: 'CLAUDE_POOL_MIN_CONCURRENCY', kind: 'int', min: 1 },
  { key: 'decreaseFactor', flag: '--decrease-factor', env: 'CLAUDE_POOL_DECREASE_FACTOR', kind: 'fraction' },
  { key: 'increaseStep', flag: '--increase-step', env: 'CLAUDE_POOL_INCREASE_STEP', kind: 'positive' },
  { key: 'rateLimitRetries', flag: '--rate-limit-retries', env: 'CLAUDE_POOL_RATE_LIMIT_RETRIES', kind: 'int', min: 0 },
  { key: 'backoffBaseMs', flag: '--backoff-base-ms', env: 'CLAUDE_POOL_BACKOFF_BASE_MS', kind: 'int', min: 0 },
  { key: 'backoffMaxMs', flag: '--backoff-max-ms', env: 'CLAUDE_POOL_BACKOFF_MAX_MS', kind: 'int', min: 0 },
  {
    key: 'permissionTimeoutSecs',
    flag: '--permission-timeout-secs',
    env: 'CLAUDE_POOL_PERMISSION_TIMEOUT_SECS',
    kind: 'int',
    min: 1,
  },
  { key: 'warmSlots', flag: '--warm-slots', env: 'CLAUDE_POOL_WARM_SLOTS', kind: 'boolean' },
  { key: 'redis', flag: '--redis', env: 'CLAUDE_POOL_REDIS', kind: 'string' },
  { key: 'queue', flag: '--queue', env: 'CLAUDE_POOL_QUEUE', kind: 'string' },
];

/** The environment variable naming the config file. */
export const CONFIG_ENV = 'CLAUDE_POOL_CONFIG';

/** Config file names looked for in the current directory, in order. */
export const CONFIG_FILE_NAMES: readonly string[] = ['claude-pool.config.json', 'claude-pool.config.toml'];

/** The defaults of the settings that have one. */
export function defaultSettings(): PoolSettings {
  return { slots: 2, permissionMode: 'plan', minSlots: 1, maxSlots: 16, worktree: false, simulated: false };
}

/** What `resolveSettings` reads. */
export interface SettingsInput {
  /** Flag values as commander parsed them (strings, or booleans for switches); undefined = not given. */
  flags?: Partial<Record<SettingKey, string | boolean | number | undefined>>;
  /** `--config PATH`. */
  configPath?: string;
  /** The environment (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths and the default config file are resolved against (default `process.cwd()`). */
  cwd?: string;
}

/** The values one source gave. */
export type SettingValues = Partial<PoolSettings>;

/** `snake_case` / `kebab-case` / `camelCase` → camelCase. */
function camelKey(key: string): string {
  return key.replace(/[-_]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `budgetUsd` → `budget_usd` (how the docs spell file keys). */
function snakeKey(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

function suggestion(key: string): string {
  const wanted = camelKey(key).toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const field of SETTING_FIELDS) {
    const d = distance(wanted, field.key.toLowerCase());
    if (d < bestDistance) {
      best = field.key;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean '${snakeKey(best)}'?)` : '';
}

const quote = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value) : String(value));

/**
 * Converts one raw value. `text` is true for flags and environment variables (everything is a string there);
 * file values must have the right JSON/TOML type. Returns the value or a problem (without the field name).
 */
function convert(
  field: FieldSpec,
  raw: unknown,
  text: boolean,
  baseDir: string,
): { value: unknown } | { problem: string } {
  switch (field.kind) {
    case 'int': {
      const n =
        typeof raw === 'number'
          ? raw
          : text && typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw)
            ? Number(raw)
            : NaN;
      const min = field.min ?? 0;
      if (!Number.isInteger(n) || n < min) return { problem: `expected an integer >= ${min}, got ${quote(raw)}` };
      return { value: n };
    }
    case 'usd': {
      const n =
        typeof raw === 'number'
          ? raw
          : text && typeof raw === 'string' && raw.trim() !== ''
            ? Number(raw.trim().replace(/^\$/, ''))
            : NaN;
      if (!Number.isFinite(n) || n <= 0)
        return { problem: `expected an amount in USD greater than 0, got ${quote(raw)}` };
      return { value: n };
    }
    case 'fraction':
    case 'positive': {
      const n =
        typeof raw === 'number' ? raw : text && typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : NaN;
      if (field.kind === 'fraction' && !(n > 0 && n < 1)) {
        return { problem: `expected a number between 0 and 1 (exclusive), got ${quote(raw)}` };
      }
      if (!Number.isFinite(n) || n <= 0) return { problem: `expected a number greater than 0, got ${quote(raw)}` };
      return { value: n };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      if (text && typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(s)) return { value: true };
        if (['0', 'false', 'no', 'off'].includes(s)) return { value: false };
      }
      return { problem: `expected true or false, got ${quote(raw)}` };
    }
    case 'effort': {
      if (typeof raw !== 'string') return { problem: `expected one of ${EFFORTS.join(', ')}, got ${quote(raw)}` };
      const s = raw.trim().toLowerCase();
      const effort = s === 'min' ? 'low' : EFFORTS.find((e) => e === s);
      if (!effort) return { problem: `expected one of ${EFFORTS.join(', ')} (or min), got ${quote(raw)}` };
      return { value: effort };
    }
    case 'permissionMode': {
      if (typeof raw !== 'string')
        return { problem: `expected one of ${PERMISSION_MODES.join(', ')}, got ${quote(raw)}` };
      const mode = PERMISSION_MODES.find((m) => m.toLowerCase() === raw.trim().toLowerCase());
      if (!mode) return { problem: `expected one of ${PERMISSION_MODES.join(', ')}, got ${quote(raw)}` };
      return { value: mode };
    }
    case 'string': {
      if (typeof raw !== 'string' || raw.trim() === '')
        return { problem: `expected a non-empty string, got ${quote(raw)}` };
      return { value: raw };
    }
    case 'path':
    case 'binary': {
      if (typeof raw !== 'string' || raw.trim() === '') return { problem: `expected a path, got ${quote(raw)}` };
      // A bare command name (`claude`) is looked up on PATH later; a path is made absolute now.
      if (field.kind === 'binary' && !raw.includes('/') && !raw.includes('\\')) return { value: raw };
      return { value: isAbsolute(raw) ? raw : resolve(baseDir, raw) };
    }
  }
}

/** Parses flag values (as commander gives them). */
export function settingsFromFlags(
  flags: SettingsInput['flags'] = {},
  cwd: string = process.cwd(),
): { values: SettingValues; problems: string[] } {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const field of SETTING_FIELDS) {
    const raw = flags[field.key];
    if (raw === undefined) continue;
    const result = convert(field, raw, true, cwd);
    if ('problem' in result) problems.push(`${field.flag}: ${result.problem}`);
    else values[field.key] = result.value;
  }
  return { values: values as SettingValues, problems };
}

/** Parses the `CLAUDE_POOL_*` environment variables (empty values count as unset). */
export function settingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string = process.cwd(),
): { values: SettingValues; problems: string[] } {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const field of SETTING_FIELDS) {
    const raw = env[field.env];
    if (raw === undefined || raw === '') continue;
    const result = convert(field, raw, true, cwd);
    if ('problem' in result) problems.push(`${field.env}: ${result.problem}`);
    else values[field.key] = result.value;
  }
  return { values: values as SettingValues, problems };
}

/** Parses a config file's object; relative paths are resolved against the file's directory. */
export function settingsFromObject(object: unknown, file: string): { values: SettingValues; problems: string[] } {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    return { values: {}, problems: [`${file}: expected a table/object of settings at the top level`] };
  }
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  const baseDir = dirname(file);
  for (const [key, raw] of Object.entries(object as Record<string, unknown>)) {
    const field = SETTING_FIELDS.find((f) => f.key === camelKey(key));
    if (!field) {
      problems.push(`${file}: unknown setting '${key}'${suggestion(key)}`);
      continue;
    }
    if (raw === null || raw === undefined) continue;
    const result = convert(field, raw, false, baseDir);
    if ('problem' in result) problems.push(`${file}: ${key}: ${result.problem}`);
    else values[field.key] = result.value;
  }
  return { values: values as SettingValues, problems };
}

/** Reads and parses a config file by its extension (`.json`, `.toml`, `.yaml`/`.yml`). */
export function readConfigFile(file: string): { values: SettingValues; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    return { values: {}, problems: [`cannot read config file ${file}: ${reason}`] };
  }
  let object: unknown;
  try {
    if (/\.toml$/i.test(file)) object = parseToml(text);
    else if (/\.ya?ml$/i.test(file)) object = parseYaml(text);
    else object = JSON.parse(text);
  } catch (error) {
    const kind = /\.toml$/i.test(file) ? 'TOML' : /\.ya?ml$/i.test(file) ? 'YAML' : 'JSON';
    const message = (error as Error).message.split('\n')[0];
    return { values: {}, problems: [`${file}: invalid ${kind}: ${message}`] };
  }
  return settingsFromObject(object, file);
}

/** The config file to read: `--config`, else `$CLAUDE_POOL_CONFIG`, else one found in `cwd`. */
export function findConfigFile(
  configPath: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): { file?: string; problems: string[] } {
  const given = configPath ?? (env[CONFIG_ENV] || undefined);
  if (given !== undefined) {
    const file = resolve(cwd, given);
    const where = configPath !== undefined ? '--config' : CONFIG_ENV;
    if (!existsSync(file)) return { problems: [`${where}: config file ${file} not found`] };
    return { file, problems: [] };
  }
  const found = CONFIG_FILE_NAMES.map((name) => join(cwd, name)).filter((file) => existsSync(file));
  if (found.length > 1) {
    return { problems: [`found both ${found.join(' and ')}; keep one, or choose with --config PATH`] };
  }
  return { file: found[0], problems: [] };
}

/** Resolves the settings from every source and validates them together. Throws `SettingsError`. */
export function resolveSettings(input: SettingsInput = {}): ResolvedSettings {
  const env = input.env ?? process.env;
  const cwd = input.cwd ?? process.cwd();
  const problems: string[] = [];

  const flags = settingsFromFlags(input.flags, cwd);
  const config = findConfigFile(input.configPath, env, cwd);
  problems.push(...config.problems);
  const file = config.file ? readConfigFile(config.file) : { values: {}, problems: [] };
  const fromEnv = settingsFromEnv(env, cwd);
  problems.push(...flags.problems, ...file.problems, ...fromEnv.problems);

  const settings: Record<string, unknown> = { ...defaultSettings() };
  const sources = {} as Record<SettingKey, SettingSource>;
  for (const field of SETTING_FIELDS) {
    sources[field.key] = 'default';
    for (const [source, values] of [
      ['env', fromEnv.values],
      ['file', file.values],
      ['flag', flags.values],
    ] as const) {
      if (values[field.key] !== undefined) {
        settings[field.key] = values[field.key];
        sources[field.key] = source;
      }
    }
  }
  const resolved = settings as unknown as PoolSettings;

  const label = (key: SettingKey) => {
    const field = SETTING_FIELDS.find((f) => f.key === key) as FieldSpec;
    const source = sources[key];
    const from =
      source === 'flag' ? field.flag : source === 'env' ? field.env : source === 'file' ? config.file : 'default';
    return `${snakeKey(key)} ${resolved[key]} (${from})`;
  };
  if (problems.length === 0) {
    if (resolved.minSlots > resolved.maxSlots) problems.push(`${label('minSlots')} is more than ${label('maxSlots')}`);
    if (resolved.slots > resolved.maxSlots) problems.push(`${label('slots')} exceeds ${label('maxSlots')}`);
    if (resolved.simulated && sources.binary !== 'default' && sources.binary === sources.simulated) {
      // Both from the same source: ambiguous. (From different sources, the higher one wins below.)
      problems.push(`--binary and --simulated both given (${sources.binary}); choose one`);
    }
    for (const key of ['workingDir', 'skillsDir', 'workflowsDir'] as const) {
      const dir = resolved[key];
      if (dir !== undefined && !isDirectory(dir)) problems.push(`${label(key)}: not a directory`);
    }
  }
  if (problems.length > 0) throw new SettingsError(problems);
  // A higher-precedence --binary turns a lower-precedence simulated=true off, and the other way round.
  if (resolved.simulated && resolved.binary !== undefined) {
    const order: SettingSource[] = ['default', 'env', 'file', 'flag'];
    if (order.indexOf(sources.binary) > order.indexOf(sources.simulated)) resolved.simulated = false;
    else delete resolved.binary;
  }
  return { settings: resolved, sources, configFile: config.file };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The claude executable to run: an explicit path must exist and be executable; a bare name is looked up on
 * PATH. Throws `SettingsError` when it cannot be found.
 */
export function resolveClaudeBinary(
  binary: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const name = binary ?? 'claude';
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/') || name.includes('\\')) {
    if (!executable(name)) throw new SettingsError([`--binary: ${name} is not an executable file`]);
    return name;
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  throw new SettingsError([
    `${name} binary not found in PATH: install Claude Code, pass --binary PATH, or use --simulated for the simulated agent`,
  ]);
}
