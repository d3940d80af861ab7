/**
 * The Redis keys and channels one cluster uses, all under `claude-pool:<queue>:` (BullMQ keeps its own keys
 * under its `bull:<queue>` prefix).
 */

/** Every key and channel name of the cluster named `queue`. */
export interface ClusterKeys {
  /** Hash: task id → task record (JSON). */
  tasks: string;
  /** Sorted set: task ids by creation time (listing order). */
  taskOrder: string;
  /** Hash: chain id → its progress (JSON), written by the node that runs the chain. */
  chainProgress: string;
  /** Hash: task id → id of the node that runs or ran it. */
  owners: string;
  /** Hash: `limit` (absent: no limit), `spent`, `floor`, `defaultReserve` (microdollars). */
  budget: string;
  /** Hash: task id → microdollars held by its run. */
  reservations: string;
  /** Hash: node id → slots it can still give work to. */
  freeSlots: string;
  /** Set of node ids that have joined (each alive while its heartbeat key exists). */
  nodes: string;
  /** The heartbeat key of a node (expires when the node stops refreshing it). */
  node(nodeId: string): string;
  /** Hash: task id → the node that has started its run (set before its agent starts; see `run-starts.ts`). */
  started: string;
  /** Set: task ids whose cancellation was asked (a job taken later is cancelled instead of run). */
  cancelled: string;
  /** Hash: the shared context entries. */
  context: string;
  /** Counter: the order in which jobs started, cluster-wide. */
  startSeq: string;
  /** Hash: task id → its place in that order. */
  startOrder: string;
  /** Channel: every task record change (JSON). */
  taskChannel: string;
  /** Channel: every chain progress change (JSON). */
  chainChannel: string;
  /** Channel: a settlement of the ledger happened (work waiting for budget may try again). */
  settledChannel: string;
  /** Channel: requests to nodes (cancel, approve, reject) and their answers. */
  controlChannel: string;
  /** Channel: shared-context changes. */
  contextChannel: string;
  /** String: the text a task's run `run` (its rejection count) has streamed so far (`output.ts`). */
  output(taskId: string, run: number): string;
  /** Channel: each chunk a task streams, with its run and the output key's length after it (`output.ts`). */
  outputChannel(taskId: string): string;
}

/** The keys of the cluster named `queue`. */
export function clusterKeys(queue: string): ClusterKeys {
  const p = `claude-pool:${queue}:`;
  return {
    tasks: `${p}tasks`,
    taskOrder: `${p}task-order`,
    chainProgress: `${p}chain-progress`,
    owners: `${p}owners`,
    budget: `${p}budget`,
    reservations: `${p}reservations`,
    freeSlots: `${p}free-slots`,
    nodes: `${p}nodes`,
    node: (nodeId) => `${p}node:${nodeId}`,
    started: `${p}started`,
    cancelled: `${p}cancelled`,
    context: `${p}context`,
    startSeq: `${p}start-seq`,
    startOrder: `${p}start-order`,
    taskChannel: `${p}task-changed`,
    chainChannel: `${p}chain-changed`,
    settledChannel: `${p}settled`,
    controlChannel: `${p}control`,
    contextChannel: `${p}context-changed`,
    output: (taskId, run) => `${p}output:${taskId}:${run}`,
    outputChannel: (taskId) => `${p}output-stream:${taskId}`,
  };
}
