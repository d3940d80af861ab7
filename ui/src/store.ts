/**
 * The page's state and its connection to the pool: one fetch-streamed SSE connection (so that the bearer token
 * can go in a header) that starts with `hello` (the whole pool) and goes on with deltas, history entries and
 * output. When the stream ends or fails the page reconnects with backoff and the next `hello` replaces
 * everything, so a page always catches up. Listeners are told at most once per animation frame.
 */
import { createParser } from 'eventsource-parser';
import type {
  BudgetPoint,
  ChartLayout,
  UiActorDetail,
  UiBudget,
  UiChain,
  UiDelta,
  UiFull,
  UiHistoryEntry,
  UiOutput,
  UiSlot,
  UiTask,
} from '../../src/ui/protocol.ts';

/** The state of the page's connection. */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

/** The last transition of an actor, for animating its edge. */
export interface LastTransition {
  from: string[];
  to: string[];
  seq: number;
}

/** The detail panel's data for one task or chain. */
export interface Detail {
  id: string;
  loaded: boolean;
  history: UiHistoryEntry[];
  output: string;
  outputEnd: number;
  error?: string;
}

/** Everything the page shows. */
export interface PageState {
  connection: ConnectionState;
  /** `hello`s received: 1 on first connect, more after reconnects. */
  connects: number;
  phase: string;
  poolNodes: string[];
  slots: Map<string, UiSlot>;
  tasks: Map<string, UiTask>;
  chains: Map<string, UiChain>;
  budget: UiBudget;
  budgetHistory: BudgetPoint[];
  charts: ChartLayout[];
  last: Map<string, LastTransition>;
  /** The most recent transition per machine (`slot`, `task`, …) with the actor that made it. */
  lastByMachine: Map<string, LastTransition & { actorId: string }>;
  selected?: string;
  detail?: Detail;
  error?: string;
}

/** Update latency and frame time figures, read by tests and shown in the footer. */
export interface PageMetrics {
  /** Server send → DOM updated, in ms, per applied delta (last 2000). */
  latencies: number[];
  /** Time between animation frames, in ms (last 2000). */
  frameGaps: number[];
  deltas: number;
}

const MAX_SAMPLES = 2000;
const BUDGET_POINTS = 2000;
/** Actors whose last transition is kept. */
const MAX_ACTORS = 2000;

function tokenFromLocation(): string | undefined {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
  return fragment.get('token') ?? undefined;
}

function machineOfNodes(nodes: readonly string[]): string | undefined {
  return nodes[0]?.split('.')[0];
}

/** The page's store; see the module comment. */
export class Store {
  state: PageState = {
    connection: 'connecting',
    connects: 0,
    phase: 'running',
    poolNodes: [],
    slots: new Map(),
    tasks: new Map(),
    chains: new Map(),
    budget: { spentMicrodollars: 0, reservedMicrodollars: 0 },
    budgetHistory: [],
    charts: [],
    last: new Map(),
    lastByMachine: new Map(),
  };
  readonly metrics: PageMetrics = { latencies: [], frameGaps: [], deltas: 0 };
  private readonly listeners = new Set<() => void>();
  private scheduled = false;
  private pendingSent: number[] = [];
  private readonly token = tokenFromLocation();
  private readonly base = new URL('api/', window.location.href.split('#')[0]).href;
  private detailBuffer: { history: UiHistoryEntry[]; output: UiOutput[] } | undefined;

  /** Listens for changes (called at most once per frame). */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called by the page once the DOM shows the state: closes the latency samples of the applied deltas. */
  rendered(): void {
    if (this.pendingSent.length === 0) return;
    const now = Date.now();
    for (const sent of this.pendingSent) this.sample(this.metrics.latencies, Math.max(0, now - sent));
    this.pendingSent = [];
  }

  /** Starts the connection and the frame-time probe. */
  start(): void {
    void this.loadCharts();
    void this.connectLoop();
    let previous = performance.now();
    const frame = (now: number) => {
      this.sample(this.metrics.frameGaps, now - previous);
      previous = now;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  /** Opens (or closes, with `undefined`) the detail panel of a task or chain. */
  select(id: string | undefined): void {
    this.state = {
      ...this.state,
      selected: id,
      detail: id ? { id, loaded: false, history: [], output: '', outputEnd: 0 } : undefined,
    };
    this.changed();
    if (id) void this.loadDetail(id);
  }

  /** Approves a task awaiting review. */
  approve(id: string): Promise<void> {
    return this.post(`tasks/${encodeURIComponent(id)}/approve`, {});
  }

  /** Rejects a task awaiting review with feedback. */
  reject(id: string, feedback: string): Promise<void> {
    return this.post(`tasks/${encodeURIComponent(id)}/reject`, { feedback });
  }

  private headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private async post(path: string, body: unknown): Promise<void> {
    const response = await fetch(this.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.headers() },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { detail?: string };
      this.state = { ...this.state, error: problem.detail ?? `${response.status} ${response.statusText}` };
      this.changed();
      throw new Error(this.state.error);
    }
    if (this.state.error) {
      this.state = { ...this.state, error: undefined };
      this.changed();
    }
  }

  private async loadCharts(): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const response = await fetch(`${this.base}charts`, { headers: this.headers() });
        if (!response.ok) throw new Error(`${response.status}`);
        // Read the body first: spreading `this.state` before an await would bring back a state that has moved on.
        const charts = (await response.json()) as ChartLayout[];
        this.state = { ...this.state, charts };
        this.changed();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * 2 ** attempt)));
      }
    }
  }

  private async loadDetail(id: string): Promise<void> {
    this.detailBuffer = { history: [], output: [] };
    try {
      const response = await fetch(`${this.base}actors/${encodeURIComponent(id)}`, { headers: this.headers() });
      if (this.state.selected !== id) return;
      if (!response.ok)
        throw new Error(response.status === 404 ? 'nothing kept about this actor' : `${response.status}`);
      const detail = (await response.json()) as UiActorDetail;
      const buffered = this.detailBuffer;
      this.detailBuffer = undefined;
      let history = detail.history;
      let output = detail.output;
      let outputEnd = detail.outputEnd;
      const lastSeq = history.at(-1)?.seq ?? 0;
      history = [...history, ...(buffered?.history ?? []).filter((entry) => entry.seq > lastSeq)];
      for (const chunk of buffered?.output ?? []) ({ output, outputEnd } = appendOutput(output, outputEnd, chunk));
      this.state = { ...this.state, detail: { id, loaded: true, history, output, outputEnd } };
    } catch (error) {
      this.detailBuffer = undefined;
      if (this.state.selected !== id) return;
      this.state = {
        ...this.state,
        detail: { id, loaded: true, history: [], output: '', outputEnd: 0, error: String(error) },
      };
    }
    this.changed();
  }

  private async connectLoop(): Promise<void> {
    for (let failures = 0; ;) {
      try {
        const controller = new AbortController();
        const response = await fetch(`${this.base}stream`, {
          headers: { accept: 'text/event-stream', ...this.headers() },
          cache: 'no-store',
          signal: controller.signal,
        });
        if (!response.ok || !response.body) throw new Error(`stream: ${response.status}`);
        const parser = createParser({
          onEvent: (message) => {
            this.onMessage(message.event ?? 'message', message.data);
            failures = 0;
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        // The stream failed: reconnect below.
      }
      failures += 1;
      this.state = { ...this.state, connection: 'reconnecting' };
      this.changed();
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** Math.min(failures, 5))));
    }
  }

  private onMessage(event: string, data: string): void {
    switch (event) {
      case 'hello':
        return this.onHello(JSON.parse(data) as UiFull);
      case 'delta':
        return this.onDelta(JSON.parse(data) as UiDelta);
      case 'event':
        return this.onEntry(JSON.parse(data) as UiHistoryEntry);
      case 'output':
        return this.onOutput(JSON.parse(data) as UiOutput);
      default:
        return;
    }
  }

  private onHello(full: UiFull): void {
    const byId = <T extends { id: string }>(list: T[]) => new Map(list.map((item) => [item.id, item]));
    this.state = {
      ...this.state,
      connection: 'live',
      connects: this.state.connects + 1,
      phase: full.phase,
      poolNodes: full.poolNodes,
      slots: byId(full.slots),
      tasks: byId(full.tasks),
      chains: byId(full.chains),
      budget: full.budget,
      budgetHistory: full.budgetHistory,
    };
    this.pendingSent.push(full.sentAtMs);
    // Catch up on the open detail panel: what happened while disconnected.
    if (this.state.selected) void this.loadDetail(this.state.selected);
    this.changed();
  }

  private onDelta(delta: UiDelta): void {
    const next: PageState = { ...this.state };
    const merge = <T extends { id: string }>(current: Map<string, T>, changed?: T[], removed?: string[]) => {
      if (!changed?.length && !removed?.length) return current;
      const copy = new Map(current);
      for (const item of changed ?? []) copy.set(item.id, item);
      for (const id of removed ?? []) copy.delete(id);
      return copy;
    };
    next.slots = merge(next.slots, delta.slots, delta.removedSlots);
    next.tasks = merge(next.tasks, delta.tasks, delta.removedTasks);
    next.chains = merge(next.chains, delta.chains, delta.removedChains);
    if (delta.phase !== undefined) next.phase = delta.phase;
    if (delta.poolNodes !== undefined) {
      if (this.state.poolNodes.length > 0) {
        const transition = { from: this.state.poolNodes, to: delta.poolNodes, seq: Date.now() };
        next.last = new Map(next.last).set('pool', transition);
        next.lastByMachine = new Map(next.lastByMachine).set('pool', { ...transition, actorId: 'pool' });
      }
      next.poolNodes = delta.poolNodes;
    }
    if (delta.budget) next.budget = delta.budget;
    if (delta.budgetPoint) {
      const points = [...next.budgetHistory, delta.budgetPoint];
      next.budgetHistory = points.length > BUDGET_POINTS ? points.slice(points.length - BUDGET_POINTS) : points;
    }
    this.state = next;
    this.metrics.deltas += 1;
    this.pendingSent.push(delta.sentAtMs);
    this.changed();
  }

  private onEntry(entry: UiHistoryEntry): void {
    if (entry.kind === 'transition' && entry.from && entry.to && entry.from.length > 0) {
      const transition = { from: entry.from, to: entry.to, seq: entry.seq };
      const machine = machineOfNodes(entry.to);
      const last = new Map(this.state.last);
      last.delete(entry.actorId);
      last.set(entry.actorId, transition);
      while (last.size > MAX_ACTORS) last.delete(last.keys().next().value as string);
      this.state = {
        ...this.state,
        last,
        ...(machine
          ? { lastByMachine: new Map(this.state.lastByMachine).set(machine, { ...transition, actorId: entry.actorId }) }
          : {}),
      };
      this.changed();
    }
    if (entry.actorId !== this.state.selected) return;
    if (this.detailBuffer) {
      this.detailBuffer.history.push(entry);
      return;
    }
    const detail = this.state.detail;
    if (!detail || !detail.loaded) return;
    if (detail.history.length > 0 && (detail.history.at(-1)?.seq ?? 0) >= entry.seq) return;
    this.state = { ...this.state, detail: { ...detail, history: [...detail.history, entry] } };
    this.changed();
  }

  private onOutput(chunk: UiOutput): void {
    if (chunk.taskId !== this.state.selected) return;
    if (this.detailBuffer) {
      this.detailBuffer.output.push(chunk);
      return;
    }
    const detail = this.state.detail;
    if (!detail || !detail.loaded) return;
    const { output, outputEnd } = appendOutput(detail.output, detail.outputEnd, chunk);
    this.state = { ...this.state, detail: { ...detail, output, outputEnd } };
    this.changed();
  }

  private sample(list: number[], value: number): void {
    list.push(value);
    if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}

const OUTPUT_CHARS = 64 * 1024;

/** Appends a live chunk to kept output, skipping what the kept output already has (by offset). */
export function appendOutput(output: string, end: number, chunk: UiOutput): { output: string; outputEnd: number } {
  const chunkEnd = chunk.offset + chunk.text.length;
  if (chunkEnd <= end) return { output, outputEnd: end };
  const fresh = chunk.text.slice(Math.max(0, end - chunk.offset));
  const text = output + fresh;
  return { output: text.length > OUTPUT_CHARS ? text.slice(text.length - OUTPUT_CHARS) : text, outputEnd: chunkEnd };
}
