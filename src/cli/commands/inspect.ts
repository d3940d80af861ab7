/**
 * `claude-pool inspect [machine]`: print a statechart as a Mermaid `stateDiagram-v2` (or its JSON graph).
 */
import type { AnyStateMachine } from 'xstate';
import { chainMachine } from '../../../machines/chain.js';
import { poolMachine } from '../../../machines/pool.js';
import { slotMachine } from '../../../machines/slot.js';
import { taskMachine } from '../../../machines/task.js';
import { toGraph } from '../../inspect/graph.js';
import { toMermaid } from '../../inspect/mermaid.js';
import { out, outJson } from '../common.js';
import { EXIT } from '../exit-codes.js';
import type { CliState } from '../program.js';
import { SettingsError } from '../settings.js';

/** The statecharts `inspect` knows, by name. */
export const MACHINES: Readonly<Record<string, AnyStateMachine>> = {
  pool: poolMachine,
  slot: slotMachine,
  task: taskMachine,
  chain: chainMachine,
};

const DIRECTIONS = ['LR', 'TB', 'RL', 'BT'] as const;

/** Runs `inspect`: lists the machines, or prints one as Mermaid (or its JSON graph with `json`). */
export function runInspect(
  state: CliState,
  machine: string | undefined,
  options: { json?: boolean; direction?: string },
): void {
  state.json = options.json === true;
  if (machine === undefined) {
    if (options.json) outJson({ machines: Object.keys(MACHINES) });
    else for (const name of Object.keys(MACHINES)) out(name);
    state.exitCode = EXIT.ok;
    return;
  }
  const definition = MACHINES[machine];
  if (!definition) {
    throw new SettingsError([`unknown machine '${machine}': expected one of ${Object.keys(MACHINES).join(', ')}`]);
  }
  if (options.direction !== undefined && !DIRECTIONS.includes(options.direction as (typeof DIRECTIONS)[number])) {
    throw new SettingsError([
      `--direction: expected one of ${DIRECTIONS.join(', ')}, got ${JSON.stringify(options.direction)}`,
    ]);
  }
  if (options.json) outJson(toGraph(definition));
  else
    out(
      toMermaid(definition, options.direction ? { direction: options.direction as (typeof DIRECTIONS)[number] } : {}),
    );
  state.exitCode = EXIT.ok;
}
