/**
 * The built-in skills: general software-engineering prompts that assume no particular language, build
 * tool or forge. None of them sets a config, so they run with the pool's, slot's and task's settings
 * (a skill that edits files needs a permission mode that allows edits).
 */
import type { Skill } from './skill.js';

/** The built-in skills, sorted by name. */
export const BUILTIN_SKILLS: readonly Skill[] = [
  {
    name: 'code_review',
    description: 'Review code for bugs, security problems, and maintainability; report findings without editing.',
    argumentHint: '<file, directory, diff or change description>',
    scope: 'task',
    arguments: [{ name: 'target', description: 'What to review: a path, a diff, or a description of the change.', required: true }],
    prompt: [
      'Review {target}.',
      '',
      'Read the code and its surrounding context, then look for:',
      '- correctness bugs, unhandled edge cases and error paths;',
      '- security problems (injection, unsafe input handling, leaked secrets);',
      '- concurrency or resource-handling mistakes;',
      '- missing or weak tests for the behaviour that changed;',
      '- unclear naming, duplication, and needless complexity.',
      '',
      'Do not modify any files. Report each finding with its location (file and line), its severity',
      '(critical, major, minor or nit), what is wrong, and a concrete suggested fix. Finish with a one-line',
      'verdict. If you find nothing worth changing, say so plainly.',
    ].join('\n'),
  },
  {
    name: 'fix_failures',
    description: 'Run a command (tests, linter, build) and fix the causes of every failure it reports.',
    argumentHint: '<command>',
    scope: 'task',
    arguments: [{ name: 'command', description: 'The command to run, e.g. the test or lint command.', required: true }],
    prompt: [
      'Run {command} and fix every failure it reports.',
      '',
      'For each failure, find the root cause and fix it in the code under test; change a test only when the',
      'test itself is wrong, and never delete or skip a test to make it pass. Re-run the command after your',
      'changes and repeat until it succeeds. Finish with a short summary of each failure and how you fixed',
      'it, or explain what still fails and why.',
    ].join('\n'),
  },
  {
    name: 'implement',
    description: 'Implement a feature or change, following the conventions of the existing code.',
    argumentHint: '<what to implement>',
    scope: 'task',
    arguments: [{ name: 'description', description: 'What to implement.', required: true }],
    prompt: [
      'Implement the following: {description}',
      '',
      'First read the relevant code to learn its structure and conventions. Make focused changes that follow',
      'the existing style, handle errors and edge cases, and keep unrelated code untouched. Add or update',
      'tests for the new behaviour and run them. Finish with a summary of the files you changed and why.',
    ].join('\n'),
  },
  {
    name: 'plan',
    description: 'Produce a step-by-step implementation plan without changing any files.',
    argumentHint: '<task>',
    scope: 'task',
    arguments: [{ name: 'task', description: 'The task to plan.', required: true }],
    prompt: [
      'Plan how to accomplish this task: {task}',
      '',
      'Investigate the relevant code first, but do not modify any files. Then write a concrete plan:',
      '1. the files and components involved;',
      '2. the ordered steps, each small enough to verify on its own;',
      '3. the tests to add or update;',
      '4. risks, open questions and assumptions.',
      '',
      'The plan will be handed to another agent to carry out, so make it self-contained.',
    ].join('\n'),
  },
  {
    name: 'refactor',
    description: 'Restructure code toward a stated goal without changing its behaviour.',
    argumentHint: '<target> <goal>',
    scope: 'task',
    arguments: [
      { name: 'target', description: 'The code to refactor: a path, module or symbol.', required: true },
      { name: 'goal', description: 'What the refactoring should achieve.', required: true },
    ],
    prompt: [
      'Refactor {target} with this goal: {goal}',
      '',
      'Preserve the existing behaviour and public interfaces unless the goal requires otherwise. Work in small',
      'steps and keep the code compiling. Run the existing tests before and after; they must still pass.',
      'Finish with a summary of what you changed and anything callers need to know.',
    ].join('\n'),
  },
  {
    name: 'summarize',
    description: 'Explain what some code, document or change does, without editing anything.',
    argumentHint: '<file, directory, URL or topic>',
    scope: 'task',
    arguments: [{ name: 'target', description: 'What to summarise.', required: true }],
    prompt: [
      'Summarize {target}.',
      '',
      'Do not modify any files. Describe its purpose, its main parts and how they fit together, its',
      'important inputs, outputs and side effects, and anything surprising or risky. Keep it concise and',
      'use bullet points where they help.',
    ].join('\n'),
  },
  {
    name: 'write_tests',
    description: "Write tests for some code using the project's existing test framework and conventions.",
    argumentHint: '<file, module or behaviour>',
    scope: 'task',
    arguments: [{ name: 'target', description: 'What to test.', required: true }],
    prompt: [
      'Write tests for {target}.',
      '',
      "Use the project's existing test framework, layout and conventions. Cover the main behaviour, edge",
      'cases and error paths; prefer small, independent, deterministic tests. Run the tests you wrote and make',
      'sure they pass. If a test exposes a bug, report it rather than weakening the test. Finish with a',
      'summary of what the new tests cover.',
    ].join('\n'),
  },
];
