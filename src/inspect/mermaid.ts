/**
 * A statechart as a Mermaid `stateDiagram-v2` (renders on GitHub): {@link toMermaid}.
 */
import type { AnyStateMachine } from 'xstate';
import { toGraph, type GraphEdge, type GraphNode, type StatechartGraph } from './graph.js';

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
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/;/g, ',')
    .replace(/#/g, '');
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
  // Actors the root invokes live as long as the machine: noted like the root's transitions.
  if (showInvokes && rootNode && noteHolder !== undefined) {
    for (const name of rootNode.invoke) addNote(noteHolder, `in every state: invoke ${name}`);
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
