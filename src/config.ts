/**
 * Configuration: defaults, validation of user input, and the pool → slot → task merge.
 */
import { backpressureConfigProblems, defaultBackpressureConfig } from '../machines/backpressure.js';
import { EFFORTS, PERMISSION_MODES, type PoolConfig, type SlotConfig, type TaskOverrides } from '../machines/types.js';
import type { ResolvedConfig } from './agent/types.js';
import { statSync } from 'node:fs';
import { InvalidInput } from './errors.js';

/** The pool defaults (those of the reference). */
export function defaultPoolConfig(): PoolConfig {
  return {
    allowedTools: [],
    mcpServers: {},
    maxRestarts: 3,
    worktreeIsolation: false,
    slotAssignmentTimeoutSecs: 300,
    scaling: { minSlots: 1, maxSlots: 16 },
    detectPermissionPrompts: true,
    supervisorEnabled: false,
    crashThreshold: 3,
    strictMcpConfig: true,
    minTaskReserveMicrodollars: 50_000,
    backpressure: defaultBackpressureConfig(),
  };
}

/** A partial pool config as users write it; nested `scaling` and `backpressure` may be partial too. */
export type PoolConfigInput = Partial<Omit<PoolConfig, 'scaling' | 'backpressure'>> & {
  scaling?: Partial<PoolConfig['scaling']>;
  backpressure?: Partial<PoolConfig['backpressure']>;
};

/** Fills a partial config with the defaults and validates it. */
export function completePoolConfig(input: PoolConfigInput = {}): PoolConfig {
  const defaults = defaultPoolConfig();
  checkBackpressureInput(input.backpressure, defaults.backpressure);
  const config: PoolConfig = {
    ...defaults,
    ...stripUndefined(input),
    scaling: { ...defaults.scaling, ...stripUndefined(input.scaling ?? {}) },
    backpressure: { ...defaults.backpressure, ...stripUndefined(input.backpressure ?? {}) },
  };
  validatePoolConfig(config);
  return config;
}

/** A `backpressure` input must be an object of known settings (a typo must not be ignored). */
function checkBackpressureInput(value: unknown, known: object): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInput(`backpressure must be an object of back-pressure settings, got ${JSON.stringify(value)}`);
  }
  const unknown = Object.keys(value).filter((key) => !(key in known));
  if (unknown.length > 0) {
    throw new InvalidInput(
      `unknown backpressure setting(s) ${unknown.join(', ')} (known: ${Object.keys(known).join(', ')})`,
    );
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkInteger(name: string, value: unknown, min: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidInput(`${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
}

function checkStringList(name: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new InvalidInput(`${name} must be a list of strings`);
  }
}

function checkString(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') throw new InvalidInput(`${name} must be a string`);
}

function checkShared(prefix: string, value: SlotConfig | TaskOverrides | PoolConfig): void {
  checkString(`${prefix}systemPrompt`, value.systemPrompt);
  checkString(`${prefix}fallbackModel`, value.fallbackModel);
  if (value.mcpServers !== undefined && typeof value.mcpServers === 'object' && value.mcpServers !== null) {
    for (const [name, server] of Object.entries(value.mcpServers)) {
      if (typeof server !== 'object' || server === null || Array.isArray(server)) {
        throw new InvalidInput(`${prefix}mcpServers.${name} must be an object (a server definition)`);
      }
    }
  }
  if (value.permissionMode !== undefined && !PERMISSION_MODES.includes(value.permissionMode)) {
    throw new InvalidInput(
      `${prefix}permissionMode must be one of ${PERMISSION_MODES.join(', ')}, got ${JSON.stringify(value.permissionMode)}`,
    );
  }
  if (value.effort !== undefined && !EFFORTS.includes(value.effort)) {
    throw new InvalidInput(`${prefix}effort must be one of ${EFFORTS.join(', ')}, got ${JSON.stringify(value.effort)}`);
  }
  checkInteger(`${prefix}maxTurns`, value.maxTurns, 1);
  checkStringList(`${prefix}allowedTools`, value.allowedTools);
  if (value.model !== undefined && (typeof value.model !== 'string' || value.model.trim() === '')) {
    throw new InvalidInput(`${prefix}model must be a non-empty string`);
  }
  if (value.mcpServers !== undefined && (typeof value.mcpServers !== 'object' || value.mcpServers === null)) {
    throw new InvalidInput(`${prefix}mcpServers must be an object of server definitions`);
  }
}

/** Validates a complete pool config. */
export function validatePoolConfig(config: PoolConfig): void {
  checkShared('', config);
  checkInteger('budgetMicrodollars', config.budgetMicrodollars, 0);
  checkInteger('defaultTaskReserveMicrodollars', config.defaultTaskReserveMicrodollars, 1);
  checkInteger('minTaskReserveMicrodollars', config.minTaskReserveMicrodollars, 0);
  checkInteger('maxRestarts', config.maxRestarts, 0);
  checkInteger('crashThreshold', config.crashThreshold, 1);
  if (typeof config.slotAssignmentTimeoutSecs !== 'number' || !(config.slotAssignmentTimeoutSecs >= 0)) {
    throw new InvalidInput('slotAssignmentTimeoutSecs must be a number >= 0');
  }
  checkInteger('scaling.minSlots', config.scaling.minSlots, 0);
  checkInteger('scaling.maxSlots', config.scaling.maxSlots, 1);
  if (typeof config.backpressure !== 'object' || config.backpressure === null) {
    throw new InvalidInput('backpressure must be an object of back-pressure settings');
  }
  const problems = backpressureConfigProblems(config.backpressure);
  if (problems.length > 0) throw new InvalidInput(problems.join('; '));
  if (config.scaling.minSlots > config.scaling.maxSlots) {
    throw new InvalidInput(
      `scaling.minSlots (${config.scaling.minSlots}) is more than scaling.maxSlots (${config.scaling.maxSlots})`,
    );
  }
}

/** Validates one slot's config. */
export function validateSlotConfig(config: SlotConfig): void {
  if (typeof config !== 'object' || config === null) throw new InvalidInput('slot config must be an object');
  checkShared('slot config ', config);
  checkString('slot config name', config.name);
  checkString('slot config role', config.role);
  checkString('slot config description', config.description);
}

/** Validates task tags: a list of strings. */
export function validateTags(tags: unknown): void {
  if (tags === undefined) return;
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string')) {
    throw new InvalidInput('tags must be a list of strings');
  }
}

/** Validates a working directory: it must exist and be a directory (a bad one would make every spawn fail). */
export function validateDirectory(dir: unknown): void {
  if (typeof dir !== 'string' || dir.trim() === '') throw new InvalidInput('workingDir must be a non-empty string');
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    isDirectory = false;
  }
  if (!isDirectory) throw new InvalidInput(`workingDir ${dir} is not an existing directory`);
}

/** Validates per-task overrides. */
export function validateOverrides(overrides: TaskOverrides | undefined): void {
  if (overrides === undefined) return;
  if (typeof overrides !== 'object' || overrides === null) throw new InvalidInput('task config must be an object');
  checkShared('', overrides);
  checkStringList('disallowedTools', overrides.disallowedTools);
  checkStringList('tools', overrides.tools);
  if (overrides.maxBudgetUsd !== undefined) {
    if (
      typeof overrides.maxBudgetUsd !== 'number' ||
      !(overrides.maxBudgetUsd > 0) ||
      !Number.isFinite(overrides.maxBudgetUsd)
    ) {
      throw new InvalidInput(
        `maxBudgetUsd must be a number greater than 0, got ${JSON.stringify(overrides.maxBudgetUsd)}`,
      );
    }
  }
  if (overrides.timeoutSecs !== undefined) {
    if (typeof overrides.timeoutSecs !== 'number' || !(overrides.timeoutSecs > 0)) {
      throw new InvalidInput(
        `timeoutSecs must be a number greater than 0, got ${JSON.stringify(overrides.timeoutSecs)}`,
      );
    }
  }
}

/** Validates a prompt: a non-empty string. */
export function validatePrompt(prompt: unknown): asserts prompt is string {
  if (typeof prompt !== 'string' || prompt.trim() === '') {
    throw new InvalidInput('prompt must be a non-empty string');
  }
}

/** Merges pool, slot and task settings: scalars task > slot > pool, tool lists appended, MCP servers by name. */
export function resolveConfig(pool: PoolConfig, slot: SlotConfig, task: TaskOverrides = {}): ResolvedConfig {
  return {
    model: task.model ?? slot.model ?? pool.model,
    permissionMode: task.permissionMode ?? slot.permissionMode ?? pool.permissionMode ?? 'plan',
    maxTurns: task.maxTurns ?? slot.maxTurns ?? pool.maxTurns,
    systemPrompt: task.systemPrompt ?? slot.systemPrompt ?? pool.systemPrompt,
    allowedTools: [...pool.allowedTools, ...(slot.allowedTools ?? []), ...(task.allowedTools ?? [])],
    disallowedTools: [...(task.disallowedTools ?? [])],
    tools: task.tools ? [...task.tools] : undefined,
    mcpServers: { ...pool.mcpServers, ...(slot.mcpServers ?? {}), ...(task.mcpServers ?? {}) },
    strictMcpConfig: pool.strictMcpConfig,
    effort: task.effort ?? slot.effort ?? pool.effort,
    fallbackModel: task.fallbackModel ?? slot.fallbackModel ?? pool.fallbackModel,
    jsonSchema: task.jsonSchema,
    maxBudgetUsd: task.maxBudgetUsd,
  };
}

/** One line of identity for the agent: "You are NAME, a ROLE. DESCRIPTION". */
export function identityLine(slot: SlotConfig): string | undefined {
  if (!slot.name && !slot.role && !slot.description) return undefined;
  let line = `You are ${slot.name ?? 'a slot'}`;
  if (slot.role) line += `, a ${slot.role}`;
  if (slot.description) line += `. ${slot.description}`;
  else if (slot.role) line += '.';
  return line;
}
