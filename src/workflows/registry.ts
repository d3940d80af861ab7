/**
 * The workflow registry: validated workflows by name.
 */
import type { ChainStep } from '../../machines/types.js';
import { parseDefinitionText } from '../skills/definition.js';
import { readDefinitionDirectory } from '../skills/files.js';
import { BUILTIN_WORKFLOWS } from './builtins.js';
import { parseWorkflowObject, type SkillLookup } from './definition.js';
import { WorkflowError, instantiateWorkflow, type Workflow } from './workflow.js';

/** Freezes an object and everything reachable from it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Workflows by name. Registering a name again replaces the earlier workflow. When constructed with a skill
 * registry, skill steps must name a skill found there (at registration time) and pass it valid arguments.
 * Stored workflows are validated, normalised, frozen copies.
 */
export class WorkflowRegistry {
  private readonly workflows = new Map<string, Workflow>();

  /** @param skills where skill steps are checked; without it, skill steps are not checked. */
  constructor(readonly skills?: SkillLookup) {}

  /**
   * A registry holding the built-in workflows; with `skills`, they are checked against it, and a built-in
   * workflow whose skill steps name a skill that `skills` lacks (built-in skills turned off or disabled) is
   * left out.
   */
  static withBuiltins(skills?: SkillLookup): WorkflowRegistry {
    const registry = new WorkflowRegistry(skills);
    for (const workflow of BUILTIN_WORKFLOWS) {
      const usable = workflow.steps.every(
        (step) => step.action.type !== 'skill' || skills === undefined || skills.get(step.action.skill) !== undefined,
      );
      if (usable) registry.register(workflow);
    }
    return registry;
  }

  /**
   * Validates and stores a workflow, replacing any of the same name, and returns the stored copy. Throws
   * `WorkflowError` `invalid_definition` listing every problem, e.g.
   * `invalid workflow 'x': steps[1].name 'a' is already used by steps[0]`.
   */
  register(workflow: Workflow): Workflow {
    const parsed = parseWorkflowObject(workflow, { skills: this.skills });
    if (!parsed.ok) {
      const label =
        typeof workflow?.name === 'string' && workflow.name !== ''
          ? `invalid workflow '${workflow.name}'`
          : 'invalid workflow';
      throw new WorkflowError('invalid_definition', `${label}: ${parsed.problems.join('; ')}`, parsed.problems);
    }
    const stored = deepFreeze(parsed.value);
    this.workflows.set(stored.name, stored);
    return stored;
  }

  /** The workflow of that name, if any. */
  get(name: string): Workflow | undefined {
    return this.workflows.get(name);
  }

  /** True when a workflow of that name is registered. */
  has(name: string): boolean {
    return this.workflows.has(name);
  }

  /** Every workflow, sorted by name. */
  list(): Workflow[] {
    return [...this.workflows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Removes a workflow; true when it existed. */
  remove(name: string): boolean {
    return this.workflows.delete(name);
  }

  /** Number of registered workflows. */
  get size(): number {
    return this.workflows.size;
  }

  /**
   * Instantiates a registered workflow into chain steps (see `instantiateWorkflow`). An unknown name is
   * `WorkflowError` `not_found`: `workflow '{name}' not found`.
   */
  instantiate(name: string, args: Readonly<Record<string, string>> = {}): ChainStep[] {
    const workflow = this.get(name);
    if (workflow === undefined) throw new WorkflowError('not_found', `workflow '${name}' not found`);
    return instantiateWorkflow(workflow, args);
  }

  /**
   * Loads every `*.json`, `*.yaml` and `*.yml` file of a directory (one workflow each, named after the file
   * when `name` is absent), in sorted name order; other entries are ignored.
   *
   * All or nothing: when any file is invalid, or two files define the same name, nothing is registered and
   * one `WorkflowError` `invalid_definition` names every file and problem (`flows/x.yaml: steps[0].name is
   * required`). A missing directory is `not_found`. Returns the registered workflows.
   */
  async loadDirectory(dir: string): Promise<Workflow[]> {
    const read = await readDefinitionDirectory(dir);
    if ('problem' in read) {
      const why = read.problem === 'missing' ? 'not found' : 'is not a directory';
      throw new WorkflowError('not_found', `workflow directory '${dir}' ${why}`);
    }
    const problems: string[] = [];
    const found: { file: string; workflow: Workflow }[] = [];
    for (const entry of read.files) {
      const text = parseDefinitionText(entry.file, entry.text);
      const result =
        'error' in text
          ? { ok: false as const, problems: [text.error] }
          : parseWorkflowObject(text.value, { defaultName: entry.stem, skills: this.skills });
      if (!result.ok) {
        problems.push(...result.problems.map((p) => `${entry.file}: ${p}`));
        continue;
      }
      const earlier = found.find((f) => f.workflow.name === result.value.name);
      if (earlier !== undefined) {
        problems.push(`${entry.file}: name '${result.value.name}' is already defined in ${earlier.file}`);
        continue;
      }
      found.push({ file: entry.file, workflow: result.value });
    }
    if (problems.length > 0) throw new WorkflowError('invalid_definition', problems.join('; '), problems);
    return found.map((f) => this.register(f.workflow));
  }
}
