/**
 * A statechart drawn as SVG from its ELK layout: compound states as containers, transitions as routed arrows
 * with their event labels. Active states are highlighted; the last transition is animated (it is remounted
 * with a new key each time, which restarts its CSS animation); a count badge says how many live actors sit in
 * a state.
 */
import type { ChartEdge, ChartLayout } from '../../src/ui/protocol.ts';
import type { LastTransition } from './store.ts';

/** The edge a transition took: from an active node before to an active node after, deepest target first. */
export function firedEdge(chart: ChartLayout, transition: LastTransition | undefined): ChartEdge | undefined {
  if (!transition) return undefined;
  const from = new Set(transition.from);
  const to = new Set(transition.to);
  const candidates = chart.edges.filter((edge) => !edge.targetless && from.has(edge.source) && to.has(edge.target));
  candidates.sort((a, b) => b.target.length - a.target.length || b.source.length - a.source.length);
  return candidates[0];
}

function path(edge: ChartEdge): string {
  return edge.points
    .map((point, index) => `${index === 0 ? 'M' : 'L'}${point.x.toFixed(1)} ${point.y.toFixed(1)}`)
    .join(' ');
}

/** Props of {@link Chart}. */
export interface ChartProps {
  chart: ChartLayout;
  active: ReadonlySet<string>;
  counts?: ReadonlyMap<string, number>;
  transition?: LastTransition;
  /** Test and accessibility name: `task-1234` or the machine id. */
  label: string;
}

/** See the module comment. */
export function Chart({ chart, active, counts, transition, label }: ChartProps) {
  const fired = firedEdge(chart, transition);
  const depth = (id: string) => id.split('.').length;
  const nodes = [...chart.nodes].sort((a, b) => depth(a.id) - depth(b.id));
  const activeLeaves = chart.nodes.filter(
    (node) => active.has(node.id) && !chart.nodes.some((child) => child.parent === node.id && active.has(child.id)),
  );
  return (
    <svg
      class="chart"
      data-machine={chart.machine}
      data-label={label}
      data-active={activeLeaves.map((node) => node.id).join(' ')}
      viewBox={`0 0 ${chart.width} ${chart.height}`}
      style={{ maxWidth: `${chart.width}px`, minWidth: `${Math.round(chart.width * 0.75)}px` }}
      preserveAspectRatio="xMinYMin meet"
      role="img"
      aria-label={`${chart.machine} statechart of ${label}`}
    >
      <defs>
        <marker
          id={`arrow-${label}`}
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto-start-reverse"
        >
          <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
        </marker>
      </defs>
      {nodes.map((node) => {
        const compound = chart.nodes.some((child) => child.parent === node.id);
        const count = counts?.get(node.id) ?? 0;
        const classes = ['state', compound ? 'compound' : 'leaf', node.type, active.has(node.id) ? 'active' : ''].join(
          ' ',
        );
        return (
          <g key={node.id} class={classes} data-node-id={node.id}>
            <rect x={node.x} y={node.y} width={node.width} height={node.height} rx={compound ? 8 : 12} />
            {node.type === 'final' && (
              <rect
                class="final-ring"
                x={node.x + 3}
                y={node.y + 3}
                width={node.width - 6}
                height={node.height - 6}
                rx={9}
              />
            )}
            {node.initial && (
              <circle class="initial" cx={node.x - 4} cy={node.y + (compound ? 14 : node.height / 2)} r={3.5} />
            )}
            <text
              x={compound ? node.x + 10 : node.x + node.width / 2}
              y={compound ? node.y + 17 : node.y + node.height / 2 + 4}
              text-anchor={compound ? 'start' : 'middle'}
            >
              {node.key}
            </text>
            {count > 0 && (
              <g class="count">
                <circle cx={node.x + node.width - 2} cy={node.y + 2} r={9} />
                <text x={node.x + node.width - 2} y={node.y + 6} text-anchor="middle">
                  {count}
                </text>
              </g>
            )}
          </g>
        );
      })}
      {chart.edges
        .filter((edge) => !edge.targetless && edge.points.length >= 2)
        .map((edge) => (
          <g key={edge.id} class={`edge ${edge.kind}`} data-edge-id={edge.id}>
            <path d={path(edge)} marker-end={`url(#arrow-${label})`} />
            {edge.labelAt && (
              <text x={edge.labelAt.x} y={edge.labelAt.y}>
                {edge.label}
                {edge.guard ? ` [${edge.guard}]` : ''}
              </text>
            )}
          </g>
        ))}
      {fired && (
        <path key={`${fired.id}@${transition?.seq}`} class="fired" data-fired-edge={fired.id} d={path(fired)} />
      )}
    </svg>
  );
}
