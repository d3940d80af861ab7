import { taskRecord } from './support/records.js';
import { fileURLToPath } from 'node:url';
import { getStateNodes } from '@xstate/graph';
import { describe, expect, it } from 'vitest';
import { createActor, createMachine, fromCallback, type AnyStateNode } from 'xstate';
import { poolMachine } from '../machines/pool.js';
import { slotMachine, type AgentActorCommand, type AgentActorInput } from '../machines/slot.js';
import { completePoolConfig } from '../src/config.js';
import { describeActors } from '../src/inspect/describe.js';
import { toGraph, type GraphEdge } from '../src/inspect/graph.js';
import { mermaidStateIds, toMermaid } from '../src/inspect/mermaid.js';
import { loadMachines, renderDiagrams, staleDiagrams } from '../src/inspect/diagrams.js';

const DOCS_DIR = fileURLToPath(new URL('../docs/statecharts/', import.meta.url));
const machines = await loadMachines();

/** The label Mermaid shows for an edge. */
function edgeText(edge: GraphEdge): string {
  return edge.guard ? `${edge.label} [${edge.guard}]` : edge.label;
}

describe('machine discovery', () => {
  it('finds every statechart exported from machines/', () => {
    const ids = machines.map((entry) => entry.id);
    expect(ids).toEqual(expect.arrayContaining(['pool', 'slot', 'task']));
    for (const entry of machines) expect(entry.summary, `${entry.source} has a header comment`).not.toBe('');
  });
});

describe.each(machines.map((entry) => [entry.id, entry] as const))('%s machine', (_id, entry) => {
  const { machine } = entry;
  const graph = toGraph(machine);
  const mermaid = toMermaid(machine);
  const lines = mermaid.split('\n').map((line) => line.trim());
  const ids = mermaidStateIds(machine);

  it('toGraph has every state node and every transition of the definition', () => {
    const stateNodes = getStateNodes(machine.root);
    expect(graph.nodes.map((node) => node.id)).toEqual([machine.root.id, ...stateNodes.map((node) => node.id)]);
    const expected = [machine.root, ...stateNodes].reduce((count, node: AnyStateNode) => {
      const transitions = [...node.transitions.values()].flat();
      const always = node.always ?? [];
      return count + [...transitions, ...always].reduce((n, t) => n + Math.max(1, t.target?.length ?? 0), 0);
    }, 0);
    expect(graph.edges).toHaveLength(expected);
    expect(new Set(graph.edges.map((edge) => edge.id)).size).toBe(graph.edges.length);
    for (const edge of graph.edges) {
      expect(graph.nodes.some((node) => node.id === edge.source)).toBe(true);
      expect(graph.nodes.some((node) => node.id === edge.target)).toBe(true);
    }
  });

  it('toMermaid is a stateDiagram-v2 with balanced blocks and notes', () => {
    expect(lines[0]).toBe('stateDiagram-v2');
    let depth = 0;
    let inNote = false;
    for (const line of lines.slice(1)) {
      if (inNote) {
        if (line === 'end note') inNote = false;
        continue;
      }
      if (line.startsWith('note ') && !line.includes(' : ')) inNote = true;
      else if (line.endsWith('{')) depth += 1;
      else if (line === '}') depth -= 1;
      expect(depth, 'a block closes before it opens').toBeGreaterThanOrEqual(0);
      // Every statement is one Mermaid understands.
      expect(line).toMatch(
        /^$|^\[\*\] --> \w+$|^\w+ --> (\w+|\[\*\])( : .+)?$|^\w+$|^state \w+ \{$|^\}$|^--$|^state ".+" as \w+$|^note (right|left) of \w+$|^direction (LR|TB|RL|BT)$/,
      );
    }
    expect(depth).toBe(0);
    expect(inNote).toBe(false);
    expect(mermaid).toBe(toMermaid(machine)); // deterministic
  });

  it('toMermaid shows every state, initial and final state', () => {
    for (const node of graph.nodes) {
      if (node.parent === undefined) continue;
      const id = ids.get(node.id) as string;
      const declared =
        lines.includes(id) || lines.includes(`state ${id} {`) || lines.some((l) => l.endsWith(` as ${id}`));
      expect(declared, `state ${node.id} is declared as ${id}`).toBe(true);
      if (node.type === 'final') expect(lines).toContain(`${id} --> [*]`);
      if (node.initial) expect(lines).toContain(`[*] --> ${ids.get(node.initial)}`);
    }
    const rootInitial = graph.nodes[0].initial;
    if (rootInitial) expect(lines).toContain(`[*] --> ${ids.get(rootInitial)}`);
  });

  it('toMermaid shows every transition of toGraph with its event and guard', () => {
    for (const edge of graph.edges) {
      const text = edgeText(edge);
      if (edge.source === graph.id) {
        expect(
          lines.some((line) => line.startsWith(`in every state: ${text}`)),
          `root ${edge.id}`,
        ).toBe(true);
      } else if (edge.targetless) {
        expect(lines, `internal ${edge.id}`).toContain(`internal: ${text}`);
      } else {
        expect(lines, `edge ${edge.id}`).toContain(`${ids.get(edge.source)} --> ${ids.get(edge.target)} : ${text}`);
      }
    }
    for (const node of graph.nodes) {
      const where = node.parent === undefined ? 'in every state: ' : '';
      for (const name of node.invoke) expect(lines).toContain(`${where}invoke ${name}`);
    }
    if (entry.id === 'slot') {
      expect(lines).toContain('cancelling --> idle : after cancelGrace');
      expect(lines).toContain('working --> errored : AGENT.DONE [spawnFailed]');
    }
    if (entry.id === 'task') {
      expect(lines).toContain('running --> pendingReview : FINISH [needsReview]');
      expect(lines).toContain('requeued --> pending : always');
    }
  });
});

describe('toMermaid on other shapes', () => {
  it('draws parallel regions, history, duplicate keys and self-loops', () => {
    const machine = createMachine({
      id: 'shapes',
      initial: 'a',
      states: {
        a: {
          type: 'parallel',
          states: {
            left: { initial: 'on', states: { on: { on: { FLIP: 'off' } }, off: {} } },
            right: {
              initial: 'on',
              states: { on: { on: { TICK: { actions: () => {} } } }, hist: { type: 'history' } },
            },
          },
          on: { DONE: 'end' },
        },
        end: { type: 'final' },
      },
    });
    const text = toMermaid(machine, { internalTransitions: 'self-loop', direction: 'LR' });
    expect(text).toContain('direction LR');
    expect(text).toContain('  --');
    expect(text).toContain('state "on" as a_left_on');
    expect(text).toContain('a_left_on --> off : FLIP');
    expect(text).toContain('a_right_on --> a_right_on : TICK');
    expect(text).toContain('state "end" as s_end');
    expect(text).toContain('s_end --> [*]');
    expect(text).toContain('hist (history)');
  });
});

describe('describeActors', () => {
  it('reports the state of every actor in the pool tree', () => {
    const agent = fromCallback<AgentActorCommand, AgentActorInput>(() => () => {});
    const actor = createActor(poolMachine.provide({ actors: { slot: slotMachine.provide({ actors: { agent } }) } }), {
      input: {
        config: completePoolConfig({}),
        slots: [
          { id: 'slot-0', config: {} },
          { id: 'slot-1', config: {} },
        ],
        clock: () => 0,
      },
    });
    actor.start();
    actor.send({
      type: 'SUBMIT',
      record: taskRecord('task-1', { prompt: 'p', createdAtMs: 0 }),
    });
    const tree = describeActors(actor);
    expect(tree).toMatchObject({ machine: 'pool', value: 'running', status: 'active' });
    const byId = new Map(tree.children.map((child) => [child.id, child]));
    expect(byId.get('slot-0')).toMatchObject({
      machine: 'slot',
      src: 'slot',
      value: { busy: 'working' },
      children: [{ id: 'agent', src: 'agent', status: 'active', children: [] }],
    });
    // Every slot has its agent for its whole life, idle or not.
    expect(byId.get('slot-1')).toMatchObject({
      machine: 'slot',
      value: 'idle',
      children: [{ id: 'agent', src: 'agent', status: 'active', children: [] }],
    });
    expect(byId.get('task-1')).toMatchObject({ machine: 'task', value: { running: 'working' } });
    actor.stop();
  });
});

describe('generated diagrams', () => {
  it('docs/statecharts matches the machines (run npm run diagrams when this fails)', async () => {
    const stale = await staleDiagrams(DOCS_DIR);
    expect(
      stale,
      `docs/statecharts is out of date (${stale.join(', ')}): run npm run diagrams and commit the result`,
    ).toEqual([]);
  });

  it('each page has a heading, a paragraph, the diagram and the tables', async () => {
    const pages = await renderDiagrams();
    for (const entry of machines) {
      const page = pages.get(`${entry.id}.md`) as string;
      expect(page).toMatch(new RegExp(`^# ${entry.id[0].toUpperCase()}${entry.id.slice(1)} statechart$`, 'm'));
      expect(page).toContain(entry.summary);
      expect(page).toContain(`\`\`\`mermaid\n${toMermaid(entry.machine).trimEnd()}\n\`\`\``);
      expect(page).toContain('## States');
      expect(page).toContain('## Events');
    }
    expect(pages.get('README.md')).toContain('| [task](task.md) |');
  });
});
