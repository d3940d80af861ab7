/**
 * The pool's live page: slots, reviews, statecharts, queue, timeline, chains, tasks and budget, with a detail
 * panel for one task or chain (its own chart, history and output). State comes from {@link Store}.
 */
import { render } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useState } from 'preact/hooks';
import type { ChartLayout, UiChain, UiSlot, UiTask } from '../../src/ui/protocol.ts';
import { Chart } from './chart.tsx';
import { Store, type PageState } from './store.ts';
import './style.css';

const store = new Store();
declare global {
  interface Window {
    /** The page's store, for tests and the curious. */
    __poolUi: Store;
  }
}
window.__poolUi = store;

function usd(micro: number | undefined): string {
  if (micro === undefined) return '—';
  const dollars = micro / 1_000_000;
  return `$${dollars < 10 ? dollars.toFixed(4) : dollars.toFixed(2)}`;
}

function short(id: string | undefined, keep = 10): string {
  if (!id) return '—';
  return id.length > keep ? `${id.slice(0, keep)}…` : id;
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false }) + `.${String(ms % 1000).padStart(3, '0')}`;
}

function ActorLink({ id, label }: { id: string; label?: string }) {
  return (
    <button class="link" data-open={id} onClick={() => store.select(id)}>
      {label ?? short(id, 18)}
    </button>
  );
}

function Slots({ state }: { state: PageState }) {
  const slots = [...state.slots.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  return (
    <section data-testid="slots">
      <h2>
        Slots <small>{slots.length}</small>
      </h2>
      <div class="cards">
        {slots.map((slot: UiSlot) => (
          <div
            class={`card slot state-${slot.state}`}
            data-testid="slot-card"
            data-slot-id={slot.id}
            data-state={slot.state}
            key={slot.id}
          >
            <div class="card-head">
              <strong>{slot.id}</strong>
              <span class={`badge state-${slot.state}`}>
                {slot.nodes.at(-1)?.split('.').slice(1).join('.') ?? slot.state}
              </span>
            </div>
            <dl>
              <dt>task</dt>
              <dd>{slot.currentTask ? <ActorLink id={slot.currentTask} /> : '—'}</dd>
              <dt>session</dt>
              <dd title={slot.sessionId}>{short(slot.sessionId, 8)}</dd>
              <dt>spend</dt>
              <dd>{usd(slot.costMicrodollars)}</dd>
              <dt>done</dt>
              <dd>{slot.tasksCompleted}</dd>
              <dt>restarts</dt>
              <dd>{slot.restartCount}</dd>
            </dl>
            {slot.lastError && <p class="error">{slot.lastError}</p>}
          </div>
        ))}
      </div>
    </section>
  );
}

function ReviewRow({ task }: { task: UiTask }) {
  const [feedback, setFeedback] = useState('');
  const [busy, setBusy] = useState(false);
  const act = (work: () => Promise<void>) => {
    setBusy(true);
    work()
      .catch(() => undefined)
      .finally(() => setBusy(false));
  };
  return (
    <li data-testid="review" data-task-id={task.id}>
      <ActorLink id={task.id} /> <span class="prompt">{task.prompt}</span>
      <div class="review-output">{task.output}</div>
      <div class="review-actions">
        <button data-action="approve" disabled={busy} onClick={() => act(() => store.approve(task.id))}>
          Approve
        </button>
        <input
          placeholder="feedback for a rejection"
          value={feedback}
          onInput={(event) => setFeedback((event.target as HTMLInputElement).value)}
        />
        <button
          data-action="reject"
          disabled={busy || feedback.trim() === ''}
          onClick={() => act(() => store.reject(task.id, feedback))}
        >
          Reject
        </button>
        <small>
          rejections {task.rejectionCount}/{task.maxRejections}
        </small>
      </div>
    </li>
  );
}

function Reviews({ tasks }: { tasks: UiTask[] }) {
  const waiting = tasks.filter((task) => task.state === 'pending_review');
  return (
    <section data-testid="reviews">
      <h2>
        Awaiting review <small>{waiting.length}</small>
      </h2>
      {waiting.length === 0 ? (
        <p class="muted">Nothing to review.</p>
      ) : (
        <ul class="reviews">
          {waiting.map((task) => (
            <ReviewRow task={task} key={task.id} />
          ))}
        </ul>
      )}
    </section>
  );
}

function countNodes(items: Iterable<{ nodes: string[] }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) for (const node of item.nodes) counts.set(node, (counts.get(node) ?? 0) + 1);
  return counts;
}

function Machines({ state, tasks }: { state: PageState; tasks: UiTask[] }) {
  const [machine, setMachine] = useState('slot');
  const chart = state.charts.find((candidate) => candidate.machine === machine);
  const counts = useMemo(() => {
    if (machine === 'slot') return countNodes(state.slots.values());
    if (machine === 'task') return countNodes(tasks.filter((task) => task.kind === 'task'));
    if (machine === 'chain') return countNodes(state.chains.values());
    return countNodes([{ nodes: state.poolNodes }]);
  }, [machine, state.slots, state.chains, tasks, state.poolNodes]);
  return (
    <section data-testid="machines">
      <h2>Statecharts</h2>
      <div class="tabs">
        {state.charts.map((candidate) => (
          <button
            class={candidate.machine === machine ? 'tab selected' : 'tab'}
            data-tab={candidate.machine}
            key={candidate.machine}
            onClick={() => setMachine(candidate.machine)}
          >
            {candidate.machine}
          </button>
        ))}
      </div>
      <p class="muted">
        Badges count the live actors in each state; the last transition of any {machine} actor is animated.
      </p>
      <div class="chart-box">
        {chart ? (
          <Chart
            chart={chart}
            label={machine}
            active={new Set(counts.keys())}
            counts={machine === 'pool' ? undefined : counts}
            transition={state.lastByMachine.get(machine)}
          />
        ) : (
          <p class="muted">Loading charts…</p>
        )}
      </div>
    </section>
  );
}

function Queue({ tasks }: { tasks: UiTask[] }) {
  const pending = tasks
    .filter((task) => task.state === 'pending' && task.kind === 'task')
    .sort((a, b) => a.createdAtMs - b.createdAtMs);
  return (
    <section data-testid="queue">
      <h2>
        Queue <small>{pending.length}</small>
      </h2>
      {pending.length === 0 ? (
        <p class="muted">No task waiting.</p>
      ) : (
        <ol class="queue">
          {pending.slice(0, 100).map((task) => (
            <li key={task.id} data-task-id={task.id}>
              <ActorLink id={task.id} /> <span class="prompt">{task.prompt}</span>
            </li>
          ))}
          {pending.length > 100 && <li class="muted">and {pending.length - 100} more</li>}
        </ol>
      )}
    </section>
  );
}

function Timeline({ state, tasks }: { state: PageState; tasks: UiTask[] }) {
  const now = Date.now();
  const runs = tasks.filter((task) => task.kind === 'task' && task.slotId && task.startedAtMs !== undefined);
  const slots = [...state.slots.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  for (const run of runs) if (run.slotId && !slots.includes(run.slotId)) slots.push(run.slotId);
  const start = Math.min(...runs.map((run) => run.startedAtMs as number), now - 1000);
  const end = Math.max(now, ...runs.map((run) => run.completedAtMs ?? now));
  const width = 1000;
  const row = 18;
  const left = 70;
  const x = (ms: number) => left + ((ms - start) / Math.max(1, end - start)) * (width - left - 4);
  return (
    <section data-testid="timeline">
      <h2>
        Timeline <small>{((end - start) / 1000).toFixed(1)} s</small>
      </h2>
      <svg
        class="timeline"
        viewBox={`0 0 ${width} ${slots.length * row + 6}`}
        preserveAspectRatio="none"
        height={slots.length * row + 6}
      >
        {slots.map((slot, index) => (
          <g key={slot}>
            <text x={2} y={index * row + 14} class="row-label">
              {slot}
            </text>
            <line x1={left} x2={width} y1={index * row + row} y2={index * row + row} class="row-line" />
          </g>
        ))}
        {runs.map((run) => {
          const index = slots.indexOf(run.slotId as string);
          const from = x(run.startedAtMs as number);
          const to = x(run.completedAtMs ?? now);
          return (
            <rect
              key={run.id}
              class={`bar state-${run.state}`}
              data-task-id={run.id}
              x={from}
              y={index * row + 3}
              width={Math.max(2, to - from)}
              height={row - 6}
              onClick={() => store.select(run.id)}
            >
              <title>{`${run.id} ${run.state}: ${run.prompt}`}</title>
            </rect>
          );
        })}
      </svg>
    </section>
  );
}

function Chains({ chains }: { chains: UiChain[] }) {
  return (
    <section data-testid="chains">
      <h2>
        Chains <small>{chains.length}</small>
      </h2>
      {chains.length === 0 && <p class="muted">No chain.</p>}
      {chains.map((chain) => (
        <div class={`chain state-${chain.status}`} key={chain.id} data-chain-id={chain.id} data-state={chain.status}>
          <ActorLink id={chain.id} /> <span class={`badge state-${chain.status}`}>{chain.status}</span>
          <ol class="steps">
            {chain.steps.map((step, index) => (
              <li key={index} class={step.success ? 'ok' : 'failed'}>
                {step.name} <small>{usd(step.costMicrodollars)}</small>
              </li>
            ))}
            {chain.status === 'running' && chain.currentStepName && <li class="current">{chain.currentStepName} …</li>}
            {Array.from(
              {
                length: Math.max(
                  0,
                  chain.totalSteps - chain.steps.length - (chain.status === 'running' && chain.currentStepName ? 1 : 0),
                ),
              },
              (_, index) => (
                <li key={`todo-${index}`} class="todo">
                  ·
                </li>
              ),
            )}
          </ol>
        </div>
      ))}
    </section>
  );
}

function Tasks({ tasks }: { tasks: UiTask[] }) {
  const list = tasks.filter((task) => task.kind === 'task').sort((a, b) => b.createdAtMs - a.createdAtMs);
  return (
    <section data-testid="tasks">
      <h2>
        Tasks <small>{list.length}</small>
      </h2>
      <table class="tasks">
        <thead>
          <tr>
            <th>task</th>
            <th>state</th>
            <th>slot</th>
            <th>cost</th>
            <th>prompt</th>
          </tr>
        </thead>
        <tbody>
          {list.slice(0, 300).map((task) => (
            <tr key={task.id} data-task-id={task.id} data-state={task.state}>
              <td>
                <ActorLink id={task.id} />
              </td>
              <td>
                <span class={`badge state-${task.state}`}>{task.state}</span>
              </td>
              <td>{task.slotId ?? '—'}</td>
              <td>{usd(task.costMicrodollars)}</td>
              <td class="prompt">{task.prompt}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Budget({ state }: { state: PageState }) {
  const { budget, budgetHistory } = state;
  const remaining =
    budget.limitMicrodollars === undefined
      ? undefined
      : budget.limitMicrodollars - budget.spentMicrodollars - budget.reservedMicrodollars;
  const width = 400;
  const height = 110;
  const points =
    budgetHistory.length > 0 ? budgetHistory : [{ atMs: Date.now(), spentMicrodollars: 0, reservedMicrodollars: 0 }];
  const t0 = points[0].atMs;
  const t1 = Math.max(t0 + 1, points.at(-1)?.atMs ?? t0);
  const top = Math.max(
    1,
    budget.limitMicrodollars ?? 0,
    ...points.map((point) => point.spentMicrodollars + point.reservedMicrodollars),
  );
  const px = (ms: number) => 4 + ((ms - t0) / (t1 - t0)) * (width - 8);
  const py = (micro: number) => height - 4 - (micro / top) * (height - 8);
  const line = (value: (point: (typeof points)[number]) => number) =>
    points.map((point) => `${px(point.atMs).toFixed(1)},${py(value(point)).toFixed(1)}`).join(' ');
  return (
    <section data-testid="budget">
      <h2>Budget</h2>
      <dl class="budget">
        <dt>spent</dt>
        <dd data-testid="spent">{usd(budget.spentMicrodollars)}</dd>
        <dt>reserved</dt>
        <dd data-testid="reserved">{usd(budget.reservedMicrodollars)}</dd>
        <dt>remaining</dt>
        <dd data-testid="remaining">{remaining === undefined ? 'no limit' : usd(remaining)}</dd>
      </dl>
      <svg
        class="budget-chart"
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        height={height}
        preserveAspectRatio="none"
      >
        {budget.limitMicrodollars !== undefined && (
          <line class="limit" x1={0} x2={width} y1={py(budget.limitMicrodollars)} y2={py(budget.limitMicrodollars)} />
        )}
        <polyline class="committed" points={line((point) => point.spentMicrodollars + point.reservedMicrodollars)} />
        <polyline class="spent" points={line((point) => point.spentMicrodollars)} />
      </svg>
      <p class="legend">
        <span class="key spent" /> spent <span class="key committed" /> spent + reserved
      </p>
    </section>
  );
}

function DetailPanel({ state, charts }: { state: PageState; charts: ChartLayout[] }) {
  const detail = state.detail;
  if (!detail) return null;
  const id = detail.id;
  const chain = state.chains.get(id);
  const task = state.tasks.get(id);
  const machine = chain || task?.kind === 'chain' ? 'chain' : 'task';
  // A task that has left the snapshot's window keeps the state its last transition reached.
  const nodes = chain?.nodes ?? task?.nodes ?? state.last.get(id)?.to ?? [];
  const chart = charts.find((candidate) => candidate.machine === machine);
  return (
    <aside class="detail" data-testid="detail" data-actor-id={id}>
      <div class="detail-head">
        <h2>
          {machine} {id}
        </h2>
        <button class="close" onClick={() => store.select(undefined)} aria-label="close">
          ×
        </button>
      </div>
      {task && <p class="prompt">{task.prompt}</p>}
      <div class="chart-box">
        {chart ? <Chart chart={chart} label={id} active={new Set(nodes)} transition={state.last.get(id)} /> : null}
      </div>
      <h3>History</h3>
      {!detail.loaded && <p class="muted">Loading…</p>}
      {detail.error && <p class="error">{detail.error}</p>}
      <ol class="history" data-testid="history">
        {detail.history.map((entry) => (
          <li key={entry.seq} data-kind={entry.kind}>
            <time>{clock(entry.atMs)}</time>{' '}
            {entry.kind === 'transition'
              ? `${entry.from?.at(-1)?.split('.').slice(1).join('.') || '(start)'} → ${entry.to?.at(-1)?.split('.').slice(1).join('.')}`
              : `${entry.kind}${entry.detail ? ` — ${entry.detail}` : ''}`}
          </li>
        ))}
      </ol>
      <h3>Output</h3>
      <pre class="output" data-testid="output">
        {detail.output || (task?.output ?? '')}
      </pre>
    </aside>
  );
}

function App() {
  const [state, setState] = useState(store.state);
  useEffect(() => store.subscribe(() => setState(store.state)), []);
  useLayoutEffect(() => store.rendered(), [state]);
  const tasks = useMemo(() => [...state.tasks.values()], [state.tasks]);
  const chains = useMemo(() => [...state.chains.values()].sort((a, b) => b.id.localeCompare(a.id)), [state.chains]);
  const counts = useMemo(() => countNodes(tasks.map((task) => ({ nodes: [task.state] }))), [tasks]);
  return (
    <div class={state.detail ? 'page with-detail' : 'page'}>
      <header>
        <h1>claude-pool</h1>
        <span class={`badge phase-${state.phase}`} data-testid="phase">
          {state.phase}
        </span>
        <span class={`badge connection-${state.connection}`} data-testid="connection" data-state={state.connection}>
          {state.connection}
        </span>
        <span class="totals">
          {['pending', 'running', 'pending_review', 'completed', 'failed', 'cancelled'].map((name) => (
            <span key={name} class={`total state-${name}`}>
              {name.replace('_', ' ')} <b>{counts.get(name) ?? 0}</b>
            </span>
          ))}
          <span class="total">
            spent <b>{usd(state.budget.spentMicrodollars)}</b>
          </span>
        </span>
      </header>
      {state.error && (
        <p class="error banner" data-testid="error">
          {state.error}
        </p>
      )}
      <main>
        <Slots state={state} />
        <Reviews tasks={tasks} />
        <Machines state={state} tasks={tasks} />
        <div class="columns">
          <Queue tasks={tasks} />
          <Budget state={state} />
        </div>
        <Timeline state={state} tasks={tasks} />
        <Chains chains={chains} />
        <Tasks tasks={tasks} />
      </main>
      <DetailPanel state={state} charts={state.charts} />
    </div>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
store.start();
