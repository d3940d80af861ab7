/**
 * Statechart export and live inspection.
 *
 * - {@link toGraph}: a machine as a JSON graph of state nodes and transitions, built on `@xstate/graph`'s
 *   `toDirectedGraph` (plus the eventless `always` transitions, which it leaves out).
 * - {@link toMermaid}: a machine as a Mermaid `stateDiagram-v2` (renders on GitHub).
 * - {@link describeActors}: the current state of every actor in a running actor tree.
 *
 * Everything here takes any XState v5 machine; nothing depends on the pool's own machines.
 */
import { toDirectedGraph, type DirectedGraphNode } from '@xstate/graph';
import {
  isMachineSnapshot,
  type AnyActorRef,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type StateValue,
} from 'xstate';

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
export interface MermaidOptions {
  /** Layout direction (`direction LR` / `TB`); default: Mermaid's own. */
  direction?: 'LR' | 'TB' | 'RL' | 'BT';
  /**
   * Targetless transitions (actions only): `note` (default) lists them in a note on the state,
   * `self-loop` draws each as an arrow back to the state, `omit` leaves them out.
   */
  internalTransitions?: 'note' | 'self-loop' | 'omit';
  /** Note invoked actors on their states (default true). */
  showInvokes?: boolean;
  /** Indentation unit (default two spaces). */
  indent?: string;
}

/** What {@link describeActors} reports for one actor. */
export interface ActorDescription {
  /** The actor's id relative to its parent. */
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

// ---------------------------------------------------------------------------------------------------- mermaid

const MERMAID_RESERVED = new Set(['state', 'note', 'direction', 'end', 'class', 'classDef', 'style', 'click', 'as']);

function mermaidIds(graph: StatechartGraph): Map<string, string> {
  const states = graph.nodes.filter((node) => node.parent !== undefined);
  const sanitize = (text: string) => text.replace(/[^A-Za-z0-9_]/g, '_');
  const keyCount = new Map<string, number>();
  for (const node of states) keyCount.set(sanitize(node.key), (keyCount.get(sanitize(node.key)) ?? 0) + 1);
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const node of states) {
    let id = sanitize(node.key);
    if (keyCount.get(id) !== 1 || MERMAID_RESERVED.has(id) || /^\d/.test(id)) {
      // Not unique (or not a safe name): use the path below the root.
      id = sanitize(node.id.slice(graph.id.length + 1));
      if (MERMAID_RESERVED.has(id) || /^\d/.test(id)) id = `s_${id}`;
    }
    while (used.has(id)) id = `${id}_`;
    used.add(id);
    ids.set(node.id, id);
  }
  return ids;
}

function mermaidText(text: string): string {
  // Keep labels on one line and away from Mermaid's statement syntax (`;` ends a statement, `#` starts an entity).
  return text.replace(/[\r\n]+/g, ' ').replace(/;/g, ',').replace(/#/g, '');
}

function edgeText(edge: GraphEdge): string {
  return mermaidText(edge.guard ? `${edge.label} [${edge.guard}]` : edge.label);
}

/** The deepest node containing both `a` and `b` (the root when they only share it). */
/** The Mermaid state id {@link toMermaid} gives each state node (by state node id; the root has none). */
export function mermaidStateIds(machine: AnyStateMachine): Map<string, string> {
  return mermaidIds(toGraph(machine));
}

function commonAncestor(parents: Map<string, string | undefined>, a: string, b: string): string | undefined {
  const chain = (id: string) => {
    const ids: string[] = [];
    for (let current = parents.get(id); current !== undefined; current = parents.get(current)) ids.push(current);
    return ids;
  };
  const ofB = new Set(chain(b));
  if (a === b) return parents.get(a);
  return chain(a).find((id) => ofB.has(id) && id !== a && id !== b);
}

/**
 * The machine as a Mermaid `stateDiagram-v2`.
 *
 * Compound states become `state X { … }` blocks (parallel regions are separated by `--`), initial states get
 * `[*] -->` and final states `--> [*]`. Transitions are labelled with the event type and, when guarded, the guard
 * in brackets (`FINISH [needsReview]`); eventless ones `always`, delayed ones `after <delay>`, invoke results
 * `done: <actor>` / `error: <actor>`. Each transition is declared in the innermost block that holds both its ends.
 * Invoked actors and (by default) targetless transitions are listed in notes. Output order follows the machine's
 * document order, so it is stable.
 */
export function toMermaid(machine: AnyStateMachine, options: MermaidOptions = {}): string {
  const graph = toGraph(machine);
  const indentUnit = options.indent ?? '  ';
  const internal = options.internalTransitions ?? 'note';
  const showInvokes = options.showInvokes ?? true;
  const ids = mermaidIds(graph);
  const parents = new Map(graph.nodes.map((node) => [node.id, node.parent]));
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const children = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    if (node.parent === undefined) continue;
    const list = children.get(node.parent) ?? [];
    list.push(node);
    children.set(node.parent, list);
  }

  // Where each drawn edge is declared: the innermost block holding both ends (root = machine id). Transitions of
  // the root itself are accepted in every state: they are listed in a note instead of drawn.
  const edgesIn = new Map<string, GraphEdge[]>();
  for (const edge of graph.edges) {
    if (edge.source === graph.id) continue;
    if (edge.targetless && internal !== 'self-loop') continue;
    const scope = commonAncestor(parents, edge.source, edge.target) ?? graph.id;
    const list = edgesIn.get(scope) ?? [];
    list.push(edge);
    edgesIn.set(scope, list);
  }
  const notes = new Map<string, string[]>();
  const addNote = (nodeId: string, line: string) => {
    const list = notes.get(nodeId) ?? [];
    list.push(line);
    notes.set(nodeId, list);
  };
  const rootNode = byId.get(graph.id);
  const noteHolder = rootNode?.initial ?? children.get(graph.id)?.[0]?.id;
  for (const edge of graph.edges) {
    if (edge.source !== graph.id || noteHolder === undefined) continue;
    if (edge.targetless && internal === 'omit') continue;
    const target = edge.targetless ? '' : ` → ${ids.get(edge.target) ?? edge.target}`;
    addNote(noteHolder, `in every state: ${edgeText(edge)}${target}`);
  }
  for (const node of graph.nodes) {
    if (node.parent === undefined) continue;
    if (showInvokes) for (const name of node.invoke) addNote(node.id, `invoke ${name}`);
    if (internal === 'note') {
      for (const edge of graph.edges) {
        if (edge.source === node.id && edge.targetless) addNote(node.id, `internal: ${edgeText(edge)}`);
      }
    }
  }

  const lines: string[] = ['stateDiagram-v2'];
  if (options.direction) lines.push(`${indentUnit}direction ${options.direction}`);

  const emitBlock = (parentId: string, depth: number): void => {
    const pad = indentUnit.repeat(depth);
    const parent = byId.get(parentId);
    const kids = children.get(parentId) ?? [];
    if (parent?.type === 'parallel') {
      kids.forEach((region, index) => {
        if (index > 0) lines.push(`${pad}--`);
        emitState(region, depth);
      });
    } else {
      if (parent?.initial) lines.push(`${pad}[*] --> ${ids.get(parent.initial)}`);
      for (const kid of kids) emitState(kid, depth);
    }
    for (const edge of edgesIn.get(parentId) ?? []) {
      lines.push(`${pad}${ids.get(edge.source)} --> ${ids.get(edge.target)} : ${edgeText(edge)}`);
    }
    for (const kid of kids) {
      if (kid.type === 'final') lines.push(`${pad}${ids.get(kid.id)} --> [*]`);
    }
  };
  const emitState = (node: GraphNode, depth: number): void => {
    const pad = indentUnit.repeat(depth);
    const id = ids.get(node.id) as string;
    const label = node.type === 'history' ? `${node.key} (history)` : node.key;
    if (label !== id) lines.push(`${pad}state "${mermaidText(label)}" as ${id}`);
    if (node.type === 'compound' || node.type === 'parallel') {
      lines.push(`${pad}state ${id} {`);
      emitBlock(node.id, depth + 1);
      lines.push(`${pad}}`);
    } else if (label === id) {
      lines.push(`${pad}${id}`);
    }
    const noteLines = notes.get(node.id);
    if (noteLines && noteLines.length > 0) {
      lines.push(`${pad}note right of ${id}`);
      for (const line of noteLines) lines.push(`${pad}${indentUnit}${mermaidText(line)}`);
      lines.push(`${pad}end note`);
    }
  };
  emitBlock(graph.id, 1);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------- live view

interface SnapshotWithChildren {
  status?: unknown;
  children?: Record<string, AnyActorRef | undefined>;
}

/**
 * The current state of every actor in a tree: the root, then its children (spawned and invoked) recursively,
 * in the order the parent holds them. Machine actors report their machine id and state value; other actors
 * (callbacks, promises) their status. Safe to call at any time; it only reads snapshots.
 */
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

export function describeActors(root: AnyActorRef): ActorDescription {
  const describe = (actor: AnyActorRef, seen: Set<AnyActorRef>): ActorDescription => {
    seen.add(actor);
    const snapshot: unknown = actor.getSnapshot();
    const { status, children } = (snapshot ?? {}) as SnapshotWithChildren;
    const description: ActorDescription = {
      id: actor.id,
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
