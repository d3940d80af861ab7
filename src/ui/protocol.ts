/**
 * What the pool's web page receives: the laid-out statecharts, the pool's state in full on connect and in
 * deltas afterwards, and pool events. Shared by the server (`src/ui/`) and the page (`ui/`); types only.
 */

/** One state node of a laid-out chart, with absolute coordinates. */
export interface ChartNode {
  /** The state node id, e.g. `slot.busy.working`. */
  id: string;
  /** The key within its parent (`working`). */
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  parent?: string;
  /** True for the initial child of its parent. */
  initial: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One transition of a laid-out chart: a polyline from source to target. */
export interface ChartEdge {
  id: string;
  source: string;
  target: string;
  label: string;
  kind: 'event' | 'always' | 'after' | 'done' | 'error';
  guard?: string;
  /** The route, absolute coordinates; empty for targetless transitions (drawn as a note on the state). */
  points: { x: number; y: number }[];
  /** Where the label goes. */
  labelAt?: { x: number; y: number };
  targetless: boolean;
}

/** A machine drawn from its definition (`toGraph`) and laid out with ELK. */
export interface ChartLayout {
  /** The machine id: `pool`, `slot`, `task`, `chain`. */
  machine: string;
  width: number;
  height: number;
  nodes: ChartNode[];
  edges: ChartEdge[];
}

/** A slot as the page shows it. */
export interface UiSlot {
  id: string;
  state: string;
  /** The active state nodes of the slot's actor (`slot.busy`, `slot.busy.working`). */
  nodes: string[];
  currentTask?: string;
  sessionId?: string;
  costMicrodollars: number;
  restartCount: number;
  tasksCompleted: number;
  lastError?: string;
}

/** A task (or chain record) as the page shows it. */
export interface UiTask {
  id: string;
  kind: 'task' | 'chain';
  /** The prompt, shortened. */
  prompt: string;
  state: string;
  /** The active state nodes of the task's actor, or of its final state once the actor has ended. */
  nodes: string[];
  slotId?: string;
  tags: string[];
  reviewRequired: boolean;
  rejectionCount: number;
  maxRejections: number;
  createdAtMs: number;
  startedAtMs?: number;
  completedAtMs?: number;
  costMicrodollars?: number;
  sessionId?: string;
  success?: boolean;
  /** The result text, shortened. */
  output?: string;
}

/** A chain as the page shows it. */
export interface UiChain {
  id: string;
  status: string;
  nodes: string[];
  totalSteps: number;
  currentStep?: number;
  currentStepName?: string;
  steps: { name: string; success: boolean; costMicrodollars: number }[];
}

/** Spend and reservations at one moment. */
export interface BudgetPoint {
  atMs: number;
  spentMicrodollars: number;
  reservedMicrodollars: number;
}

/** The budget now. */
export interface UiBudget {
  limitMicrodollars?: number;
  spentMicrodollars: number;
  reservedMicrodollars: number;
}

/** The whole pool, sent on connect (`hello`). */
export interface UiFull {
  phase: string;
  /** The pool actor's active state nodes. */
  poolNodes: string[];
  slots: UiSlot[];
  tasks: UiTask[];
  chains: UiChain[];
  budget: UiBudget;
  budgetHistory: BudgetPoint[];
  /** Server clock when sent (Unix ms). */
  sentAtMs: number;
}

/** What changed since the last message (`delta`). */
export interface UiDelta {
  phase?: string;
  poolNodes?: string[];
  slots?: UiSlot[];
  removedSlots?: string[];
  tasks?: UiTask[];
  removedTasks?: string[];
  chains?: UiChain[];
  removedChains?: string[];
  budget?: UiBudget;
  budgetPoint?: BudgetPoint;
  sentAtMs: number;
}

/** One entry of an actor's history (`event` messages carry them live). */
export interface UiHistoryEntry {
  /** Increases by one per entry across the whole pool: a page merges kept and live entries by it. */
  seq: number;
  atMs: number;
  /** The actor the entry is about (task, chain or slot id). */
  actorId: string;
  /** `transition` (its state changed) or a pool event type (`task.started`, `review.approved`, …). */
  kind: string;
  /** For transitions: the active nodes before and after. */
  from?: string[];
  to?: string[];
  /** A short description. */
  detail?: string;
}

/** Streamed output of a task (`output` messages). */
export interface UiOutput {
  taskId: string;
  text: string;
  /** Characters of this task's output before this chunk. */
  offset: number;
}

/** `GET /ui/api/actors/:id`: what the server kept about one task or chain. */
export interface UiActorDetail {
  id: string;
  machine: 'task' | 'chain';
  history: UiHistoryEntry[];
  /** The last characters of the task's output (older ones may have been dropped). */
  output: string;
  /** Characters of output the task produced in all: `output` ends there. */
  outputEnd: number;
}
