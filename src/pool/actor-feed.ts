/**
 * The actor feed: subscribes the projection to every actor of the pool (the supervisor, each slot, chain and
 * task), so that it receives each of their snapshots as it is made. Actors are subscribed as they appear: task
 * actors when the supervisor creates them (the feed provides the pool's `startTask`), slots and chains when the
 * supervisor's snapshot first holds them. Each snapshot costs one observer call: no inspection events are
 * made for it.
 */
import type { AnyActorRef, Subscription } from 'xstate';
import { createTaskActor, type PoolContext } from '../../machines/pool.js';
import type { SlotRecord, TaskRecord } from '../../machines/types.js';
import type { MachineSnapshotLike, Projection } from '../projection.js';

/** Feeds a projection from the pool's actors. */
export class ActorFeed {
  private readonly watched = new WeakSet<AnyActorRef>();
  private readonly subscriptions = new Set<Subscription>();

  /**
   * `isRemovedSlot`: a slot the pool removed (scale-down) may publish its final snapshot after the pool's own
   * snapshot has already dropped it; such a late snapshot must not bring it back.
   */
  constructor(
    private readonly projection: Projection,
    private readonly isRemovedSlot: (record: SlotRecord) => boolean,
  ) {}

  /** The pool's `startTask` action: creates the task actor, watches it, then starts it (so its first snapshot is fed). */
  startTask = ({ self }: { self: AnyActorRef }, params: { record: TaskRecord }): void => {
    const task = createTaskActor(self, params.record);
    this.watch(task, 'task');
    task.start();
  };

  /** Watches the supervisor: its own snapshots, and the slots and chains each one holds. */
  watchSupervisor(supervisor: AnyActorRef): void {
    this.subscribe(supervisor, 'pool', (snapshot) => this.discoverChildren(snapshot));
  }

  /** Stops every subscription. */
  close(): void {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.subscriptions.clear();
  }

  private discoverChildren(snapshot: MachineSnapshotLike): void {
    const context = snapshot.context as Partial<PoolContext> | undefined;
    for (const slot of Object.values(context?.slots ?? {})) this.watchExisting(slot, 'slot');
    for (const chain of Object.values(context?.chains ?? {})) this.watchExisting(chain, 'chain');
  }

  /** Watches an actor that already runs: feeds its current snapshot, then every later one. */
  private watchExisting(actor: AnyActorRef, machineId: string): void {
    if (this.watched.has(actor)) return;
    this.watch(actor, machineId);
    this.feed(machineId, actor.getSnapshot() as MachineSnapshotLike);
  }

  private watch(actor: AnyActorRef, machineId: string): void {
    this.watched.add(actor);
    this.subscribe(actor, machineId);
  }

  private subscribe(actor: AnyActorRef, machineId: string, after?: (snapshot: MachineSnapshotLike) => void): void {
    const subscription = actor.subscribe({
      next: (snapshot: MachineSnapshotLike) => {
        this.feed(machineId, snapshot);
        after?.(snapshot);
      },
      // An actor's failure is its statechart's business (and the pool's report): the feed only stops.
      error: () => this.subscriptions.delete(subscription),
      complete: () => this.subscriptions.delete(subscription),
    });
    this.subscriptions.add(subscription);
  }

  private feed(machineId: string, snapshot: MachineSnapshotLike): void {
    const record = snapshot.context?.record as SlotRecord | undefined;
    if (machineId === 'slot' && record && this.isRemovedSlot(record)) return;
    this.projection.handle(machineId, snapshot);
  }
}
