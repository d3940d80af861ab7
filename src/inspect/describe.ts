/**
 * The live view: {@link describeActors} gives the current state of every actor in a running actor tree.
 */
import { isMachineSnapshot, type AnyActorRef, type StateValue } from 'xstate';

/** What {@link describeActors} reports for one actor. */
export interface ActorDescription {
  /** The actor's system id when it has one (slots, tasks and chains of a pool), else its id relative to its parent. */
  id: string;
  /** The machine id, for state-machine actors. */
  machine?: string;
  /** The logic's name as its parent knows it (`slot`, `task`, `agent`, …), when it has one. */
  src?: string;
  /** `active`, `done`, `error` or `stopped`. */
  status: string;
  /** The state value, for state-machine actors. */
  value?: StateValue;
  children: ActorDescription[];
}

// ---------------------------------------------------------------------------------------------------- live view

interface SnapshotWithChildren {
  status?: unknown;
  children?: Record<string, AnyActorRef | undefined>;
}

/**
 * An actor's children: those it spawned or invoked, and those created with it as their `parent` that live in
 * the actor system under a system id without being held in its snapshot (how the pool holds its tasks).
 */
function childrenOf(actor: AnyActorRef, spawned: Record<string, AnyActorRef | undefined> | undefined): AnyActorRef[] {
  const result = Object.values(spawned ?? {}).filter((child): child is AnyActorRef => child !== undefined);
  const known = new Set(result);
  const system = actor.system as { getAll?: () => Record<string, AnyActorRef> } | undefined;
  for (const ref of Object.values(system?.getAll?.() ?? {})) {
    if ((ref as { _parent?: unknown })._parent === actor && !known.has(ref)) result.push(ref);
  }
  return result;
}

/**
 * The current state of every actor in a tree: the root, then its children (spawned, invoked, or parented in the
 * actor system) recursively. Machine actors report their machine id and state value; other actors (callbacks,
 * promises) their status. Safe to call at any time; it only reads snapshots.
 */
export function describeActors(root: AnyActorRef): ActorDescription {
  const describe = (actor: AnyActorRef, seen: Set<AnyActorRef>): ActorDescription => {
    seen.add(actor);
    const snapshot: unknown = actor.getSnapshot();
    const { status, children } = (snapshot ?? {}) as SnapshotWithChildren;
    const description: ActorDescription = {
      // An actor registered in the system is known by its system id (a task's id; its actor id is `task`).
      id: (actor as { systemId?: string }).systemId ?? actor.id,
      status: typeof status === 'string' ? status : 'unknown',
      children: [],
    };
    if (typeof actor.src === 'string') description.src = actor.src;
    if (isMachineSnapshot(snapshot)) {
      description.machine = snapshot.machine.id;
      description.value = snapshot.value;
    }
    for (const child of childrenOf(actor, children)) {
      if (!seen.has(child)) description.children.push(describe(child, seen));
    }
    return description;
  };
  return describe(root, new Set());
}
