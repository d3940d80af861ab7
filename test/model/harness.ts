/**
 * Model-based testing harness: generates paths through any XState machine with @xstate/graph, replays them
 * against live actors, and measures coverage of the statechart (states, transitions and guard outcomes).
 *
 * A suite for a machine is a {@link ModelSpec}: the machine, one or more scenarios (an input and the
 * representative events to try: each guard made true and false), and an abstraction of its snapshots when the
 * context could grow without bound. From it the harness generates, with @xstate/graph:
 *
 * - `shortest`: `getShortestPaths` — the shortest path to every (abstract) state;
 * - `transition`: `getShortestPaths` over (state, event, next state) triples — the shortest path that ends with
 *   each transition of the state graph, self-loops and unguarded fall-throughs included (the same
 *   serialisation trick @xstate/graph's own `createTestModel` uses to cover transitions);
 * - `simple`: every simple path (no state twice) up to a depth, enumerated over @xstate/graph's
 *   `getAdjacencyMap` (`getSimplePaths` enumerates them all, unbounded, which explodes on a dense graph).
 *
 * Level (a) replays every path against `createActor(machine.provide(fakes))` on XState's `SimulatedClock` and
 * checks, after each step, that the live actor is in the state the model predicted. Coverage is measured from
 * what the live actors did (the transitions of each `@xstate.microstep`), against the transitions enumerated from
 * the definition by `toGraph`.
 */
import { getAdjacencyMap, getShortestPaths, type StatePath } from '@xstate/graph';
import {
  __unsafe_getAllOwnEventDescriptors,
  createActor,
  fromCallback,
  SimulatedClock,
  StateMachine,
  type Actor,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type InspectionEvent,
} from 'xstate';
import { edgeIdsOf, stateNodeIdsOf, toGraph, type GraphEdge } from '../../src/inspect/graph.js';

/** A path through a model. `steps[0]` is the initial state (event `xstate.init`); each later step holds the event
 * taken and the state it led to. */
export type ModelPath = StatePath<AnyMachineSnapshot, AnyEventObject>;

/** Where a path came from. */
export type PathKind = 'shortest' | 'transition' | 'simple';

/** A generated path with its scenario and a readable name. */
export interface GeneratedPath {
  scenario: Scenario;
  /** The generators that produced this path (one path can be, say, both a shortest and a transition path). */
  kinds: PathKind[];
  path: ModelPath;
  /** `init → ASSIGN → FINISH(ok) …`. */
  name: string;
}

/** One starting point of a model: an input and the events to try. */
export interface Scenario {
  name: string;
  input: unknown;
  /**
   * Representative events (or a function of the state giving them). For each event type a state has a transition
   * for, these variants are tried; a type with no variant listed is tried as `{ type }` (that is how delayed
   * `xstate.after.*` events are explored), as @xstate/graph does by default.
   */
  events: AnyEventObject[] | ((snapshot: AnyMachineSnapshot) => AnyEventObject[]);
  /** Also try every variant in states with no transition for it (late or stray events must change nothing). */
  unhandled?: boolean;
  /** Try only the listed variants: a handled type with none listed now is not tried (delayed events still are). */
  onlyListed?: boolean;
}

/** A machine under test and how to explore it. */
export interface ModelSpec {
  name: string;
  machine: AnyStateMachine;
  scenarios: Scenario[];
  /** What identifies a model state; must take finitely many values. Default: state value and whole context. */
  abstract?: (snapshot: AnyMachineSnapshot) => unknown;
  /** A short label for an event (path names, transition keys). Default: the type and its payload. */
  eventLabel?: (event: AnyEventObject) => string;
  /**
   * A coarser view of a state, for a machine whose exact state graph is large: then one shortest path is kept per
   * coarse state, and one transition path per (coarse state, event type, coarse next state). The exact graph is
   * still what the paths are generated from and what replays are checked against.
   */
  coverageKey?: (snapshot: AnyMachineSnapshot) => unknown;
  /**
   * Wraps the traversed logic (after {@link traversable}); e.g. to let each event be followed by the reports it
   * inevitably causes, so paths contain only events a caller can cause.
   */
  wrapModel?: (model: AnyStateMachine) => AnyStateMachine;
  /** Most states @xstate/graph may visit while building the state graph (default 50,000). */
  traversalLimit?: number;
  /** Longest simple path (steps after init). Default 6; 0 skips simple paths. */
  simpleDepth?: number;
  /** Most simple paths kept per scenario, spread evenly over all of them. Default 200. */
  maxSimplePaths?: number;
  /** Implementations for level (a): fake actors, delays. */
  implementations?: Record<string, unknown>;
  /** Drives one event in level (a); return false to fall back to the default (send it, or advance the clock). */
  apply?: (run: PureRun, event: AnyEventObject) => boolean;
  /** Extra checks after each replayed step in level (a). */
  check?: (run: PureRun, event: AnyEventObject, expected: AnyMachineSnapshot, previous: AnyMachineSnapshot) => void;
}

/** A live level-(a) run. */
export interface PureRun {
  actor: Actor<AnyStateMachine>;
  /** The recording parent (the root of the actor system). */
  parent: AnyActorRef;
  clock: SimulatedClock;
  /** Events the actor sent to its parent. */
  sentToParent: AnyEventObject[];
  machine: AnyStateMachine;
}

/** Coverage of one machine. */
export class Coverage {
  readonly states: string[];
  readonly edges: GraphEdge[];
  readonly statesHit = new Set<string>();
  readonly edgesHit = new Set<string>();
  /** Guard name → outcomes seen. */
  readonly guards = new Map<string, Set<boolean>>();
  /** Paths replayed, by the first generator that produced them. */
  readonly paths = new Map<string, number>();

  /** Explanations for transitions that are known not to be reachable this way (edge id → why). */
  readonly excused = new Map<string, string>();

  constructor(
    readonly name: string,
    readonly machine: AnyStateMachine,
    options: { guards?: boolean } = {},
  ) {
    const graph = toGraph(machine);
    this.states = graph.nodes.filter((node) => node.parent !== undefined).map((node) => node.id);
    this.edges = graph.edges;
    if (options.guards ?? true) for (const name of guardNames(machine)) this.guards.set(name, new Set());
  }

  /** Marks a transition (by `describeEdge` text) as not coverable here, with the reason; returns its edge ids. */
  excuse(description: string, reason: string): void {
    const edges = this.edges.filter((edge) => describeEdge(edge) === description);
    if (edges.length === 0) throw new Error(`no transition ${description} in ${this.machine.id}`);
    for (const edge of edges) this.excused.set(edge.id, reason);
  }

  /** Transitions neither covered nor excused. */
  unexplained(): GraphEdge[] {
    return this.missingTransitions().filter((edge) => !this.excused.has(edge.id));
  }

  /** Transitions grouped by definition (one per transition, not per target). */
  get transitionIds(): string[] {
    return [...new Set(this.edges.map((edge) => edge.id.slice(0, edge.id.lastIndexOf(':'))))];
  }

  get transitionsHit(): string[] {
    return this.transitionIds.filter((id) =>
      this.edges.some((e) => e.id.startsWith(`${id}:`) && this.edgesHit.has(e.id)),
    );
  }

  missingStates(): string[] {
    return this.states.filter((id) => !this.statesHit.has(id));
  }

  missingTransitions(): GraphEdge[] {
    return this.edges.filter((edge) => !this.edgesHit.has(edge.id));
  }

  missingGuardOutcomes(): string[] {
    const missing: string[] = [];
    for (const [name, seen] of this.guards) {
      if (!seen.has(true)) missing.push(`${name}=true`);
      if (!seen.has(false)) missing.push(`${name}=false`);
    }
    return missing;
  }

  countPath(kind: string): void {
    this.paths.set(kind, (this.paths.get(kind) ?? 0) + 1);
  }

  /** A printable summary. */
  report(extra: string[] = []): string {
    const pct = (a: number, b: number) => (b === 0 ? '100.0' : ((100 * a) / b).toFixed(1));
    const hitStates = this.states.length - this.missingStates().length;
    const hitEdges = this.edges.length - this.missingTransitions().length;
    const guardOutcomes = this.guards.size * 2;
    const hitGuards = guardOutcomes - this.missingGuardOutcomes().length;
    const lines = [
      `[model coverage] ${this.name}`,
      `  paths replayed: ${[...this.paths].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`,
      `  states:      ${hitStates}/${this.states.length} (${pct(hitStates, this.states.length)} %)`,
      `  transitions: ${hitEdges}/${this.edges.length} (${pct(hitEdges, this.edges.length)} %)`,
    ];
    if (guardOutcomes > 0) {
      lines.push(
        `  guard outcomes (true and false): ${hitGuards}/${guardOutcomes} (${pct(hitGuards, guardOutcomes)} %)`,
      );
    }
    const missing = [
      ...this.missingStates().map((id) => `state ${id}`),
      ...this.unexplained().map((e) => `transition ${describeEdge(e)}`),
      ...this.missingGuardOutcomes().map((g) => `guard ${g}`),
    ];
    if (missing.length > 0) lines.push(`  not covered: ${missing.join('; ')}`);
    const excused = this.missingTransitions().filter((edge) => this.excused.has(edge.id));
    if (excused.length > 0) {
      lines.push('  covered at level (a) only:');
      for (const edge of excused) lines.push(`    ${describeEdge(edge)}: ${this.excused.get(edge.id)}`);
    }
    return [...lines, ...extra.map((line) => `  ${line}`)].join('\n');
  }
}

/** `source --label [guard]--> target`. */
export function describeEdge(edge: GraphEdge): string {
  const guard = edge.guard ? ` [${edge.guard}]` : '';
  return `${edge.source} --${edge.label}${guard}--> ${edge.targetless ? '(stays)' : edge.target}`;
}

function guardNames(machine: AnyStateMachine): string[] {
  const guards = (machine.implementations.guards ?? {}) as Record<string, unknown>;
  return Object.keys(guards).filter((name) => {
    const guard = guards[name];
    return typeof guard === 'function' && !('check' in guard);
  });
}

// ---------------------------------------------------------------------------------------------------- generation

/**
 * The machine as @xstate/graph traverses it, with a parent and a `self` that answers `getSnapshot()` with the
 * snapshot being transitioned (as a live actor does while it processes an event). The pure traversal resolves
 * `sendParent` actions (without running them), which needs a parent to exist; nothing is ever delivered to it.
 */
export function traversable<T extends AnyStateMachine>(machine: T): T {
  const sink = createActor(fromCallback(() => {}));
  const base = createActor(
    fromCallback(() => {}),
    { parent: sink },
  );
  let current: AnyMachineSnapshot | undefined;
  // The traversal branches from every state, so the same child (say `slot-0`, with its `systemId`) is spawned
  // many times: a system that keeps no registry lets each spawn go through (a real one refuses a second
  // actor with the same system id).
  const system = Object.create(base.system, { _set: { value: () => {} }, get: { value: () => undefined } });
  const self = Object.create(base, { getSnapshot: { value: () => current }, system: { value: system } }) as AnyActorRef;
  const logic = Object.create(machine) as T;
  type Scope = Parameters<T['transition']>[2];
  logic.transition = ((snapshot: AnyMachineSnapshot, event: AnyEventObject, scope: Scope) => {
    current = snapshot;
    return machine.transition(snapshot, event, { ...scope, self });
  }) as T['transition'];
  logic.getInitialSnapshot = ((scope: Scope, input: unknown) => {
    current = undefined;
    return machine.getInitialSnapshot({ ...scope, self }, input);
  }) as T['getInitialSnapshot'];
  return logic;
}

/** The default event label: `TYPE` or `TYPE {payload}`; delayed events as `after <delay>`. */
export function defaultEventLabel(event: AnyEventObject): string {
  if (event.type.startsWith('xstate.after.')) return `after ${event.type.split('.')[2]}`;
  const { type, ...payload } = event;
  return Object.keys(payload).length === 0 ? type : `${type} ${JSON.stringify(payload)}`;
}

function keyOf(spec: ModelSpec): (snapshot: AnyMachineSnapshot) => string {
  const abstract = spec.abstract ?? ((s: AnyMachineSnapshot) => ({ value: s.value, context: s.context }));
  return (snapshot) => JSON.stringify(abstract(snapshot));
}

function pathName(spec: ModelSpec, path: ModelPath): string {
  const label = spec.eventLabel ?? defaultEventLabel;
  const events = path.steps.slice(1).map((step) => label(step.event));
  return ['init', ...events].join(' → ');
}

/**
 * Drops paths whose events are a prefix of (or equal to) another path's of the same scenario: replaying the longer
 * one checks every state of the shorter one on the way.
 */
export function dropPrefixes(paths: GeneratedPath[], label: (e: AnyEventObject) => string): GeneratedPath[] {
  const seqs = paths.map((p) => p.path.steps.slice(1).map((s) => label(s.event)));
  return paths.filter(
    (path, i) =>
      !seqs.some(
        (other, j) =>
          j !== i &&
          paths[j].scenario === path.scenario &&
          other.length >= seqs[i].length &&
          seqs[i].every((e, k) => e === other[k]) &&
          (other.length > seqs[i].length || j < i),
      ),
  );
}

/** The events to try in a state: the scenario's variants for the types the state handles (or all, if asked). */
function eventsOf(scenario: Scenario): (snapshot: AnyMachineSnapshot) => AnyEventObject[] {
  return (snapshot) => {
    const variants = typeof scenario.events === 'function' ? scenario.events(snapshot) : scenario.events;
    const descriptors = __unsafe_getAllOwnEventDescriptors(snapshot);
    const handled = descriptors.filter((type) => !type.includes('*'));
    const events = handled.flatMap((type) => {
      const matching = variants.filter((event) => event.type === type);
      if (matching.length > 0) return matching;
      return scenario.onlyListed && !type.startsWith('xstate.after.') ? [] : [{ type }];
    });
    // A partial wildcard (`xstate.done.actor.*`) is tried with the listed variants it matches.
    const prefixes = descriptors.filter((type) => type.endsWith('.*')).map((type) => type.slice(0, -1));
    for (const event of variants) {
      if (!handled.includes(event.type) && prefixes.some((prefix) => event.type.startsWith(prefix))) events.push(event);
    }
    if (scenario.unhandled) {
      for (const event of variants) if (!events.includes(event) && !handled.includes(event.type)) events.push(event);
    }
    return events;
  };
}

/**
 * Every simple path of at most `depth` steps through the state graph @xstate/graph builds (`getAdjacencyMap`),
 * in depth-first order, then `max` of them spread evenly (so long and short ones, and every first event, stay).
 */
function boundedSimplePaths(
  model: AnyStateMachine,
  options: { input: unknown; events: (snapshot: AnyMachineSnapshot) => AnyEventObject[]; limit: number },
  key: (snapshot: AnyMachineSnapshot) => string,
  depth: number,
  max: number,
): ModelPath[] {
  const adjacency = getAdjacencyMap(model, { ...options, serializeState: (s) => key(s as AnyMachineSnapshot) });
  // The traversal starts at the initial state: the first entry of the map.
  const initial = Object.values(adjacency)[0].state as AnyMachineSnapshot;
  const found: ModelPath[] = [];
  const LIMIT = 50_000;
  const steps: ModelPath['steps'] = [{ state: initial, event: { type: 'xstate.init' } }];
  const onPath = new Set<string>([key(initial)]);
  const visit = (serialized: string) => {
    if (found.length >= LIMIT) return;
    const entry = adjacency[serialized as keyof typeof adjacency];
    if (!entry) return;
    for (const { event, state } of Object.values(entry.transitions)) {
      const next = key(state as AnyMachineSnapshot);
      if (onPath.has(next)) continue;
      steps.push({ state: state as AnyMachineSnapshot, event });
      found.push({ state: state as AnyMachineSnapshot, steps: [...steps], weight: steps.length - 1 });
      if (steps.length - 1 < depth) {
        onPath.add(next);
        visit(next);
        onPath.delete(next);
      }
      steps.pop();
    }
  };
  visit(key(initial));
  if (found.length <= max) return found;
  const stride = found.length / max;
  return Array.from({ length: max }, (_, i) => found[Math.floor(i * stride)]);
}

/**
 * Picks few paths that together take every edge of the model's state graph that `paths` take (a self-loop counts
 * once per event, whatever the state): longest first, a path is kept when it takes an edge no kept path takes.
 * Used to keep the real-pool replays short.
 */
export function coverEdges(spec: ModelSpec, paths: GeneratedPath[]): GeneratedPath[] {
  const key = keyOf(spec);
  const label = spec.eventLabel ?? defaultEventLabel;
  const edgesOf = (p: GeneratedPath) =>
    p.path.steps.slice(1).map((step, i) => {
      const from = key(p.path.steps[i].state);
      const to = key(step.state);
      return from === to ? `loop ${label(step.event)}` : `${from} --${label(step.event)}--> ${to}`;
    });
  const taken = new Set<string>();
  const kept: GeneratedPath[] = [];
  const ordered = [...paths].sort((a, b) => b.path.steps.length - a.path.steps.length);
  for (const p of ordered) {
    const edges = edgesOf(p);
    if (edges.every((edge) => taken.has(edge))) continue;
    for (const edge of edges) taken.add(edge);
    kept.push(p);
  }
  // Replay in generation order (shorter, simpler paths first).
  return paths.filter((p) => kept.includes(p));
}

/** With a `coverageKey`, keeps the shortest path per coarse state (or per coarse edge taken last). */
function thin(paths: ModelPath[], spec: ModelSpec, by: 'state' | 'edge'): ModelPath[] {
  if (!spec.coverageKey) return paths;
  const coarse = (s: AnyMachineSnapshot) => JSON.stringify(spec.coverageKey?.(s));
  const best = new Map<string, ModelPath>();
  for (const path of paths) {
    const steps = path.steps;
    const last = steps[steps.length - 1];
    const id =
      by === 'state' || steps.length < 2
        ? coarse(last.state)
        : `${coarse(steps[steps.length - 2].state)} --${last.event.type}--> ${coarse(last.state)}`;
    const known = best.get(id);
    if (!known || known.steps.length > steps.length) best.set(id, path);
  }
  return paths.filter((path) => [...best.values()].includes(path));
}

/** Generates the shortest, transition and (bounded) simple paths of every scenario. */
export function generatePaths(spec: ModelSpec): GeneratedPath[] {
  const model = spec.wrapModel ? spec.wrapModel(traversable(spec.machine)) : traversable(spec.machine);
  const key = keyOf(spec);
  const label = spec.eventLabel ?? defaultEventLabel;
  const out: GeneratedPath[] = [];
  for (const scenario of spec.scenarios) {
    // The limit turns a state graph that never ends (an abstraction that misses a growing counter) into an error.
    const base = { input: scenario.input, events: eventsOf(scenario), limit: spec.traversalLimit ?? 50_000 };
    const add = (kind: PathKind, paths: ModelPath[]) => {
      for (const path of paths) out.push({ scenario, kinds: [kind], path, name: pathName(spec, path) });
    };
    add('shortest', thin(getShortestPaths(model, { ...base, serializeState: (s) => key(s) }), spec, 'state'));
    add(
      'transition',
      thin(
        getShortestPaths(model, {
          ...base,
          serializeState: (s, event, previous) =>
            event && previous ? `${key(previous)} --${label(event)}--> ${key(s)}` : key(s),
        }),
        spec,
        'edge',
      ),
    );
    const depth = spec.simpleDepth ?? 6;
    if (depth > 0) add('simple', boundedSimplePaths(model, base, key, depth, spec.maxSimplePaths ?? 200));
  }
  // One path per scenario and event sequence.
  const byId = new Map<string, GeneratedPath>();
  for (const p of out) {
    const id = `${p.scenario.name}|${p.name}`;
    const known = byId.get(id);
    if (!known) byId.set(id, p);
    else if (!known.kinds.includes(p.kinds[0])) known.kinds.push(p.kinds[0]);
  }
  return [...byId.values()];
}

// ---------------------------------------------------------------------------------------------------- level (a)

/** The delay (ms) of a delayed event `xstate.after.<delay>.<state id>`, resolved against the live snapshot. */
export function delayOf(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, eventType: string): number {
  const nodes: AnyStateNode[] = [];
  const collect = (node: AnyStateNode) => {
    nodes.push(node);
    for (const child of Object.values(node.states) as AnyStateNode[]) collect(child);
  };
  collect(machine.root);
  for (const node of nodes) {
    const transition = node.after.find((t) => t.eventType === eventType);
    if (!transition) continue;
    const delay = (transition as { delay?: unknown }).delay;
    if (typeof delay === 'number') return delay;
    const configured = (machine.implementations.delays as Record<string, unknown>)[String(delay)];
    if (typeof configured === 'number') return configured;
    if (typeof configured === 'function') {
      return (configured as (args: { context: unknown; event: AnyEventObject }) => number)({
        context: snapshot.context,
        event: { type: eventType },
      });
    }
  }
  throw new Error(`no delayed transition for ${eventType}`);
}

/** Wraps the named guards so their outcomes are recorded. */
function instrumentGuards(machine: AnyStateMachine, coverage: Coverage): AnyStateMachine {
  const guards = (machine.implementations.guards ?? {}) as Record<string, unknown>;
  const wrapped: Record<string, unknown> = {};
  for (const name of guardNames(machine)) {
    const guard = guards[name] as (...args: unknown[]) => boolean;
    wrapped[name] = (...args: unknown[]) => {
      const result = Boolean(guard(...args));
      coverage.guards.get(name)?.add(result);
      return result;
    };
  }
  return machine.provide({ guards: wrapped } as Parameters<AnyStateMachine['provide']>[0]);
}

/**
 * An inspection observer recording what live actors did (the states they entered and the transitions they took)
 * for the actors `match` picks. Attach it to any actor system, e.g. the Pool builder's `.inspect(...)`.
 *
 * A transient state (one left at once by an `always` transition, like the initial `start` of a task) is never
 * the state of a snapshot: it counts as reached when a transition leaves it. That includes the eventless
 * transitions taken while an actor is created (its initial macrostep), which XState reports before the actor
 * has a snapshot, so `match` must recognise an actor under construction too (see {@link actorsOf}).
 */
export function recordCoverage(coverage: Coverage, match: (actorRef: AnyActorRef) => boolean) {
  return (event: InspectionEvent): void => {
    if (event.type !== '@xstate.microstep' || !match(event.actorRef as AnyActorRef)) return;
    for (const transition of event._transitions) {
      for (const id of edgeIdsOf(transition)) coverage.edgesHit.add(id);
      // The source was reached (with its ancestors), even if no snapshot ever rested there.
      for (let node: AnyStateNode | undefined = transition.source; node?.parent; node = node.parent) {
        coverage.statesHit.add(node.id);
      }
    }
    const snapshot = event.snapshot as AnyMachineSnapshot;
    for (const id of stateNodeIdsOf(coverage.machine, snapshot.value)) coverage.statesHit.add(id);
  };
}

/** The logic an actor runs (the machine, for a machine actor); set before the actor has a snapshot. */
function logicOf(actorRef: AnyActorRef): unknown {
  return (actorRef as { logic?: unknown }).logic;
}

/** Starts the machine (with the spec's fakes and instrumented guards) as a live actor under a recording parent. */
export function startPure(spec: ModelSpec, scenario: Scenario, coverage: Coverage): PureRun {
  const provided = spec.implementations
    ? spec.machine.provide(spec.implementations as Parameters<AnyStateMachine['provide']>[0])
    : spec.machine;
  const machine = instrumentGuards(provided, coverage);
  const clock = new SimulatedClock();
  const sentToParent: AnyEventObject[] = [];
  // Read by the inspector before it is assigned (during `createActor`), so a `let`, not a `const` in its TDZ.
  // eslint-disable-next-line prefer-const
  let actor: Actor<AnyStateMachine> | undefined;
  // The parent is the system's root: the child joins its system, so the clock and the inspector are its.
  const parent = createActor(
    fromCallback<AnyEventObject>(({ receive }) => {
      receive((event) => sentToParent.push(event));
    }),
    // Matched by its logic, not by `ref === actor`: the initial macrostep (a transient initial state's `always`
    // transitions) is reported while `createActor` is still running.
    { clock, inspect: recordCoverage(coverage, (ref) => ref === actor || logicOf(ref) === machine) },
  );
  parent.start();
  actor = createActor(machine, { input: scenario.input, parent });
  actor.start();
  for (const id of stateNodeIdsOf(spec.machine, actor.getSnapshot().value)) coverage.statesHit.add(id);
  return { actor, parent, clock, sentToParent, machine };
}

/** Replays a path against a live actor; throws at the first step where the actor and the model disagree. */
export function replayPure(spec: ModelSpec, generated: GeneratedPath, coverage: Coverage): void {
  const key = keyOf(spec);
  const label = spec.eventLabel ?? defaultEventLabel;
  const run = startPure(spec, generated.scenario, coverage);
  try {
    const [initial, ...steps] = generated.path.steps;
    expectSame(key(run.actor.getSnapshot()), key(initial.state), 'init', run.actor.getSnapshot());
    for (const [index, step] of steps.entries()) {
      if (!spec.apply?.(run, step.event)) {
        if (step.event.type.startsWith('xstate.after.')) {
          run.clock.increment(delayOf(run.machine, run.actor.getSnapshot(), step.event.type));
        } else if (run.actor.getSnapshot().status === 'active') {
          run.actor.send(step.event);
        } else {
          // A late event for a finished actor: XState drops it (and warns, which is noise here).
          quietly(() => run.actor.send(step.event));
        }
      }
      const snapshot = run.actor.getSnapshot();
      const where = `step ${index + 1} (${label(step.event)})`;
      if (snapshot.status === 'error') throw new Error(`${where}: the actor failed: ${String(snapshot.error)}`);
      expectSame(JSON.stringify(snapshot.value), JSON.stringify(step.state.value), where, snapshot);
      expectSame(key(snapshot), key(step.state), where, snapshot);
      spec.check?.(run, step.event, step.state, (index === 0 ? initial : steps[index - 1]).state);
    }
    coverage.countPath(generated.kinds[0]);
  } finally {
    // A child cannot be stopped directly; stopping the root ends the system (the simulated clock never fires).
    run.parent.stop();
  }
}

function quietly(action: () => void): void {
  const warn = console.warn;
  console.warn = () => {};
  try {
    action();
  } finally {
    console.warn = warn;
  }
}

function expectSame(actual: string, expected: string, where: string, _snapshot: AnyMachineSnapshot): void {
  if (actual !== expected) {
    throw new Error(`${where}: the live actor is not where the model is.\n  model: ${expected}\n  actor: ${actual}`);
  }
}

/**
 * Matches the actors of one machine (by machine id) in an actor system, also while they are being created (before
 * they have a snapshot), so the transitions of their initial macrostep are recorded.
 */
export function actorsOf(machineId: string): (actorRef: AnyActorRef) => boolean {
  return (actorRef) => {
    // Not `getSnapshot()`: XState's development build throws while the actor initialises itself.
    const logic = logicOf(actorRef);
    return logic instanceof StateMachine && logic.id === machineId;
  };
}
