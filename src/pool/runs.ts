/**
 * The hooks the agent adapter calls around one run: build its request (merged config, identity, shared
 * context, messages, directory, session), stream its output, and note when its process has ended.
 */
import type { AgentRun } from '../../machines/slot.js';
import type { RunOutcome, SlotId, TaskId } from '../../machines/types.js';
import type { AgentActorDeps } from '../agent/actor.js';
import { buildAppendSystemPrompt } from '../agent/system-prompt.js';
import { pressureSignalOf } from '../agent/pressure.js';
import type { AgentEvent, AgentRunRequest } from '../agent/types.js';
import { resolveConfig } from '../config.js';
import type { PoolRuntime } from './runtime.js';

/** The run hooks of one pool. */
export function createRunHooks(rt: PoolRuntime): Pick<AgentActorDeps, 'prepare' | 'onEvent' | 'onExit'> {
  return {
    prepare: (input) => prepareRun(rt, input),
    onEvent: (slotId, taskId, event) => onAgentEvent(rt, slotId, taskId, event),
    onExit: (slotId, taskId, outcome) => onRunExit(rt, slotId, taskId, outcome),
  };
}

/** Builds the request for one run. */
function prepareRun(rt: PoolRuntime, input: AgentRun): AgentRunRequest {
  const { slot, job } = input;
  const config = resolveConfig(rt.config, slot.config, job.overrides);
  if (config.maxBudgetUsd === undefined && job.reservedMicrodollars !== undefined) {
    config.maxBudgetUsd = job.reservedMicrodollars / 1e6;
  }
  const messages = rt.messages.read(slot.id);
  if (messages.length > 0) rt.deliveredMessages.set(job.taskId, messages);
  config.appendSystemPrompt = buildAppendSystemPrompt(slot.config, [...rt.contextEntries.entries()], messages);
  const workingDir = job.workingDir ?? slot.worktreePath ?? rt.claude.workingDir ?? process.cwd();
  const resume = job.workingDir === undefined ? slot.sessionId : undefined;
  const timeoutSecs = job.overrides?.timeoutSecs ?? rt.claude.timeoutSecs;
  trackRun(rt, job.taskId);
  return {
    prompt: job.prompt,
    config,
    workingDir,
    resumeSessionId: resume,
    previousSessionCostUsd: resume ? slot.sessionCostUsd : undefined,
    timeoutMs: timeoutSecs === undefined ? undefined : timeoutSecs * 1000,
    slotId: slot.id,
    newConversation: job.workingDir !== undefined,
    askPermission: rt.permissions.askerFor(slot.id, job.taskId),
  };
}

function trackRun(rt: PoolRuntime, taskId: TaskId): void {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => {
    end = resolve;
  });
  rt.liveRuns.set(taskId, ended);
  rt.liveRunEnds.set(taskId, end);
}

function onRunExit(rt: PoolRuntime, slotId: SlotId, taskId: TaskId, outcome: RunOutcome): void {
  // Messages handed to a run that never started go back to the slot's inbox.
  const delivered = rt.deliveredMessages.get(taskId);
  rt.deliveredMessages.delete(taskId);
  if (delivered && outcome.kind === 'spawn_failed') rt.messages.restore(slotId, delivered);
  rt.liveRunEnds.get(taskId)?.();
  rt.liveRunEnds.delete(taskId);
  rt.liveRuns.delete(taskId);
}

function onAgentEvent(rt: PoolRuntime, slotId: SlotId, taskId: TaskId, event: AgentEvent): void {
  if (event.type !== 'text') {
    // API pressure reaches the supervisor while the run goes on.
    const signal = pressureSignalOf(event);
    if (signal) rt.actor.send({ type: 'AGENT.PRESSURE', slotId, taskId, signal });
    return;
  }
  rt.outputListeners.emit(taskId, event.text);
  rt.output.next({ taskId, slotId, text: event.text });
}
