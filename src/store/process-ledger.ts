/**
 * The process ledger: which agent processes a pool has running, written through to the store, so a pool
 * restarted on the same store can find and end what a previous owner left behind (see `src/agent/leftovers.ts`).
 */
import { hostname } from 'node:os';

/** One agent process a pool started and has not yet seen end. */
export interface AgentProcessRecord {
  /** The agent's pid. */
  pid: number;
  /** Its process group (its own: agents are started detached). */
  pgid: number;
  /** Its start time (Linux: `/proc/<pid>/stat` field 22, clock ticks since boot); `undefined` where unknown. */
  startTime?: string;
  /** The machine it runs on. */
  host: string;
  /** The pid of the pool's process that started it. */
  ownerPid: number;
  /** That process's start time, so a recycled owner pid is not taken for a live owner. */
  ownerStartTime?: string;
  /** When it was started (ms since epoch). */
  startedAtMs: number;
}

/** Where a store keeps its {@link AgentProcessRecord}s. Synchronous, so a record is in before the run goes on. */
export interface ProcessLedger {
  /** Records a process that has just started (replacing any record of the same pid and host). */
  recordSpawn(record: AgentProcessRecord): void;
  /** Forgets a process that has ended. */
  recordExit(pid: number, host?: string): void;
  /** Every process recorded and not yet forgotten. */
  list(): AgentProcessRecord[];
}

/** This machine's name, as the ledger records it. */
export function thisHost(): string {
  return hostname();
}

/** A {@link ProcessLedger} in memory (the memory store's). */
export class MemoryProcessLedger implements ProcessLedger {
  private readonly records = new Map<string, AgentProcessRecord>();

  recordSpawn(record: AgentProcessRecord): void {
    this.records.set(`${record.host}:${record.pid}`, { ...record });
  }

  recordExit(pid: number, host: string = thisHost()): void {
    this.records.delete(`${host}:${pid}`);
  }

  list(): AgentProcessRecord[] {
    return [...this.records.values()].map((record) => ({ ...record }));
  }
}
