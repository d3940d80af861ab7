/**
 * Git worktrees and clones used to isolate slots and chains from each other.
 *
 * Every git command runs through execa with an argv array (never a shell), and every id
 * that ends up in a path or a branch name goes through {@link sanitizeId} first.
 * See reference-spec §5.2 for the behaviour this mirrors, and the notes on each method for
 * the places where we deliberately differ (optional pool namespace, serialised git calls,
 * `info/exclude` instead of `.gitignore`, aggregated cleanup errors).
 */
import { PoolError } from './errors.js';
import { createHash } from 'node:crypto';
import { appendFile, lstat, mkdir, readFile, realpath, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** Machine-readable reason carried by every {@link WorktreeError}. */
export type WorktreeErrorCode =
  'not_a_git_repo' | 'invalid_id' | 'invalid_option' | 'git_failed' | 'remove_failed' | 'cleanup_failed';

/** Error thrown by {@link WorktreeManager} and {@link sanitizeId}. */
export class WorktreeError extends PoolError {
  override readonly name = 'WorktreeError';
  /** Machine-readable reason. */
  declare readonly code: WorktreeErrorCode;
  /** git's standard error, when the failure came from a git command. */
  readonly stderr: string | undefined;
  /** For `cleanup_failed`: the individual failures, in the order they happened. */
  readonly causes: readonly Error[];

  /** Creates an error with a code, a message and optional git stderr / underlying causes. */
  constructor(
    code: WorktreeErrorCode,
    message: string,
    details: { stderr?: string; cause?: unknown; causes?: readonly Error[] } = {},
  ) {
    super(code, message);
    if (details.cause !== undefined) (this as { cause?: unknown }).cause = details.cause;
    this.stderr = details.stderr;
    this.causes = details.causes ?? [];
  }
}

/** Options accepted by {@link WorktreeManager.open}. */
export interface WorktreeManagerOptions {
  /**
   * Where worktrees and clones are created. Relative paths are resolved against the repo's
   * top level. Default `<toplevel>/.claude/pool-worktrees`.
   */
  baseDir?: string;
  /** Prefix of every branch this manager creates. Default `claude-pool/`. */
  branchPrefix?: string;
  /**
   * Namespace for one pool, so that two pools on the same repo do not collide. When set,
   * branches become `<prefix><poolId>/<slot>` and directories `<baseDir>/<poolId>/<slot>`.
   */
  poolId?: string;
  /** Receives non-fatal problems (e.g. a fallback to `rm -rf`). Default: `process.emitWarning`. */
  onWarning?: (message: string) => void;
}

/** What kind of isolation directory a {@link TrackedWorktree} is. */
export type WorktreeKind = 'slot' | 'chain' | 'clone';

/** One worktree or clone currently owned by a manager. */
export interface TrackedWorktree {
  /** Slot worktree, chain worktree or chain clone. */
  readonly kind: WorktreeKind;
  /** The id as the caller passed it. */
  readonly id: string;
  /** The sanitised id used in the path and branch name. */
  readonly safeId: string;
  /** Absolute path of the directory. */
  readonly path: string;
  /** The branch checked out in the worktree; `null` for clones. */
  readonly branch: string | null;
}

const DEFAULT_BRANCH_PREFIX = 'claude-pool/';
const DEFAULT_BASE_SEGMENTS = ['.claude', 'pool-worktrees'] as const;
const MAX_ID_LENGTH = 64;
const HASH_LENGTH = 8;
/** Slot ids that would collide with the `chains/` and `clones/` directories or the `chain/` branch namespace. */
const RESERVED_SLOT_IDS = new Set(['chains', 'clones', 'chain']);

/**
 * Turns an arbitrary id into a safe path segment and branch-name component.
 *
 * The result contains only `[A-Za-z0-9._-]`, does not start with `.` or `-`, has no `..`,
 * does not end with `.` or `.lock`, and is at most 64 characters long. Ids that are already
 * safe are returned unchanged; ids that had to be altered get a short hash of the original
 * appended so that distinct inputs stay distinct (`a b` and `a;b` do not share a worktree).
 *
 * @throws WorktreeError `invalid_id` when nothing usable is left (e.g. `""`, `"../"`).
 */
export function sanitizeId(id: string): string {
  let body = String(id)
    .replace(/-*[^A-Za-z0-9._-]+-*/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.-]+/, '')
    .replace(/\.lock$/i, '-lock')
    .replace(/[.]+$/, '');
  if (body === '' || /^[-._]*$/.test(body)) {
    throw new WorktreeError('invalid_id', `invalid id ${JSON.stringify(id)}: nothing usable is left after sanitising`);
  }
  if (body === id && body.length <= MAX_ID_LENGTH) return body;
  const hash = createHash('sha256').update(String(id)).digest('hex').slice(0, HASH_LENGTH);
  body = body.slice(0, MAX_ID_LENGTH - HASH_LENGTH - 1).replace(/[.]+$/, '');
  return `${body}-${hash}`;
}

// ---------------------------------------------------------------------------
// git plumbing

interface GitResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Variables that would make git ignore `cwd` and operate on some other repository. */
const GIT_LOCATION_VARS = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_COMMON_DIR',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
];

function gitEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !GIT_LOCATION_VARS.includes(k)) env[k] = v;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  return env;
}

async function runGit(args: readonly string[], cwd: string): Promise<GitResult> {
  const r = await execa('git', [...args], {
    cwd,
    reject: false,
    env: gitEnv(),
    extendEnv: false,
    stdin: 'ignore',
  });
  const stdout = typeof r.stdout === 'string' ? r.stdout.trim() : '';
  let stderr = typeof r.stderr === 'string' ? r.stderr.trim() : '';
  if (r.failed && stderr === '') stderr = r.originalMessage ?? r.shortMessage ?? r.message ?? 'git could not be run';
  return { ok: !r.failed && r.exitCode === 0, stdout, stderr };
}

async function gitOrThrow(label: string, args: readonly string[], cwd: string): Promise<string> {
  const r = await runGit(args, cwd);
  if (!r.ok) throw new WorktreeError('git_failed', `${label} failed: ${r.stderr}`, { stderr: r.stderr });
  return r.stdout;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** True for URLs a clone should keep as `origin` (network remotes), false for local paths. */
function isRemoteUrl(url: string): boolean {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (scheme) return scheme[1].toLowerCase() !== 'file';
  if (/^[A-Za-z]:[\\/]/.test(url)) return false; // Windows drive path
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  return colon > 0 && (slash === -1 || colon < slash); // scp-like: [user@]host:path
}

/** Escapes a literal path for use as a gitignore pattern. */
function escapeIgnorePattern(p: string): string {
  return p.replace(/[\\*?[\]!# ]/g, (c) => `\\${c}`);
}

/** Per-repository (git common dir) promise queues: git's locks make parallel `worktree add` flaky. */
const repoQueues = new Map<string, Promise<void>>();

function enqueue<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = repoQueues.get(key) ?? Promise.resolve();
  const run = prev.then(fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  repoQueues.set(key, tail);
  void tail.then(() => {
    if (repoQueues.get(key) === tail) repoQueues.delete(key);
  });
  return run;
}

// ---------------------------------------------------------------------------

/**
 * Creates and removes the git worktrees (per slot, per chain) and local clones (per chain)
 * that isolate concurrent Claude sessions. Obtain one with {@link WorktreeManager.open}.
 *
 * All git operations of managers on the same repository within this process are serialised.
 */
export class WorktreeManager {
  readonly #repoDir: string;
  readonly #baseDir: string;
  readonly #rootDir: string;
  readonly #branchPrefix: string;
  readonly #queueKey: string;
  readonly #excludeFile: string;
  readonly #warn: (message: string) => void;
  readonly #tracked = new Map<string, TrackedWorktree>();
  #baseReady = false;

  private constructor(init: {
    repoDir: string;
    baseDir: string;
    rootDir: string;
    branchPrefix: string;
    queueKey: string;
    excludeFile: string;
    warn: (message: string) => void;
  }) {
    this.#repoDir = init.repoDir;
    this.#baseDir = init.baseDir;
    this.#rootDir = init.rootDir;
    this.#branchPrefix = init.branchPrefix;
    this.#queueKey = init.queueKey;
    this.#excludeFile = init.excludeFile;
    this.#warn = init.warn;
  }

  /** True when `dir` is inside a git work tree. Never throws. */
  static async isGitRepo(dir: string): Promise<boolean> {
    try {
      const r = await runGit(['rev-parse', '--is-inside-work-tree'], dir);
      return r.ok && r.stdout === 'true';
    } catch {
      return false;
    }
  }

  /**
   * Validates that `repoDir` is inside a git work tree and returns a manager for its top level.
   *
   * @throws WorktreeError `not_a_git_repo` when it is not; `invalid_option` for a bad base dir,
   *   branch prefix or pool id.
   */
  static async open(repoDir: string, options: WorktreeManagerOptions = {}): Promise<WorktreeManager> {
    const dir = path.resolve(repoDir);
    if (!(await WorktreeManager.isGitRepo(dir))) {
      throw new WorktreeError(
        'not_a_git_repo',
        `worktree isolation requires a git repository, but ${dir} is not inside a git work tree`,
      );
    }
    const toplevel = path.resolve(
      await gitOrThrow('git rev-parse --show-toplevel', ['rev-parse', '--show-toplevel'], dir),
    );
    const commonDir = path.resolve(
      toplevel,
      await gitOrThrow('git rev-parse --git-common-dir', ['rev-parse', '--git-common-dir'], toplevel),
    );
    const excludeFile = path.resolve(
      toplevel,
      await gitOrThrow('git rev-parse --git-path', ['rev-parse', '--git-path', 'info/exclude'], toplevel),
    );

    const baseDir =
      options.baseDir === undefined
        ? path.join(toplevel, ...DEFAULT_BASE_SEGMENTS)
        : path.resolve(toplevel, options.baseDir);
    if (baseDir === toplevel || isInside(baseDir, toplevel)) {
      throw new WorktreeError(
        'invalid_option',
        `worktree base dir ${baseDir} must not be the repository (${toplevel}) or one of its parents`,
      );
    }

    let branchPrefix = options.branchPrefix ?? DEFAULT_BRANCH_PREFIX;
    if (!isValidBranchPrefix(branchPrefix)) {
      throw new WorktreeError('invalid_option', `invalid branch prefix ${JSON.stringify(branchPrefix)}`);
    }
    let rootDir = baseDir;
    if (options.poolId !== undefined) {
      let poolId: string;
      try {
        poolId = sanitizeId(options.poolId);
      } catch (err) {
        throw new WorktreeError('invalid_option', `invalid pool id ${JSON.stringify(options.poolId)}`, { cause: err });
      }
      if (RESERVED_SLOT_IDS.has(poolId.toLowerCase())) {
        throw new WorktreeError('invalid_option', `pool id ${JSON.stringify(poolId)} is reserved`);
      }
      if (branchPrefix !== '' && !branchPrefix.endsWith('/')) branchPrefix += '/';
      branchPrefix += `${poolId}/`;
      rootDir = path.join(baseDir, poolId);
    }

    let queueKey = commonDir;
    try {
      queueKey = await realpath(commonDir);
    } catch {
      /* keep the unresolved path */
    }

    return new WorktreeManager({
      repoDir: toplevel,
      baseDir,
      rootDir,
      branchPrefix,
      queueKey,
      excludeFile,
      warn:
        options.onWarning ??
        ((message: string) => {
          process.emitWarning(message, 'WorktreeWarning');
        }),
    });
  }

  /** The top level of the repository (what `git rev-parse --show-toplevel` printed). */
  get repoDir(): string {
    return this.#repoDir;
  }

  /** The configured base directory (without the pool id segment). */
  get baseDir(): string {
    return this.#baseDir;
  }

  /** The prefix of every branch this manager creates, pool id included. */
  get branchPrefix(): string {
    return this.#branchPrefix;
  }

  /** Path of the worktree for `slotId`: `{base}[/{poolId}]/{slot}`. Pure; nothing is created. */
  slotPath(slotId: string): string {
    return path.join(this.#rootDir, this.#slotSafeId(slotId));
  }

  /** Branch of the worktree for `slotId`: `{prefix}{slot}`. */
  slotBranch(slotId: string): string {
    return `${this.#branchPrefix}${this.#slotSafeId(slotId)}`;
  }

  /** Path of the worktree for chain `chainId`: `{base}[/{poolId}]/chains/{id}`. */
  chainPath(chainId: string): string {
    return path.join(this.#rootDir, 'chains', sanitizeId(chainId));
  }

  /** Branch of the worktree for chain `chainId`: `{prefix}chain/{id}`. */
  chainBranch(chainId: string): string {
    return `${this.#branchPrefix}chain/${sanitizeId(chainId)}`;
  }

  /** Path of the clone for chain `chainId`: `{base}[/{poolId}]/clones/{id}`. */
  clonePath(chainId: string): string {
    return path.join(this.#rootDir, 'clones', sanitizeId(chainId));
  }

  /** Snapshot of the worktrees and clones this manager created and has not removed yet. */
  tracked(): TrackedWorktree[] {
    return [...this.#tracked.values()];
  }

  /**
   * Creates the slot's worktree on a new branch `{prefix}{slot}` from the current HEAD and
   * returns its path. A leftover directory or branch from an earlier run is removed first.
   *
   * @throws WorktreeError `invalid_id`, or `git_failed` (`git worktree add failed: <stderr>`).
   */
  async createForSlot(slotId: string): Promise<string> {
    const safeId = this.#slotSafeId(slotId);
    return this.#serial(() =>
      this.#addWorktree('slot', slotId, safeId, this.slotPath(slotId), this.slotBranch(slotId)),
    );
  }

  /** Removes the slot's worktree (falling back to deleting the directory) and its branch. */
  async removeSlot(slotId: string): Promise<void> {
    const safeId = this.#slotSafeId(slotId);
    return this.#serial(() => this.#removeWorktree('slot', safeId, this.slotPath(slotId), this.slotBranch(slotId)));
  }

  /**
   * Creates a worktree for a chain on branch `{prefix}chain/{id}` from the current HEAD and
   * returns its path. A leftover from an earlier run is removed first.
   */
  async createForChain(chainId: string): Promise<string> {
    const safeId = sanitizeId(chainId);
    return this.#serial(() =>
      this.#addWorktree('chain', chainId, safeId, this.chainPath(chainId), this.chainBranch(chainId)),
    );
  }

  /** Removes a chain's worktree and its branch. */
  async removeChain(chainId: string): Promise<void> {
    const safeId = sanitizeId(chainId);
    return this.#serial(() =>
      this.#removeWorktree('chain', safeId, this.chainPath(chainId), this.chainBranch(chainId)),
    );
  }

  /**
   * Creates an independent clone for a chain with `git clone --local --shared` and returns its
   * path. When the repository's `origin` is a network URL, the clone's `origin` is pointed at it
   * too (so tools like `gh` work); a failure there is only a warning.
   */
  async createCloneForChain(chainId: string): Promise<string> {
    const safeId = sanitizeId(chainId);
    return this.#serial(() => this.#addClone(chainId, safeId, this.clonePath(chainId)));
  }

  /** Deletes a chain's clone directory. @throws WorktreeError `remove_failed`. */
  async removeClone(chainId: string): Promise<void> {
    const safeId = sanitizeId(chainId);
    return this.#serial(async () => {
      await this.#removeDir(this.clonePath(chainId));
      this.#tracked.delete(key('clone', safeId));
    });
  }

  /**
   * Removes every tracked slot worktree, chain worktree and clone, then runs `git worktree prune`
   * and deletes the now-empty directories under the base. Every removal is attempted.
   *
   * @throws WorktreeError `cleanup_failed` listing every failure, after all were attempted.
   */
  async cleanupAll(): Promise<void> {
    return this.#serial(async () => {
      const failures: Error[] = [];
      for (const entry of [...this.#tracked.values()]) {
        try {
          if (entry.kind === 'clone') {
            await this.#removeDir(entry.path);
            this.#tracked.delete(key('clone', entry.safeId));
          } else {
            await this.#removeWorktree(entry.kind, entry.safeId, entry.path, entry.branch ?? '');
          }
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          failures.push(new WorktreeError('remove_failed', `${entry.kind} ${entry.id}: ${e.message}`, { cause: e }));
        }
      }
      const prune = await runGit(['worktree', 'prune'], this.#repoDir);
      if (!prune.ok) {
        failures.push(
          new WorktreeError('git_failed', `git worktree prune failed: ${prune.stderr}`, { stderr: prune.stderr }),
        );
      }
      for (const dir of [
        path.join(this.#rootDir, 'chains'),
        path.join(this.#rootDir, 'clones'),
        this.#rootDir,
        this.#baseDir,
      ]) {
        await rmdir(dir).catch(() => undefined); // only succeeds when empty
      }
      this.#baseReady = false;
      if (failures.length > 0) {
        throw new WorktreeError(
          'cleanup_failed',
          `worktree cleanup failed (${failures.length}): ${failures.map((f) => f.message).join('; ')}`,
          { causes: failures },
        );
      }
    });
  }

  // -------------------------------------------------------------------------

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return enqueue(this.#queueKey, fn);
  }

  #slotSafeId(slotId: string): string {
    const safeId = sanitizeId(slotId);
    if (RESERVED_SLOT_IDS.has(safeId.toLowerCase())) {
      throw new WorktreeError('invalid_id', `slot id ${JSON.stringify(slotId)} is reserved`);
    }
    return safeId;
  }

  async #addWorktree(kind: 'slot' | 'chain', id: string, safeId: string, dir: string, branch: string): Promise<string> {
    await this.#ensureBase();
    await mkdir(path.dirname(dir), { recursive: true });
    if ((await exists(dir)) || (await this.#branchExists(branch))) {
      await this.#removeWorktree(kind, safeId, dir, branch);
    }
    await gitOrThrow('git worktree add', ['worktree', 'add', '-b', branch, dir, 'HEAD'], this.#repoDir);
    this.#tracked.set(key(kind, safeId), { kind, id, safeId, path: dir, branch });
    return dir;
  }

  async #removeWorktree(kind: 'slot' | 'chain', safeId: string, dir: string, branch: string): Promise<void> {
    if (await exists(dir)) {
      const r = await runGit(['worktree', 'remove', '--force', dir], this.#repoDir);
      if (!r.ok) {
        this.#warn(`git worktree remove failed for ${dir}, deleting the directory instead: ${r.stderr}`);
        await this.#removeDir(dir);
        await runGit(['worktree', 'prune'], this.#repoDir);
      }
    } else {
      // A stale registration would keep the branch "checked out" and block `branch -D`.
      await runGit(['worktree', 'prune'], this.#repoDir);
    }
    if (branch !== '') await runGit(['branch', '-D', branch], this.#repoDir); // errors ignored, as in the reference
    this.#tracked.delete(key(kind, safeId));
  }

  async #addClone(id: string, safeId: string, dir: string): Promise<string> {
    await this.#ensureBase();
    if (await exists(dir)) await this.#removeDir(dir);
    await mkdir(path.dirname(dir), { recursive: true });
    await gitOrThrow('git clone', ['clone', '--local', '--shared', '--', this.#repoDir, dir], path.dirname(dir));
    this.#tracked.set(key('clone', safeId), { kind: 'clone', id, safeId, path: dir, branch: null });
    const origin = await runGit(['remote', 'get-url', 'origin'], this.#repoDir);
    if (origin.ok && origin.stdout !== '' && isRemoteUrl(origin.stdout)) {
      const set = await runGit(['remote', 'set-url', 'origin', origin.stdout], dir);
      if (!set.ok) this.#warn(`could not set origin of clone ${dir} to ${origin.stdout}: ${set.stderr}`);
    }
    return dir;
  }

  async #branchExists(branch: string): Promise<boolean> {
    const r = await runGit(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`], this.#repoDir);
    return r.ok;
  }

  /** `rm -rf` restricted to paths under the base dir that do not contain the repository. */
  async #removeDir(dir: string): Promise<void> {
    if (!isInside(this.#baseDir, dir) || dir === this.#repoDir || isInside(dir, this.#repoDir)) {
      throw new WorktreeError('remove_failed', `refusing to delete ${dir}: it is not under ${this.#baseDir}`);
    }
    try {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      throw new WorktreeError('remove_failed', `could not delete ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Creates the base dir and, when it lies inside the repo, lists it in `<gitdir>/info/exclude`. */
  async #ensureBase(): Promise<void> {
    if (this.#baseReady) return;
    await mkdir(this.#rootDir, { recursive: true });
    const base = await realpath(this.#baseDir);
    const top = await realpath(this.#repoDir);
    if (isInside(top, base)) {
      const rel = path.relative(top, base).split(path.sep).join('/');
      const pattern = `/${escapeIgnorePattern(rel)}/`;
      let current = '';
      try {
        current = await readFile(this.#excludeFile, 'utf8');
      } catch {
        /* missing file: created below */
      }
      if (!current.split(/\r?\n/).some((line) => line.trim() === pattern)) {
        await mkdir(path.dirname(this.#excludeFile), { recursive: true });
        const sep = current === '' || current.endsWith('\n') ? '' : '\n';
        await appendFile(this.#excludeFile, `${sep}${pattern}\n`);
      }
    }
    this.#baseReady = true;
  }
}

function key(kind: WorktreeKind, safeId: string): string {
  return `${kind}:${safeId}`;
}

/** Branch prefixes may contain `/`-separated components that each look like a sanitised id. */
function isValidBranchPrefix(prefix: string): boolean {
  if (prefix === '') return true;
  if (!/^[A-Za-z0-9._/-]+$/.test(prefix) || prefix.includes('..') || prefix.includes('//')) return false;
  const parts = prefix.split('/');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.every((p) => p !== '' && !/^[.-]/.test(p) && !p.endsWith('.') && !p.endsWith('.lock'));
}
