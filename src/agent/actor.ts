/**
 * The `agent` actor each slot invokes for its life: it runs the jobs the slot gives it through an
 * `AgentRunner`, one at a time, and sends each outcome back. An abort ends the run (which still reports); a
 * detach, or the actor stopping with its slot, ends it without a report. Ending a run kills its process group.
 */
import { fromCallback } from 'xstate';
import type { AgentActorCommand, AgentActorEvent, AgentActorInput, AgentRun } from '../../machines/slot.js';
import type { RunOutcome, SlotId, TaskId } from '../../machines/types.js';
import { detectPermissionPrompt, permissionPromptMessage } from './permission-prompt.js';
import type { AgentEvent, AgentRunner, AgentRunRequest } from './types.js';

/** What the agent actor needs from the pool. */
export interface AgentActorDeps {
  runner: AgentRunner;
  /** Builds the run request for a job on a slot (merges config, drains messages, picks the directory). */
  prepare(run: AgentRun): AgentRunRequest;
  /** Receives every event of the run as it streams. */
  onEvent(slotId: SlotId, taskId: TaskId, event: AgentEvent): void;
  /** Called once the process has ended (after an abort too), whatever became of the actor. */
  onExit(slotId: SlotId, taskId: TaskId, outcome: RunOutcome): void;
  /** Turn a run that died at a tool-permission prompt into a `permission_prompt_detected` failure. */
  detectPermissionPrompts?: boolean;
}

/** A failed outcome for a run that threw inside the pool (a bug or an unexpected I/O error). */
function internalFailure(error: unknown): RunOutcome {
  const message = error instanceof Error ? error.message : String(error);
  return {
    kind: 'crashed',
    result: {
      output: `the run failed inside the pool: ${message}`,
      success: false,
      costMicrodollars: 0,
      turnsUsed: 0,
      elapsedMs: 0,
      errorCode: 'internal_error',
      failure: { kind: 'internal_error' },
    },
  };
}

/** A crashed run whose stderr shows a permission prompt, marked as such (with the tool in the output). */
export function withPermissionPrompt(outcome: RunOutcome): RunOutcome {
  if (outcome.kind !== 'crashed') return outcome;
  const tool = detectPermissionPrompt(outcome.result.stderr);
  if (tool === undefined) return outcome;
  return {
    ...outcome,
    result: {
      ...outcome.result,
      output: permissionPromptMessage(tool),
      errorCode: 'permission_prompt_detected',
      failure: { kind: 'permission_prompt', tool },
    },
  };
}

/** True when the CLI could not resume the session it was given (it no longer exists). */
export function isUnknownSession(outcome: RunOutcome): boolean {
  return (
    outcome.kind === 'ok' &&
    !outcome.result.success &&
    outcome.result.output.includes('No conversation found with session ID')
  );
}

/** One run in progress: its abort switch, and whether its outcome still goes to the slot. */
interface RunInProgress {
  controller: AbortController;
  report: boolean;
}

/** Creates the `agent` actor logic to provide to the slot machine. */
export function createAgentActor(deps: AgentActorDeps) {
  return fromCallback<AgentActorCommand, AgentActorInput>(({ sendBack, receive }) => {
    let current: RunInProgress | undefined;
    /** Ends the current run without a report (the slot has moved on). */
    const detach = () => {
      if (!current) return;
      current.report = false;
      current.controller.abort();
      current = undefined;
    };
    receive((command) => {
      if (command.type === 'RUN') {
        detach();
        const run: RunInProgress = { controller: new AbortController(), report: true };
        current = run;
        void execute(deps, command, run.controller.signal).then((outcome) => {
          if (current === run) current = undefined;
          if (run.report) sendBack({ type: 'AGENT.DONE', outcome } satisfies AgentActorEvent);
        });
      } else if (command.type === 'ABORT') current?.controller.abort();
      else detach();
    });
    return detach;
  });
}

/** Runs one job to its outcome (never throws), and tells the pool once its process has ended. */
async function execute(deps: AgentActorDeps, run: AgentRun, signal: AbortSignal): Promise<RunOutcome> {
  const slotId = run.slot.id;
  const { taskId } = run.job;
  let outcome: RunOutcome;
  try {
    const request = deps.prepare(run);
    const onEvent = (event: AgentEvent) => deps.onEvent(slotId, taskId, event);
    outcome = await deps.runner.run(request, signal, onEvent);
    // The slot's session is gone (another machine, a cleared config dir): start a new one.
    if (request.resumeSessionId && isUnknownSession(outcome) && !signal.aborted) {
      const fresh = { ...request, resumeSessionId: undefined, previousSessionCostUsd: undefined };
      outcome = await deps.runner.run(fresh, signal, onEvent);
    }
    if (deps.detectPermissionPrompts) outcome = withPermissionPrompt(outcome);
  } catch (error) {
    outcome = internalFailure(error);
  }
  deps.onExit(slotId, taskId, outcome);
  return outcome;
}
