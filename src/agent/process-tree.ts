/**
 * Process trees on Linux, read from `/proc`: who a process is (its start time, so a recycled pid is never taken
 * for the process it replaced), which processes descend from it, and how to end a whole tree at once.
 *
 * Why `/proc` and not a library such as `pidtree` or `tree-kill`: both list processes by running `ps` (a child
 * process per look-up, and `ps` is missing from slim containers), neither reports a process's start time, which
 * is what makes a pid safe to kill after a restart, and neither stops a tree before killing it, so a process
 * that forks while the tree is being walked escapes. Reading `/proc/<pid>/stat` gives ppid, process group and
 * start time in one read, with node built-ins only (the watchdog that uses this module must start fast and
 * import nothing else). Elsewhere than Linux the functions fall back to `ps` for the ppid/pgid links and to the
 * process group for killing; a start time is then unknown (`undefined`), and callers treat an unknown identity
 * as "not provably the same process".
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** One process as `/proc/<pid>/stat` describes it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Process group id. */
  pgid: number;
  /** One-letter state (`R`, `S`, `Z`…). */
  state: string;
  /** Start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`), as a decimal string. */
  startTime: string;
}

/** Who a process is: its pid, its group, and its start time (`undefined` where it cannot be read). */
export interface ProcessIdentity {
  pid: number;
  pgid: number;
  startTime?: string;
}

/** Parses one `/proc/<pid>/stat` line; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcessInfo | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Fields after the name start at field 3 (state); field 22 (starttime) is index 19 here.
  const fields = text.slice(close + 2).split(' ');
  const ppid = Number(fields[1]);
  const pgid = Number(fields[2]);
  const startTime = fields[19];
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isInteger(pgid) || !/^\d+$/.test(startTime ?? '')) {
    return undefined;
  }
  return { pid, ppid, pgid, state: fields[0], startTime };
}

/** `/proc/<pid>/stat` of one process; `undefined` when it does not exist (or `/proc` is not there). */
export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The start time of a process (`undefined` when it is gone or cannot be read). */
export function processStartTime(pid: number): string | undefined {
  return readProcess(pid)?.startTime;
}

/** The identity of a live process, read now. */
export function identify(pid: number): ProcessIdentity | undefined {
  const info = readProcess(pid);
  if (info !== undefined) return { pid, pgid: info.pgid, startTime: info.startTime };
  if (!pidExists(pid)) return undefined;
  return { pid, pgid: pid };
}

/** True while the process exists and is not a zombie (signal 0; `/proc` to tell zombies apart). */
export function isRunning(pid: number): boolean {
  if (!pidExists(pid)) return false;
  const info = readProcess(pid);
  return info === undefined || (info.state !== 'Z' && info.state !== 'X');
}

/**
 * True when `identity` is still the same running process: the pid exists and, where start times can be read,
 * started at the recorded time. An identity with no start time is never confirmed (a recycled pid is worse than
 * a leftover).
 */
export function isSameProcess(identity: ProcessIdentity): boolean {
  if (identity.startTime === undefined) return false;
  const info = readProcess(identity.pid);
  return info !== undefined && info.startTime === identity.startTime && info.state !== 'Z' && info.state !== 'X';
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every process on the machine (pid, ppid, pgid), from `/proc` or else `ps`. */
export function listProcesses(): ProcessInfo[] {
  let entries: string[] | undefined;
  try {
    entries = readdirSync('/proc');
  } catch {
    entries = undefined;
  }
  if (entries !== undefined && process.platform === 'linux') {
    const all: ProcessInfo[] = [];
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      const info = readProcess(Number(entry));
      if (info !== undefined) all.push(info);
    }
    return all;
  }
  try {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length >= 4 && /^\d+$/.test(f[0]))
      .map((f) => ({
        pid: Number(f[0]),
        ppid: Number(f[1]),
        pgid: Number(f[2]),
        state: f[3].slice(0, 1),
        startTime: '',
      }));
  } catch {
    return [];
  }
}

/** True while any live (non-zombie) process is in the group. */
export function groupHasLiveMember(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  return listProcesses().some((p) => p.pgid === pgid && p.state !== 'Z' && p.state !== 'X');
}

/**
 * The pids of the roots and of everything below them (children, grandchildren…, whatever process group they
 * moved to), plus every member of the roots' process groups. `processes` defaults to a fresh listing.
 */
export function collectTree(
  roots: readonly ProcessIdentity[],
  processes: ProcessInfo[] = listProcesses(),
): Set<number> {
  // Never this process's own group (a root that was not started in a group of its own).
  const ownGroup = readProcess(process.pid)?.pgid;
  const children = new Map<number, number[]>();
  for (const p of processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const groups = new Set(roots.map((r) => r.pgid).filter((g) => g !== ownGroup && g > 1));
  const found = new Set<number>();
  const stack = roots.map((r) => r.pid);
  for (const p of processes) if (groups.has(p.pgid)) stack.push(p.pid);
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (found.has(pid)) continue;
    found.add(pid);
    for (const child of children.get(pid) ?? []) stack.push(child);
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/**
 * Ends the trees of the given processes at once, synchronously: only roots that are still the recorded process
 * (see {@link isSameProcess}; a root whose start time is unknown counts when `trustUnknownStart` is set, for
 * processes this very process started and still holds) are taken. Every process found is stopped (SIGSTOP) so
 * none can fork while the tree is walked again, then the tree and the roots' process groups are SIGKILLed.
 * Returns the pids signalled.
 */
export function killTrees(roots: readonly ProcessIdentity[], options: { trustUnknownStart?: boolean } = {}): number[] {
  const live = roots.filter((r) =>
    r.startTime === undefined ? options.trustUnknownStart === true && isRunning(r.pid) : isSameProcess(r),
  );
  if (live.length === 0) return [];
  const self = process.pid;
  let found = new Set<number>();
  // Stop, re-walk until nothing new appears (a process forked before it was stopped), at most a few rounds.
  for (let round = 0; round < 5; round++) {
    const next = collectTree(live);
    next.delete(self);
    let grew = false;
    for (const pid of next) {
      if (!found.has(pid)) {
        grew = true;
        signal(pid, 'SIGSTOP');
      }
    }
    found = new Set([...found, ...next]);
    if (!grew) break;
  }
  for (const pid of found) signal(pid, 'SIGKILL');
  const ownGroup = readProcess(self)?.pgid;
  for (const root of live) {
    if (root.pgid !== ownGroup && root.pgid !== self && root.pgid > 1) signal(-root.pgid, 'SIGKILL');
  }
  return [...found];
}

/**
 * The identities of a live process and of everything in its tree (see {@link collectTree}), read now; empty when
 * the process is gone. Taken while the root is alive, it lets its descendants be found after it exited.
 */
export function describeTree(root: ProcessIdentity): ProcessIdentity[] {
  const processes = listProcesses();
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  if (!byPid.has(root.pid)) return [];
  const tree = collectTree([root], processes);
  tree.delete(process.pid);
  const out: ProcessIdentity[] = [];
  for (const pid of tree) {
    const p = byPid.get(pid);
    if (p !== undefined) out.push({ pid, pgid: p.pgid, startTime: p.startTime || undefined });
  }
  return out;
}

/** SIGKILLs each process that is still the recorded one (same start time); returns the pids signalled. */
export function killProcesses(processes: readonly ProcessIdentity[]): number[] {
  const killed: number[] = [];
  for (const p of processes) {
    if (!isSameProcess(p)) continue;
    signal(p.pid, 'SIGKILL');
    killed.push(p.pid);
  }
  return killed;
}
