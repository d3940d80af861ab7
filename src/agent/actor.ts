/**
 * The `agent` actor the slot statechart invokes in Busy: it runs one job through an `AgentRunner` and sends
 * the outcome back. Stopping the actor (the slot left Busy) aborts the run, which kills the process group.
 */
import { fromCallback } from 'xstate';
import type { AgentActorCommand, AgentActorEvent, AgentActorInput } from '../../machines/slot.js';
import type { RunOutcome, SlotId, TaskId } from '../../machines/types.js';
import { detectPermissionPrompt, permissionPromptMessage } from './permission-prompt.js';
import type { AgentEvent, AgentRunner, AgentRunRequest } from './types.js';

/** What the agent actor needs from the pool. */
export interface AgentActorDeps {
  runner: AgentRunner;
  /** Builds the run request for a job on a slot (merges config, drains messages, picks the directory). */
  prepare(input: AgentActorInput): AgentRunRequest;
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

/** Creates the `agent` actor logic to provide to the slot machine. */
export function createAgentActor(deps: AgentActorDeps) {
  return fromCallback<AgentActorCommand, AgentActorInput>(({ input, sendBack, receive }) => {
    const controller = new AbortController();
    let finished = false;
    let stopped = false;
    const { id: slotId } = input.slot;
    const { taskId } = input.job;
    receive((command) => {
      if (command.type === 'ABORT') controller.abort();
    });
    void (async () => {
      let outcome: RunOutcome;
      try {
        const request = deps.prepare(input);
        const onEvent = (event: AgentEvent) => deps.onEvent(slotId, taskId, event);
        outcome = await deps.runner.run(request, controller.signal, onEvent);
        // The slot's session is gone (another machine, a cleared config dir): start a new one.
        if (request.resumeSessionId && isUnknownSession(outcome) && !controller.signal.aborted) {
          const fresh = { ...request, resumeSessionId: undefined, previousSessionCostUsd: undefined };
          outcome = await deps.runner.run(fresh, controller.signal, onEvent);
        }
        if (deps.detectPermissionPrompts) outcome = withPermissionPrompt(outcome);
      } catch (error) {
        outcome = internalFailure(error);
      }
      finished = true;
      deps.onExit(slotId, taskId, outcome);
      // A stopped actor must not report: its slot may already be running another job.
      if (!stopped) sendBack({ type: 'AGENT.DONE', outcome } satisfies AgentActorEvent);
    })();
    return () => {
      stopped = true;
      if (!finished) controller.abort();
    };
  });
}
