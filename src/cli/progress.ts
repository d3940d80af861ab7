/**
 * Progress of a pool on a terminal: a live panel (slots, tasks, spend, elapsed) redrawn with log-update when
 * the stream is a TTY, one plain line per task or chain change otherwise, or nothing.
 */
import { createLogUpdate } from 'log-update';
import type { Subscription } from 'rxjs';
import type { TaskRecord } from '../../machines/types.js';
import type { Pool } from '../pool/index.js';

/** How progress is shown. */
export type ProgressMode = 'live' | 'plain' | 'off';

/** A writable text stream (stderr or stdout). */
export interface TextStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/**
 * `live` on a TTY, `plain` otherwise (also on a terminal without a size, where a panel cannot be drawn);
 * `off` when quiet or when JSON output is wanted.
 */
export function progressModeFor(stream: TextStream, options: { quiet?: boolean; json?: boolean } = {}): ProgressMode {
  if (options.quiet || options.json) return 'off';
  return stream.isTTY && stream.rows !== 0 && stream.columns !== 0 ? 'live' : 'plain';
}

/** `$0.0123` from microdollars. */
export function formatUsd(micro: number): string {
  return `$${(micro / 1e6).toFixed(4)}`;
}

/** A prompt without `[[sim:…]]` directives, on one line, at most `width` characters. */
export function promptLabel(prompt: string, width = 40): string {
  const clean =
    prompt
      .replace(/\[\[sim:[\s\S]*?\]\]/g, '')
      .replace(/\s+/g, ' ')
      .trim() || '(prompt)';
  return clean.length > width ? `${clean.slice(0, width - 1)}…` : clean;
}

/** One line about a task's new state, as plain progress prints it. */
export function taskLine(task: TaskRecord): string {
  const where = task.slotId ? ` on ${task.slotId}` : '';
  const result = task.result;
  let detail = '';
  if (result && task.state !== 'running' && task.state !== 'pending') {
    detail = ` ${result.success ? 'ok' : 'FAILED'} ${formatUsd(result.costMicrodollars)} ${result.turnsUsed} turn(s)`;
    if (!result.success) detail += ` - ${result.output.split('\n')[0].slice(0, 70)}`;
  }
  return `${task.state.padEnd(14)} ${promptLabel(task.prompt, 36).padEnd(36)} ${task.id}${where}${detail}`;
}

/** Shows a pool's progress until stopped. */
export class PoolProgress {
  private readonly started = Date.now();
  private readonly subscriptions: Subscription[] = [];
  private timer?: NodeJS.Timeout;
  private readonly log?: ReturnType<typeof createLogUpdate>;
  private lastEvent = '';
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly stream: TextStream,
    private readonly mode: ProgressMode,
    private readonly title: string,
  ) {
    if (mode === 'live') this.log = createLogUpdate(stream as NodeJS.WritableStream, { showCursor: true });
  }

  /** Starts showing progress. */
  start(): this {
    if (this.mode === 'off') return this;
    const printed = new Map<string, string>();
    const chainStatus = new Map<string, string>();
    this.subscriptions.push(
      this.pool.events$.subscribe((event) => {
        if ('task' in event) {
          const task = event.task;
          if (task.kind === 'chain' || printed.get(task.id) === task.state) return;
          printed.set(task.id, task.state);
          this.event(taskLine(task));
        } else if (event.type === 'chain.step.finished') {
          const progress = this.pool.chainProgress(event.chainId);
          const { step } = event;
          const status = step.skipped ? 'skipped' : step.success ? 'ok' : 'FAILED';
          this.event(
            `chain step ${event.stepIndex + 1}/${progress.totalSteps} ${step.name} ${status} ${formatUsd(step.costMicrodollars)} (${event.chainId})`,
          );
        } else if (event.type === 'chain.progress') {
          const { chainId, status } = event.progress;
          if (chainStatus.get(chainId) !== status && status !== 'running') this.event(`chain ${status} (${chainId})`);
          chainStatus.set(chainId, status);
        }
      }),
    );
    if (this.mode === 'live') {
      this.render();
      this.timer = setInterval(() => this.render(), 100);
    } else {
      this.line(`${this.title}`);
    }
    return this;
  }

  /** Prints a line of its own (above the live panel, or as a plain line). */
  note(text: string): void {
    if (this.mode === 'off') return;
    if (this.mode === 'live' && this.log) {
      this.log.clear();
      this.stream.write(`${text}\n`);
      this.render();
    } else {
      this.line(text);
    }
  }

  /** Stops updating; the last live frame stays on screen. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    if (this.mode === 'live' && this.log) {
      this.render();
      this.log.done();
    }
  }

  private event(text: string): void {
    if (this.mode === 'plain') this.line(text);
    else this.lastEvent = text;
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)}s`;
  }

  private line(text: string): void {
    this.stream.write(`${`+${this.elapsed()}`.padStart(7)}  ${text}\n`);
  }

  /** The live panel. */
  frame(): string {
    const status = this.pool.status();
    const budget = status.budgetMicrodollars === undefined ? '' : ` / ${formatUsd(status.budgetMicrodollars)}`;
    const width = Math.max(40, (this.stream.columns ?? 100) - 1);
    const lines = [
      `${this.title} · ${this.elapsed()} · spent ${formatUsd(status.totalSpendMicrodollars)}${budget}` +
        (status.reservedMicrodollars > 0 ? ` (+${formatUsd(status.reservedMicrodollars)} reserved)` : ''),
    ];
    for (const slot of this.pool.slots()) {
      const task = slot.currentTask ? this.pool.snapshot().tasks.get(slot.currentTask) : undefined;
      const doing = task ? ` ${promptLabel(task.prompt)}` : '';
      lines.push(
        `  ${slot.id.padEnd(8)} ${slot.state.padEnd(8)} ${String(slot.tasksCompleted).padStart(3)} done${doing}`,
      );
    }
    lines.push(
      `  tasks: ${status.pendingTasks} pending · ${status.runningTasks} running · ${status.completedTasks} completed · ` +
        `${status.failedTasks} failed · ${status.cancelledTasks} cancelled` +
        (status.pendingReviewTasks > 0 ? ` · ${status.pendingReviewTasks} in review` : ''),
    );
    for (const chain of this.pool.listChainProgress().filter((c) => c.status === 'running')) {
      lines.push(
        `  chain ${chain.chainId}: step ${(chain.currentStep ?? 0) + 1}/${chain.totalSteps} ${chain.currentStepName ?? ''}`,
      );
    }
    if (this.lastEvent) lines.push(`  last: ${this.lastEvent}`);
    return lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l)).join('\n');
  }

  private render(): void {
    this.log?.(this.frame());
  }
}
