/**
 * The pool's statecharts laid out for the page: each machine's graph from {@link toGraph} (drawn from the
 * machine definitions themselves), placed by ELK's layered algorithm (elkjs, the Eclipse Layout Kernel compiled
 * to JavaScript) with compound states as containers. Computed once per process and kept.
 */
import elkBundled from 'elkjs/lib/elk.bundled.js';
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { AnyStateMachine } from 'xstate';
import { chainMachine } from '../../machines/chain.js';
import { poolMachine } from '../../machines/pool.js';
import { slotMachine } from '../../machines/slot.js';
import { taskMachine } from '../../machines/task.js';
import { toGraph, type StatechartGraph } from '../inspect/graph.js';
import type { ChartEdge, ChartLayout, ChartNode } from './protocol.js';

const CHAR_WIDTH = 7.2;
const NODE_HEIGHT = 30;
const LABEL_HEIGHT = 14;

/** elkjs is CommonJS: its constructor is the module's default export (or the module itself). */
const ElkConstructor = ((elkBundled as unknown as { default?: unknown }).default ?? elkBundled) as new () => ELK;

function leafWidth(key: string): number {
  return Math.max(70, Math.round(key.length * CHAR_WIDTH + 28));
}

/** Lays out one machine graph. */
export async function layoutGraph(graph: StatechartGraph): Promise<ChartLayout> {
  const elk = new ElkConstructor();
  const root = graph.nodes.find((node) => node.parent === undefined);
  if (!root) throw new Error(`machine ${graph.id} has no root node`);
  const initials = new Set(graph.nodes.map((node) => node.initial).filter((id): id is string => id !== undefined));
  const childrenOf = new Map<string, string[]>();
  for (const node of graph.nodes) {
    if (node.parent === undefined) continue;
    childrenOf.set(node.parent, [...(childrenOf.get(node.parent) ?? []), node.id]);
  }
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const elkNode = (id: string): ElkNode => {
    const node = byId.get(id);
    const children = childrenOf.get(id) ?? [];
    if (children.length === 0) {
      return { id, width: leafWidth(node?.key ?? id), height: NODE_HEIGHT };
    }
    return {
      id,
      layoutOptions: { 'elk.padding': '[top=28,left=12,bottom=12,right=12]' },
      labels: [{ text: node?.key ?? id, width: leafWidth(node?.key ?? id), height: LABEL_HEIGHT }],
      children: children.map(elkNode),
    };
  };
  const routed = graph.edges.filter((edge) => !edge.targetless);
  const edges: ElkExtendedEdge[] = routed.map((edge) => ({
    id: edge.id,
    sources: [edge.source],
    targets: [edge.target],
    labels: [{ text: edge.label, width: Math.round(edge.label.length * 6.2 + 6), height: 12 }],
  }));
  const input: ElkNode = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.spacing.nodeNode': '22',
      'elk.spacing.edgeLabel': '2',
      'elk.edgeLabels.inline': 'false',
      'elk.json.edgeCoords': 'ROOT',
      'elk.json.shapeCoords': 'ROOT',
      'elk.padding': '[top=8,left=8,bottom=8,right=8]',
    },
    children: (childrenOf.get(root.id) ?? []).map(elkNode),
    edges,
  };
  const laid: ElkNode = await elk.layout(input);
  const nodes: ChartNode[] = [];
  const collect = (list: ElkNode[] | undefined) => {
    for (const item of list ?? []) {
      const node = byId.get(item.id);
      if (node) {
        nodes.push({
          id: node.id,
          key: node.key,
          type: node.type,
          ...(node.parent !== undefined && node.parent !== root.id ? { parent: node.parent } : {}),
          initial: initials.has(node.id),
          x: item.x ?? 0,
          y: item.y ?? 0,
          width: item.width ?? 0,
          height: item.height ?? 0,
        });
      }
      collect(item.children);
    }
  };
  collect(laid.children);
  const laidEdges = new Map<string, ElkExtendedEdge>();
  const collectEdges = (node: ElkNode) => {
    for (const edge of node.edges ?? []) laidEdges.set(edge.id, edge);
    for (const child of node.children ?? []) collectEdges(child);
  };
  collectEdges(laid);
  const chartEdges: ChartEdge[] = graph.edges.map((edge) => {
    const placed = laidEdges.get(edge.id);
    const section = placed?.sections?.[0];
    const points = section
      ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map(({ x, y }) => ({ x, y }))
      : [];
    const label = placed?.labels?.[0];
    return {
      id: edge.id,
      source: edge.source,
      target: edge.target,
      label: edge.label,
      kind: edge.kind,
      ...(edge.guard ? { guard: edge.guard } : {}),
      points,
      ...(label && label.x !== undefined && label.y !== undefined ? { labelAt: { x: label.x, y: label.y + 10 } } : {}),
      targetless: edge.targetless,
    };
  });
  return { machine: graph.id, width: laid.width ?? 0, height: laid.height ?? 0, nodes, edges: chartEdges };
}

/** The machines the page draws. */
export const UI_MACHINES: readonly AnyStateMachine[] = [poolMachine, slotMachine, taskMachine, chainMachine];

let cached: Promise<ChartLayout[]> | undefined;

/** The pool, slot, task and chain charts, laid out once per process. */
export function poolCharts(): Promise<ChartLayout[]> {
  cached ??= Promise.all(UI_MACHINES.map((machine) => layoutGraph(toGraph(machine)))).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
