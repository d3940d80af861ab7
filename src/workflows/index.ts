/**
 * Workflows: named, parameterised chains, their validation, loading and instantiation.
 */
export {
  WorkflowError,
  instantiateWorkflow,
  resolveWorkflowArguments,
  type Workflow,
  type WorkflowArgument,
  type WorkflowErrorCode,
  type WorkflowStep,
} from './workflow.js';
export { WorkflowRegistry } from './registry.js';
export { BUILTIN_WORKFLOWS } from './builtins.js';
export { parseWorkflowObject, type SkillLookup, type WorkflowParseOptions } from './definition.js';
