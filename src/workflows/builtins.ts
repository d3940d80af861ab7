/**
 * The built-in workflows: the reference's three (`issue_to_pr`, `refactor_and_test`, `review_and_fix`, with
 * its argument names; the earlier names stay accepted as aliases) plus `implement_and_test` and
 * `plan_implement_review`. Their skill steps use the built-in skills; a registry that validates skill steps
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
      {
        name: 'test_command',
        description: 'The command that runs the tests.',
        required: false,
        default: DEFAULT_TEST_COMMAND,
      },
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
        action: {
          type: 'skill',
          skill: 'write_tests',
          arguments: { target: 'the code just implemented for: {description}' },
        },
      },
      {
        name: 'verify',
        action: { type: 'skill', skill: 'fix_failures', arguments: { command: '{test_command}' } },
        failurePolicy: { retries: 1 },
      },
    ],
  },
  {
    name: 'issue_to_pr',
    description:
      'Take an issue to a ready change: analyse it, implement it, write tests, then run the checks and fix them.',
    arguments: [
      {
        name: 'issue_url',
        description: 'The issue: a URL, a number, or its text.',
        required: true,
        aliases: ['issue'],
      },
    ],
    steps: [
      {
        name: 'analyze_issue',
        action: {
          type: 'skill',
          skill: 'summarize',
          arguments: {
            target: 'the issue {issue_url}: what it asks for, the code it concerns, and how to verify a fix',
          },
        },
      },
      {
        name: 'implement_solution',
        action: {
          type: 'skill',
          skill: 'implement',
          arguments: { description: 'the change that resolves the issue {issue_url}, following the analysis below' },
        },
        failurePolicy: {
          retries: 1,
          recoveryPrompt:
            'The previous attempt to resolve the issue {issue_url} failed:\n\n{error}\n\nInspect the current state of the code and try a different approach. The analysis was:\n\n{previous_output}',
        },
      },
      {
        name: 'write_tests',
        action: {
          type: 'skill',
          skill: 'write_tests',
          arguments: { target: 'the change just made for the issue {issue_url}' },
        },
      },
      {
        name: 'run_checks',
        action: { type: 'skill', skill: 'pre_push' },
        failurePolicy: {
          retries: 2,
          recoveryPrompt: 'The checks failed:\n\n{error}\n\nFix the failures and run the checks again.',
        },
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
        action: {
          type: 'skill',
          skill: 'code_review',
          arguments: { target: 'the changes just made to implement: {task}' },
        },
      },
    ],
  },
  {
    name: 'refactor_and_test',
    description: 'Refactor code toward a goal, write tests for it, then run the tests and fix failures.',
    arguments: [
      {
        name: 'target_file',
        description: 'The code to refactor (a file, module or symbol).',
        required: true,
        aliases: ['target'],
      },
      { name: 'refactor_goal', description: 'What the refactoring should achieve.', required: true, aliases: ['goal'] },
      {
        name: 'test_command',
        description: 'The command that runs the tests.',
        required: false,
        default: DEFAULT_TEST_COMMAND,
      },
    ],
    steps: [
      {
        name: 'refactor',
        action: { type: 'skill', skill: 'refactor', arguments: { target: '{target_file}', goal: '{refactor_goal}' } },
        failurePolicy: {
          retries: 1,
          recoveryPrompt:
            'Refactoring {target_file} ({refactor_goal}) failed:\n\n{error}\n\nUndo any half-finished change that breaks the build, then try a smaller, safer refactoring toward the same goal.',
        },
      },
      { name: 'write_tests', action: { type: 'skill', skill: 'write_tests', arguments: { target: '{target_file}' } } },
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
    arguments: [{ name: 'review_target', description: 'What to review and fix.', required: true, aliases: ['target'] }],
    steps: [
      { name: 'review', action: { type: 'skill', skill: 'code_review', arguments: { target: '{review_target}' } } },
      {
        name: 'fix',
        action: {
          type: 'prompt',
          prompt: [
            'Apply the fixes from this review of {review_target}. Address every critical and major finding, and minor',
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
            'Applying the review fixes for {review_target} failed:\n\n{error}\n\nTry a different approach to fixing the issues raised in the review:\n\n{previous_output}',
        },
      },
      {
        name: 'verify',
        action: {
          type: 'skill',
          skill: 'code_review',
          arguments: {
            target: '{review_target}, checking in particular that the fixes just applied are correct and complete',
          },
        },
      },
    ],
  },
];
