/**
 * `claude-pool/bullmq`: one pool over many machines. A node is a local `Pool` joined to a cluster through
 * Redis and BullMQ (`ClusterNode.join(pool, { redis, queue })`); see docs/distributed.md.
 */
export { ClusterNode } from './node.js';
export type { ClusterOptions, ClusterStatus, ClusterSubmitOptions } from './node.js';
export type { LedgerState } from './ledger.js';
export type { NodeInfo } from './membership.js';
export { clusterChainFront, clusterTaskFront } from './front.js';
export type { ClusterChainOptions } from './chains.js';
