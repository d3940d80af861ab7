/**
 * Test support: cluster nodes as child processes (`test/fixtures/cluster/node.mjs`, on the built package),
 * each a pool of simulated agents, driven over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../fixtures/cluster/node.mjs', import.meta.url));

/** Settings of a node process. */
export interface NodeProcessOptions {
  redis: string;
  queue: string;
  nodeId: string;
  slots: number;
  policy?: 'fail' | 'requeue';
  lockMs?: number;
  stalledMs?: number;
}

/** A node process and its operations. */
export class NodeProcess {
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<void>;

  private constructor(
    readonly nodeId: string,
    readonly child: ChildProcess,
  ) {
    child.on(
      'message',
      (message: { id?: number; ok?: boolean; value?: unknown; error?: { code: string; message: string } }) => {
        if (message.id === undefined) return;
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.ok) waiter?.resolve(message.value);
        else waiter?.reject(Object.assign(new Error(message.error?.message), { code: message.error?.code }));
      },
    );
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`node ${nodeId} exited`));
      this.pending.clear();
    });
  }

  /** Starts a node and resolves once it has joined the cluster. */
  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const child = fork(
      script,
      [
        options.redis,
        options.queue,
        options.nodeId,
        String(options.slots),
        options.policy ?? 'fail',
        String(options.lockMs ?? 3000),
        String(options.stalledMs ?? 1000),
      ],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`node ${options.nodeId} exited with ${code} before joining`)));
    });
    return new NodeProcess(options.nodeId, child);
  }

  /** Calls an operation of the node (`submit`, `cancel`, `approve`, `reject`, `status`, `leave`). */
  call<T = unknown>(op: string, ...args: unknown[]): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, op, args });
    });
  }

  /** Leaves the cluster and exits (kills the process if it is still there after). */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.call('leave').catch(() => {});
      this.child.kill('SIGTERM');
    }
    await this.exited;
  }

  /** Kills the node at once (SIGKILL): nothing of it runs its exit code. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
