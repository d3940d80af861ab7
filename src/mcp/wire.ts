/**
 * The MCP wire format: library objects (camelCase) become JSON with the reference's snake_case field names.
 */
import type { ChainStep, TaskRecord, TaskResult } from '../../machines/types.js';

/**
 * Keys whose values are user data or free-form JSON: their own keys are kept as they are (a JSON schema, MCP
 * server definitions, structured output, output-variable maps, skill arguments, model names…).
 */
const OPAQUE_KEYS = new Set([
  'structuredOutput',
  'jsonSchema',
  'mcpServers',
  'tasksByModel',
  'outputVars',
  'toolInput',
  'arguments',
  'context',
]);

/** `costMicrodollars` → `cost_microdollars`. */
export function snakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** A JSON object as sent on the wire. */
export type WireObject = { [key: string]: unknown };

/**
 * Deep-copies a value with every object key in snake_case, except inside {@link OPAQUE_KEYS}; `undefined`
 * fields are dropped.
 */
export function toWire(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toWire);
  if (value === null || typeof value !== 'object') return value;
  const out: WireObject = {};
  for (const [key, field] of Object.entries(value)) {
    if (field === undefined) continue;
    out[snakeCase(key)] = OPAQUE_KEYS.has(key) ? field : toWire(field);
  }
  return out;
}

/** {@link toWire} for an object. */
export function wireObject(value: object): WireObject {
  return toWire(value) as WireObject;
}

/** A task result on the wire (reference §2.10 plus our extra fields). */
export function wireResult(result: TaskResult): WireObject {
  return wireObject(result);
}

/** A compact summary of a task record, as `pool_list_tasks` returns it. */
export function wireTaskSummary(task: TaskRecord): WireObject {
  return wireObject({
    taskId: task.id,
    kind: task.kind,
    state: task.state,
    prompt: task.prompt.length > 200 ? `${task.prompt.slice(0, 200)}…` : task.prompt,
    tags: task.tags,
    slotId: task.slotId,
    reviewRequired: task.reviewRequired || undefined,
    rejectionCount: task.reviewRequired ? task.rejectionCount : undefined,
    success: task.result?.success,
    costMicrodollars: task.result?.costMicrodollars ?? 0,
    turnsUsed: task.result?.turnsUsed ?? 0,
    createdAtMs: task.createdAtMs,
    startedAtMs: task.startedAtMs,
    completedAtMs: task.completedAtMs,
  });
}

/** A chain step on the wire, in the MCP input shape (`{name, type, value, …}`). */
export function wireStep(step: ChainStep): WireObject {
  const action = step.action;
  return wireObject({
    name: step.name,
    type: action.type,
    value: action.type === 'prompt' ? action.prompt : action.skill,
    arguments: action.type === 'skill' ? action.arguments : undefined,
    model: step.config?.model,
    effort: step.config?.effort,
    retries: step.failurePolicy?.retries || undefined,
    recoveryPrompt: step.failurePolicy?.recoveryPrompt,
    outputVars: step.outputVars,
  });
}
