/**
 * Ending what a previous owner of a store left running: agent processes recorded in the store's process ledger
 * whose pool process is gone (SIGKILLed, or its watchdog did not get to them).
 */
import type { ProcessLedger } from '../store/process-ledger.js';
import { thisHost } from '../store/process-ledger.js';
import { isSameProcess, killTrees } from './process-tree.js';

/** What `endLeftoverAgents` did. */
export interface LeftoverReport {
  /** Pids of recorded agents that were still running and were killed (with their trees). */
  killed: number[];
  /** Records dropped because their process had ended (or its pid now belongs to another process). */
  forgotten: number;
  /** Records left alone: their owner still runs, or they run on another machine. */
  kept: number;
}

/**
 * Ends the leftovers in `ledger`: for each record on this machine whose owner process is gone, the agent's tree
 * is killed if the pid still belongs to the recorded process (same start time; a recycled pid is never
 * signalled), and the record is dropped. Records of a live owner (a pool in this or another process) and of
 * other machines are kept.
 */
export function endLeftoverAgents(ledger: ProcessLedger): LeftoverReport {
  const report: LeftoverReport = { killed: [], forgotten: 0, kept: 0 };
  const host = thisHost();
  for (const record of ledger.list()) {
    if (record.host !== host) {
      report.kept++;
      continue;
    }
    const ownerAlive =
      record.ownerStartTime === undefined
        ? record.ownerPid === process.pid
        : isSameProcess({ pid: record.ownerPid, pgid: record.ownerPid, startTime: record.ownerStartTime });
    if (ownerAlive) {
      report.kept++;
      continue;
    }
    const agent = { pid: record.pid, pgid: record.pgid, startTime: record.startTime };
    if (isSameProcess(agent)) {
      killTrees([agent]);
      report.killed.push(record.pid);
    } else {
      report.forgotten++;
    }
    ledger.recordExit(record.pid, record.host);
  }
  return report;
}
