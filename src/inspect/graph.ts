/**
 * A statechart as data: {@link toGraph} gives a machine as a JSON graph of state nodes and transitions, built on
 * `@xstate/graph`'s `toDirectedGraph` (plus the eventless `always` transitions, which it leaves out).
 *
 * It takes any XState v5 machine; nothing depends on the pool's own machines.
 */
import { toDirectedGraph, type DirectedGraphNode } from '@xstate/graph';
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition, StateValue } from 'xstate';

/** The kind of a state node. */
export type GraphNodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** One state node of a machine. The root node (the machine itself) is the only node without `parent`. */
export interface GraphNode {
  /** The state node id, e.g. `slot.busy.working`. */
  id: string;
  /** The key within its parent, e.g. `working` (the machine id for the root). */
  key: string;
  type: GraphNodeType;
  /** The parent node's id. */
  parent?: string;
  /** The id of the initial child, for compound nodes. */
  initial?: string;
  /** Names of the actors invoked while in this state. */
  invoke: string[];
  /** The state's `description`, when the config gives one. */
  description?: string;
}

/** What started a transition. */
export type GraphEdgeKind = 'event' | 'always' | 'after' | 'done' | 'error';

/** One transition (one edge per target). */
export interface GraphEdge {
  /**
   * Stable id: `<source id>:<index>:<target index>`, where index is the transition's position among the source
   * node's transitions (as `@xstate/graph` numbers them), or `<source id>:always:<index>:<target index>`.
   */
  id: string;
  source: string;
  /** The target node id; the source itself for a targetless transition. */
  target: string;
  /** The event descriptor as XState has it (`''` for `always`, `xstate.after.…` for delays). */
  event: string;
  /** A short human label: the event type, `always`, `after <delay>`, `done: <actor>`, `error: <actor>`. */
  label: string;
  kind: GraphEdgeKind;
  /** The guard's name, when the transition is guarded. */
  guard?: string;
  /** The delay (a number of ms or a named delay) of an `after` transition. */
  delay?: string | number;
  /** True when the transition has no target: it runs actions and stays where it is. */
  targetless: boolean;
  /** True for `reenter: true` transitions. */
  reenter: boolean;
  /** Names of the transition's actions. */
  actions: string[];
}

/** A machine as a graph. */
export interface StatechartGraph {
  /** The machine id. */
  id: string;
  /** Every state node, root first, in document order. */
  nodes: GraphNode[];
  /** Every transition, in document order (by source node, then as defined). */
  edges: GraphEdge[];
}

/** How {@link toMermaid} draws a machine. */
// ---------------------------------------------------------------------------------------------------- graph

const AFTER_PREFIX = 'xstate.after.';
const DONE_ACTOR_PREFIX = 'xstate.done.actor.';
const ERROR_ACTOR_PREFIX = 'xstate.error.actor.';
const DONE_STATE_PREFIX = 'xstate.done.state.';

interface TransitionWithDelay {
  delay?: string | number;
}

/** A readable name for a guard: its name, `!a`, `a && b`, `a || b`, `in(x)`, or `inline`. */
export function guardLabel(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  if (typeof guard === 'function') {
    const builtin = guard as { guards?: unknown[]; stateValue?: unknown; name?: string };
    if (builtin.stateValue !== undefined) return `in(${JSON.stringify(builtin.stateValue)})`;
    if (Array.isArray(builtin.guards)) {
      const parts = builtin.guards.map((g) => guardLabel(g) ?? 'inline');
      if (builtin.name === 'not') return `!${parts[0]}`;
      return parts.join(builtin.name === 'or' ? ' || ' : ' && ');
    }
    return builtin.name && builtin.name !== 'guard' ? builtin.name : 'inline';
  }
  return 'inline';
}

function actionLabel(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'object' && action !== null && 'type' in action && typeof action.type === 'string') {
    return action.type;
  }
  if (typeof action === 'function') {
    const typed = action as { type?: unknown; name?: string };
    if (typeof typed.type === 'string') return typed.type;
    return typed.name || 'inline';
  }
  return 'inline';
}

function invokeNames(node: AnyStateNode): string[] {
  return node.invoke.map((definition) => (typeof definition.src === 'string' ? definition.src : definition.id));
}

/** The invoked actor's name for a `xstate.done.actor.<id>` / `xstate.error.actor.<id>` descriptor. */
function invokedActorName(node: AnyStateNode, invokeId: string): string {
  for (let current: AnyStateNode | undefined = node; current; current = current.parent) {
    const definition = current.invoke.find((d) => d.id === invokeId);
    if (definition) return typeof definition.src === 'string' ? definition.src : invokeId;
  }
  return invokeId;
}

function classify(
  node: AnyStateNode,
  transition: AnyTransitionDefinition,
): { kind: GraphEdgeKind; label: string; delay?: string | number } {
  const descriptor = transition.eventType;
  const delay = (transition as TransitionWithDelay).delay;
  if (descriptor === '') return { kind: 'always', label: 'always' };
  if (descriptor.startsWith(AFTER_PREFIX) && delay !== undefined) {
    return { kind: 'after', label: `after ${delay}`, delay };
  }
  if (descriptor.startsWith(DONE_ACTOR_PREFIX)) {
    return { kind: 'done', label: `done: ${invokedActorName(node, descriptor.slice(DONE_ACTOR_PREFIX.length))}` };
  }
  if (descriptor.startsWith(ERROR_ACTOR_PREFIX)) {
    return { kind: 'error', label: `error: ${invokedActorName(node, descriptor.slice(ERROR_ACTOR_PREFIX.length))}` };
  }
  if (descriptor.startsWith(DONE_STATE_PREFIX)) return { kind: 'done', label: 'onDone' };
  return { kind: 'event', label: descriptor };
}

function edgesOf(
  node: AnyStateNode,
  transition: AnyTransitionDefinition,
  idPrefix: string,
  targets: readonly AnyStateNode[] | undefined,
): GraphEdge[] {
  const { kind, label, delay } = classify(node, transition);
  const guard = guardLabel(transition.guard);
  const resolvedTargets = targets && targets.length > 0 ? targets : [node];
  return resolvedTargets.map((target, targetIndex) => {
    const edge: GraphEdge = {
      id: `${idPrefix}:${targetIndex}`,
      source: node.id,
      target: target.id,
      event: transition.eventType,
      label,
      kind,
      targetless: !targets || targets.length === 0,
      reenter: transition.reenter,
      actions: transition.actions.map(actionLabel),
    };
    if (guard !== undefined) edge.guard = guard;
    if (delay !== undefined) edge.delay = delay;
    return edge;
  });
}

/**
 * The machine as a graph of state nodes and transitions.
 *
 * Nodes and `event`/`after`/`done` edges come from `@xstate/graph`'s `toDirectedGraph` (its edge ids are kept);
 * `always` transitions, which it omits, are added from each node's definition. The order is the machine's
 * document order, so the output is stable for an unchanged machine.
 */
export function toGraph(machine: AnyStateMachine): StatechartGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const visit = (graphNode: DirectedGraphNode): void => {
    const node = graphNode.stateNode as AnyStateNode;
    const entry: GraphNode = {
      id: node.id,
      key: node.parent ? node.key : machine.id,
      type: node.type,
      invoke: invokeNames(node),
    };
    if (node.parent) entry.parent = node.parent.id;
    const initialTarget = node.type === 'compound' ? node.initial?.target[0] : undefined;
    if (initialTarget) entry.initial = initialTarget.id;
    if (node.description) entry.description = node.description;
    nodes.push(entry);
    for (const edge of graphNode.edges) {
      // `@xstate/graph` ids are `<source>:<transition index>:<target index>`; keep them, one edge per target.
      const prefix = edge.id.slice(0, edge.id.lastIndexOf(':'));
      const targetIndex = Number(edge.id.slice(edge.id.lastIndexOf(':') + 1));
      const transition = edge.transition as AnyTransitionDefinition;
      const [made] = edgesOf(node, transition, prefix, transition.target ? [edge.target] : undefined);
      made.id = `${prefix}:${targetIndex}`;
      edges.push(made);
    }
    (node.always ?? []).forEach((transition: AnyTransitionDefinition, index: number) => {
      edges.push(...edgesOf(node, transition, `${node.id}:always:${index}`, transition.target));
    });
    for (const child of graphNode.children) visit(child);
  };
  visit(toDirectedGraph(machine));
  return { id: machine.id, nodes, edges };
}

/**
 * The ids of the graph edges a transition definition stands for (one per target), matching {@link toGraph}.
 * Works for transitions of a `machine.provide(...)` copy too: ids are structural, not object identities.
 */
export function edgeIdsOf(transition: AnyTransitionDefinition): string[] {
  const source = transition.source as AnyStateNode;
  const count = Math.max(1, transition.target?.length ?? 0);
  const ids = (prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
  const flat = [...source.transitions.values()].flat();
  const index = flat.indexOf(transition);
  if (index >= 0) return ids(`${source.id}:${index}`);
  const alwaysIndex = (source.always ?? []).indexOf(transition);
  if (alwaysIndex >= 0) return ids(`${source.id}:always:${alwaysIndex}`);
  return [];
}

/** The ids of the state nodes active in a state value (ancestors included, root excluded). */
export function stateNodeIdsOf(machine: AnyStateMachine, value: StateValue): string[] {
  const ids: string[] = [];
  const walk = (node: AnyStateNode, sub: StateValue): void => {
    if (typeof sub === 'string') {
      const child = node.states[sub];
      if (child) ids.push(child.id);
      return;
    }
    for (const [key, inner] of Object.entries(sub)) {
      const child = node.states[key];
      if (!child) continue;
      ids.push(child.id);
      if (inner !== undefined) walk(child, inner as StateValue);
    }
  };
  walk(machine.root, value);
  return ids;
}
