/**
 * Chain templating: previous output, step references, the error of a failed step, and output variables.
 */
import { describe, expect, it } from 'vitest';
import {
  expandStepRefs,
  extractOutputVar,
  renderRecoveryPrompt,
  renderStepPrompt,
  substitutePreviousOutput,
} from '../../machines/templating.js';

describe('substitutePreviousOutput', () => {
  it('replaces every occurrence', () => {
    expect(substitutePreviousOutput('a {previous_output} b {previous_output}', 'X')).toBe('a X b X');
    expect(substitutePreviousOutput('nothing here', 'X')).toBe('nothing here');
  });
});

describe('expandStepRefs', () => {
  const vars = { 'plan.title': 'Fix it', 'plan.items.0': 'first', 'build.log': '' };
  it('expands known references, several in one template', () => {
    expect(expandStepRefs('{steps.plan.title} / {steps.plan.items.0}', vars)).toBe('Fix it / first');
  });
  it('expands a reference to an empty value as empty', () => {
    expect(expandStepRefs('[{steps.build.log}]', vars)).toBe('[]');
  });
  it('leaves an unknown {steps.X.Y} as written', () => {
    expect(expandStepRefs('see {steps.plan.missing} and {steps.other.title}', vars)).toBe(
      'see {steps.plan.missing} and {steps.other.title}',
    );
  });
  it('leaves text that is not a step reference alone', () => {
    expect(expandStepRefs('{steps.plan} {steps..title} {steps.pl an.title} {step.plan.title}', vars)).toBe(
      '{steps.plan} {steps..title} {steps.pl an.title} {step.plan.title}',
    );
    expect(expandStepRefs('{steps.plan.ti tle}', { 'plan.ti tle': 'no' })).toBe('{steps.plan.ti tle}');
  });
});

describe('rendering', () => {
  it('puts the previous output in first, then expands step references (also inside it)', () => {
    expect(renderStepPrompt('Given {previous_output}: {steps.a.b}', 'out {steps.a.b}', { 'a.b': 'V' })).toBe(
      'Given out V: V',
    );
  });
  it('fills {error} in a recovery prompt, then the previous output and step references', () => {
    expect(
      renderRecoveryPrompt('{error} after {previous_output} ({steps.a.b}) {error}', 'boom', 'prev', { 'a.b': 'V' }),
    ).toBe('boom after prev (V) boom');
  });
});

describe('extractOutputVar', () => {
  const json = JSON.stringify({
    title: 'T',
    count: 3,
    nested: { deep: { leaf: 'L' } },
    list: ['x', { y: 1 }],
    nothing: null,
  });
  it('gives the whole output for an empty path or "."', () => {
    expect(extractOutputVar('plain text', '')).toBe('plain text');
    expect(extractOutputVar('plain text', '.')).toBe('plain text');
    expect(extractOutputVar('plain text', '  .  ')).toBe('plain text');
    expect(extractOutputVar('plain text', '   ')).toBe('plain text');
  });
  it('gives strings as they are and other values as compact JSON', () => {
    expect(extractOutputVar(json, 'title')).toBe('T');
    expect(extractOutputVar(json, 'count')).toBe('3');
    expect(extractOutputVar(json, 'nested')).toBe('{"deep":{"leaf":"L"}}');
    expect(extractOutputVar(json, 'nothing')).toBe('null');
  });
  it('resolves a nested path, with array indexes as keys', () => {
    expect(extractOutputVar(json, 'nested.deep.leaf')).toBe('L');
    expect(extractOutputVar(json, 'list.0')).toBe('x');
    expect(extractOutputVar(json, 'list.1.y')).toBe('1');
  });
  it('ignores whitespace around the path and a leading dot', () => {
    expect(extractOutputVar(json, '  title  ')).toBe('T');
    expect(extractOutputVar(json, '.nested.deep.leaf')).toBe('L');
    expect(extractOutputVar(json, ' .title ')).toBe('T');
  });
  it('is undefined when the path does not resolve', () => {
    expect(extractOutputVar(json, 'missing')).toBeUndefined();
    expect(extractOutputVar(json, 'title.length')).toBeUndefined();
    expect(extractOutputVar(json, 'nothing.x')).toBeUndefined();
    expect(extractOutputVar(json, 'list.5')).toBeUndefined();
    expect(extractOutputVar(json, 'nested.deep.leaf.more')).toBeUndefined();
  });
  it('is undefined when the output is not JSON', () => {
    expect(extractOutputVar('not json', 'title')).toBeUndefined();
  });
  it('reads JSON inside a fenced code block, with or without a language', () => {
    const fenced = 'Here it is:\n```json\n{"title": "F"}\n```\ndone';
    expect(extractOutputVar(fenced, 'title')).toBe('F');
    expect(extractOutputVar('text\n```\n{"a": {"b": 2}}\n```', 'a.b')).toBe('2');
    expect(extractOutputVar('```json  \n{"a": 1}\n```', 'a')).toBe('1');
  });
  it('reads the first fenced block when there are several', () => {
    expect(extractOutputVar('```json\n{"a": 1}\n```\n```json\n{"a": 2}\n```', 'a')).toBe('1');
  });
  it('reads the whole output as JSON when a fence is not closed or has no line break', () => {
    expect(extractOutputVar('```json {"a": 1}```', 'a')).toBeUndefined();
    expect(extractOutputVar('{"a": "```\\n"}', 'a')).toBe('```\n');
  });
});
