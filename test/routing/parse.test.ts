import { describe, expect, it } from 'vitest';
import { RouteParseError, buildRoutingPrompt, extractRoute, ROUTER_PROMPT } from '../../src/routing/index.js';

describe('extracting the routing decision', () => {
  it('reads a reply that is the JSON itself', () => {
    expect(extractRoute('{"route":"single","prompt":"do it"}')).toEqual({
      decision: { route: 'single', prompt: 'do it' },
      extraction: 'direct',
    });
  });

  it('reads the first ```json block after leading prose', () => {
    const reply =
      'Sure, here it is:\n```json\n{"route":"parallel","prompts":["a","b"]}\n```\nand a bare one:\n```\n{"route":"single","prompt":"x"}\n```';
    expect(extractRoute(reply)).toEqual({
      decision: { route: 'parallel', prompts: ['a', 'b'] },
      extraction: 'json_fence',
    });
  });

  it('reads the first bare ``` block when there is no json block', () => {
    const reply =
      'Decision:\n```\n{"route":"chain","steps":[{"name":"look","prompt":"Look"},{"name":"fix","prompt":"Fix {previous_output}"}]}\n```';
    expect(extractRoute(reply)).toEqual({
      decision: {
        route: 'chain',
        steps: [
          { name: 'look', prompt: 'Look' },
          { name: 'fix', prompt: 'Fix {previous_output}' },
        ],
      },
      extraction: 'bare_fence',
    });
  });

  it('finds an object embedded in prose with trailing text, braces inside strings included', () => {
    const reply = 'I think {this} is best: {"route": "single", "prompt": "print {x} and }"} -- hope that helps {';
    expect(extractRoute(reply)).toEqual({
      decision: { route: 'single', prompt: 'print {x} and }' },
      extraction: 'embedded',
    });
  });

  it('names unnamed or repeated chain steps and accepts any case for the route', () => {
    const { decision } = extractRoute(
      '{"route":"CHAIN","steps":[{"prompt":"a"},{"name":"b","prompt":"b"},{"name":"b","prompt":"c"}]}',
    );
    expect(decision).toEqual({
      route: 'chain',
      steps: [
        { name: 'step_1', prompt: 'a' },
        { name: 'b', prompt: 'b' },
        { name: 'b_3', prompt: 'c' },
      ],
    });
  });

  it.each([
    ['plain prose', 'I would do this as one task.', /no routing decision/],
    ['an unknown route', '{"route":"sequential","prompt":"x"}', /unknown route "sequential"/],
    ['a single route without a prompt', '{"route":"single"}', /non-empty "prompt"/],
    ['a parallel route with an empty list', '{"route":"parallel","prompts":[]}', /non-empty list of non-empty strings/],
    ['a chain step without a prompt', '{"route":"chain","steps":[{"name":"a"}]}', /chain step 1 needs/],
    ['a JSON array', '[1,2]', /must be a JSON object/],
    ['an unbalanced embedded object', 'answer: {"route":"single","prompt":"x"', /no routing decision/],
  ])('rejects %s', (_label, reply, message) => {
    expect(() => extractRoute(reply)).toThrow(RouteParseError);
    expect(() => extractRoute(reply)).toThrow(message);
  });
});

describe('the routing prompt', () => {
  it('is the router prompt and the task when there are no hints', () => {
    expect(buildRoutingPrompt('do X')).toBe(`${ROUTER_PROMPT}\n\n## Task\n\ndo X`);
  });

  it('adds a constraints section with one line per hint, and a custom prompt replaces the base', () => {
    const prompt = buildRoutingPrompt('do X', {
      customPrompt: 'Route this.',
      hints: {
        maxParallel: 3,
        maxChainSteps: 4,
        prefer: 'prefer_chain',
        domain: 'web',
        decompositionHints: ['api', 'ui'],
      },
    });
    expect(prompt).toBe(
      [
        'Route this.',
        '',
        '## Constraints',
        '',
        '- Maximum parallel tasks: 3',
        '- Maximum chain steps: 4',
        '- Preferred route: chain (but choose differently if the task clearly warrants it)',
        '- Domain: web',
        '- Suggested decomposition boundaries: api, ui',
        '',
        '## Task',
        '',
        'do X',
      ].join('\n'),
    );
    expect(buildRoutingPrompt('t', { hints: { decompositionHints: [] } })).not.toContain('## Constraints');
  });
});
