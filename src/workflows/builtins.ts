/**
 * The built-in workflows. Their skill steps use the built-in skills; a registry that validates skill steps
 * must hold those skills to register them.
 */
import type { Workflow } from './workflow.js';

/** Default of the optional `test_command` argument: reads as "Run the project's test suite and fix …". */
const DEFAULT_TEST_COMMAND = "the project's test suite";

/** The built-in workflows, sorted by name. */
export const BUILTIN_WORKFLOWS: readonly Workflow[] = [
  {
    name: 'implement_and_test',
    description: 'Implement a change, write tests for it, then run the tests and fix failures.',
    arguments: [
      { name: 'description', description: 'What to implement.', required: true },
      { name: 'test_command', description: 'The command that runs the tests.', required: false, default: DEFAULT_TEST_COMMAND },
    ],
    steps: [
      {
        name: 'implement',
        action: { type: 'skill', skill: 'implement', arguments: { description: '{description}' } },
        failurePolicy: {
          retries: 1,
          recoveryPrompt:
            'Implementing "{description}" failed:\n\n{error}\n\nInspect the current state of the code, then complete the implementation with a different approach.',
        },
      },
      {
        name: 'write_tests',
        action: { type: 'skill', skill: 'write_tests', arguments: { target: 'the code just implemented for: {description}' } },
      },
      {
        name: 'verify',
        action: { type: 'skill', skill: 'fix_failures', arguments: { command: '{test_command}' } },
        failurePolicy: { retries: 1 },
      },
    ],
  },
  {
    name: 'plan_implement_review',
    description: 'Plan a task without editing, implement the plan, then review the result.',
    arguments: [{ name: 'task', description: 'The task to accomplish.', required: true }],
    steps: [
      { name: 'plan', action: { type: 'skill', skill: 'plan', arguments: { task: '{task}' } } },
      {
        name: 'implement',
        action: {
          type: 'prompt',
          prompt: [
            'Implement this task: {task}',
            '',
            "Follow the plan below. Read the code you change, keep to the project's conventions, add or update",
            'tests, and run them. Finish with a summary of the files you changed and why.',
            '',
            'Plan:',
            '{previous_output}',
          ].join('\n'),
        },
        failurePolicy: {
          retries: 1,
          recoveryPrompt: [
            'An attempt to implement "{task}" failed:',
            '',
            '{error}',
            '',
            'Inspect the current state of the code, then finish the implementation with a different approach.',
            'The plan was:',
            '',
            '{previous_output}',
          ].join('\n'),
        },
      },
      {
        name: 'review',
        action: { type: 'skill', skill: 'code_review', arguments: { target: 'the changes just made to implement: {task}' } },
      },
    ],
  },
  {
    name: 'refactor_and_test',
    description: 'Refactor code toward a goal, write tests for it, then run the tests and fix failures.',
    arguments: [
      { name: 'target', description: 'The code to refactor.', required: true },
      { name: 'goal', description: 'What the refactoring should achieve.', required: true },
      { name: 'test_command', description: 'The command that runs the tests.', required: false, default: DEFAULT_TEST_COMMAND },
    ],
    steps: [
      {
        name: 'refactor',
        action: { type: 'skill', skill: 'refactor', arguments: { target: '{target}', goal: '{goal}' } },
        failurePolicy: {
          retries: 1,
          recoveryPrompt:
            'Refactoring {target} ({goal}) failed:\n\n{error}\n\nUndo any half-finished change that breaks the build, then try a smaller, safer refactoring toward the same goal.',
        },
      },
      { name: 'write_tests', action: { type: 'skill', skill: 'write_tests', arguments: { target: '{target}' } } },
      {
        name: 'verify',
        action: { type: 'skill', skill: 'fix_failures', arguments: { command: '{test_command}' } },
        failurePolicy: { retries: 1 },
      },
    ],
  },
  {
    name: 'review_and_fix',
    description: 'Review code, apply the fixes the review asks for, then review again.',
    arguments: [{ name: 'target', description: 'What to review and fix.', required: true }],
    steps: [
      { name: 'review', action: { type: 'skill', skill: 'code_review', arguments: { target: '{target}' } } },
      {
        name: 'fix',
        action: {
          type: 'prompt',
          prompt: [
            'Apply the fixes from this review of {target}. Address every critical and major finding, and minor',
            'ones when they are clearly right. Keep behaviour otherwise unchanged and run the relevant tests.',
            'Finish with what you changed for each finding, and any finding you did not address and why.',
            '',
            'Review:',
            '{previous_output}',
          ].join('\n'),
        },
        failurePolicy: {
          retries: 1,
          recoveryPrompt:
            'Applying the review fixes for {target} failed:\n\n{error}\n\nTry a different approach to fixing the issues raised in the review:\n\n{previous_output}',
        },
      },
      {
        name: 'verify',
        action: { type: 'skill', skill: 'code_review', arguments: { target: '{target}, checking in particular that the fixes just applied are correct and complete' } },
      },
    ],
  },
];
