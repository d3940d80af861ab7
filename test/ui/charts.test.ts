import { describe, expect, it } from 'vitest';
import { toGraph } from '../../src/inspect/graph.js';
import { poolCharts } from '../../src/ui/charts.js';
import { slotMachine } from '../../machines/slot.js';
import { activeNodes } from '../../src/ui/feed.js';

describe('the page statecharts', () => {
  it('lays out every state and routes every transition of the pool, slot, task and chain machines', async () => {
    const charts = await poolCharts();
    expect(charts.map((chart) => chart.machine)).toEqual(['pool', 'slot', 'task', 'chain']);
    for (const chart of charts) {
      expect(chart.width).toBeGreaterThan(0);
      for (const node of chart.nodes) {
        expect(node.width).toBeGreaterThan(0);
        expect(node.x + node.width).toBeLessThanOrEqual(chart.width + 1);
        expect(node.y + node.height).toBeLessThanOrEqual(chart.height + 1);
        if (node.parent) {
          const parent = chart.nodes.find((candidate) => candidate.id === node.parent);
          expect(parent, `${node.id} inside ${node.parent}`).toBeDefined();
          expect(node.x).toBeGreaterThanOrEqual(parent!.x);
          expect(node.y).toBeGreaterThanOrEqual(parent!.y);
        }
      }
      for (const edge of chart.edges)
        if (!edge.targetless) expect(edge.points.length, edge.id).toBeGreaterThanOrEqual(2);
    }
    const slot = charts.find((chart) => chart.machine === 'slot')!;
    const graph = toGraph(slotMachine);
    expect(slot.nodes.map((node) => node.id).sort()).toEqual(
      graph.nodes
        .filter((node) => node.parent !== undefined)
        .map((node) => node.id)
        .sort(),
    );
    expect(slot.edges.length).toBe(graph.edges.length);
  });

  it('names the active nodes of nested state values', () => {
    expect(activeNodes('slot', { busy: 'working' })).toEqual(['slot.busy', 'slot.busy.working']);
    expect(activeNodes('task', 'running')).toEqual(['task.running']);
  });
});
