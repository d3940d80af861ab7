/**
 * claude-pool/machines: the raw statecharts and the pure decisions they use, for inspection, model-based
 * testing and custom hosts. Everything here imports only XState.
 */
export { poolMachine, activeSlotIds, liveTaskIds, nextSlotIds, isDrained } from './pool.js';
export type {
  ChainActorRef,
  DrainQueuedPolicy,
  PoolContext,
  PoolInput,
  PoolMachine,
  SlotActorRef,
  SlotSpec,
  SupervisorEmitted,
  SupervisorEvent,
  TaskActorRef,
} from './pool.js';
export { slotMachine } from './slot.js';
export type { AgentActorEvent, AgentActorInput, SlotEvent, SlotInput, SlotMachine, SlotParentEvent } from './slot.js';
export { taskMachine, TASK_STATE_NODES, rejectedPrompt, taskStateOf } from './task.js';
export type { TaskEvent, TaskMachine, TaskParentEvent } from './task.js';
export { chainMachine } from './chain.js';
export type { ChainEvent, ChainInput, ChainParentEvent, RunStepInput, RunStepOutput } from './chain.js';
export { admitScale, admitTask } from './admission.js';
export type { AdmissionRefusal, PoolPhase, TaskAdmissionRequest } from './admission.js';
export { admissionRefusal, formatUsd, planReservation, refusalText, usdToMicrodollars } from './budget.js';
export type { BudgetLedger, BudgetRefusal, ReservationRequest } from './budget.js';
export {
  concurrencyStatus,
  decrease,
  defaultBackpressureConfig,
  effectiveLimit,
  increase,
  initialBackpressure,
  pause,
  planRetry,
  pressureOfResult,
  resume,
  retryDelayMs,
  startAllowance,
} from './backpressure.js';
export type {
  Backpressure,
  BackpressureConfig,
  ConcurrencyStatus,
  PressureReason,
  PressureSignal,
  RetryDecision,
} from './backpressure.js';
export type { PressureChange, PressureEmitted } from './pool-backpressure.js';
export { planDispatch } from './dispatch.js';
export type { DispatchPlan, DispatchView } from './dispatch.js';
export { errorCodeOf, failureOfRun, poolFailure } from './failure.js';
export type { ErrorCode, FailureKind, TaskFailure } from './failure.js';
export { emptyQueue, enqueue, dropFront, queuedJobs, queueLength } from './queue.js';
export type { JobQueue, QueuedJob } from './queue.js';
export { extractOutputVar, renderRecoveryPrompt, renderStepPrompt } from './templating.js';
