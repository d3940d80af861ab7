#!/usr/bin/env node
/**
 * The agent watchdog: a tiny process a pool's process starts once, detached, with a pipe on its stdin that only
 * the pool's process holds. The pool writes one line per agent process it starts (`+ <pid> <pgid> <starttime>`)
 * and one per agent that ended (`- <pid>`). When the pipe reaches end-of-file — the pool's process ended, in any
 * way at all, SIGKILL included — the watchdog ends the whole process tree of every agent still registered (see
 * `killTrees`: descendants found through their parent links, whatever process group they moved to, plus the
 * agents' process groups) and exits. A pid is only killed while its start time is still the registered one, so a
 * recycled pid is never touched.
 *
 * Only node built-ins are imported (through `process-tree.js`), so it starts fast.
 */
import { killTrees, type ProcessIdentity } from '../process-tree.js';

const agents = new Map<number, ProcessIdentity>();
let pending = '';
let ending = false;

function onLine(line: string): void {
  const [op, pidText, pgidText, startTime] = line.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1) return;
  if (op === '+') {
    const pgid = Number(pgidText);
    agents.set(pid, {
      pid,
      pgid: Number.isInteger(pgid) && pgid > 1 ? pgid : pid,
      startTime: startTime && startTime !== '-' ? startTime : undefined,
    });
  } else if (op === '-') {
    agents.delete(pid);
  }
}

function end(): void {
  if (ending) return;
  ending = true;
  if (pending) onLine(pending);
  // The pool registered these itself, so an agent without a readable start time (not Linux) is still taken.
  killTrees([...agents.values()], { trustUnknownStart: true });
  process.exit(0);
}

// Detached, so a terminal's Ctrl-C or hang-up is not meant for this process; only the pipe decides.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  let newline = pending.indexOf('\n');
  while (newline >= 0) {
    onLine(pending.slice(0, newline));
    pending = pending.slice(newline + 1);
    newline = pending.indexOf('\n');
  }
});
process.stdin.on('end', end);
process.stdin.on('close', end);
process.stdin.on('error', end);
