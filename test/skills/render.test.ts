import { describe, expect, it } from 'vitest';
import { NO_SKILL_DIR, SkillError, renderSkill, type Skill } from '../../src/skills/index.js';

const review: Skill = {
  name: 'review',
  description: 'Review something',
  prompt: 'Review {target} focusing on {focus}.',
  arguments: [
    { name: 'target', description: 'what', required: true },
    { name: 'focus', description: 'aspect', required: false, default: 'correctness' },
  ],
  scope: 'task',
};

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('renderSkill', () => {
  it('substitutes given arguments and fills defaults', () => {
    expect(renderSkill(review, { target: 'src/a.ts' })).toBe('Review src/a.ts focusing on correctness.');
    expect(renderSkill(review, { target: 'src/a.ts', focus: 'speed' })).toBe('Review src/a.ts focusing on speed.');
  });

  it('uses an empty string for an absent optional argument without default', () => {
    const skill: Skill = { ...review, prompt: 'A{x}B', arguments: [{ name: 'x', description: '', required: false }] };
    expect(renderSkill(skill, {})).toBe('AB');
  });

  it('rejects a missing required argument with the exact message', () => {
    const error = catchError(() => renderSkill(review, {}));
    expect(error).toBeInstanceOf(SkillError);
    expect(error).toBeInstanceOf(Error);
    expect((error as SkillError).code).toBe('missing_argument');
    expect((error as SkillError).name).toBe('SkillError');
    expect((error as SkillError).message).toBe("missing required argument 'target' for skill 'review'");
  });

  it('accepts a required argument with a default when absent', () => {
    const skill: Skill = {
      ...review,
      arguments: [{ name: 'target', description: '', required: true, default: '.' }, review.arguments[1]],
    };
    expect(renderSkill(skill)).toBe('Review . focusing on correctness.');
  });

  it('rejects unknown arguments and lists the valid ones', () => {
    const error = catchError(() => renderSkill(review, { target: 'x', fcous: 'y' })) as SkillError;
    expect(error.code).toBe('unknown_argument');
    expect(error.message).toBe("unknown argument 'fcous' for skill 'review' (valid arguments: target, focus)");
    const none: Skill = { ...review, prompt: 'hi', arguments: [] };
    expect((catchError(() => renderSkill(none, { a: '1', b: '2' })) as SkillError).message).toBe(
      "unknown arguments 'a', 'b' for skill 'review' (it takes no arguments)",
    );
  });

  it('always accepts _previous_output', () => {
    const none: Skill = { ...review, prompt: 'hi', arguments: [] };
    expect(renderSkill(none, { _previous_output: '' })).toBe('hi');
  });

  it('substitutes {_previous_output} where the template mentions it', () => {
    const skill: Skill = { ...review, prompt: 'Fix {target} given:\n{_previous_output}\nDone.' };
    expect(renderSkill(skill, { target: 'a', _previous_output: 'OUT' })).toBe('Fix a given:\nOUT\nDone.');
    expect(renderSkill(skill, { target: 'a' })).toBe('Fix a given:\n\nDone.');
  });

  it('appends the previous output when the template does not mention it and it is non-empty', () => {
    expect(renderSkill(review, { target: 'a', _previous_output: 'OUT' })).toBe(
      'Review a focusing on correctness.\n\nPrevious step output:\nOUT',
    );
    expect(renderSkill(review, { target: 'a', _previous_output: '' })).toBe('Review a focusing on correctness.');
  });

  it('supports $ARGUMENTS and $ARGUMENTS[i]', () => {
    const skill: Skill = {
      ...review,
      prompt: 'All: $ARGUMENTS. First: $ARGUMENTS[0]. Second: $ARGUMENTS[1]. Third: [$ARGUMENTS[2]]',
    };
    expect(renderSkill(skill, { target: 'a b' })).toBe(
      'All: a b correctness. First: a b. Second: correctness. Third: []',
    );
  });

  it('appends ARGUMENTS when the template uses no argument', () => {
    const skill: Skill = { ...review, prompt: 'Do the thing.' };
    expect(renderSkill(skill, { target: 'x' })).toBe('Do the thing.\n\nARGUMENTS: x correctness');
  });

  it('substitutes in one pass, so values are not re-expanded', () => {
    expect(renderSkill(review, { target: '{focus}', focus: '$ARGUMENTS' })).toBe(
      'Review {focus} focusing on $ARGUMENTS.',
    );
  });

  it('leaves chain placeholders, shell variables and undeclared placeholders alone', () => {
    const skill: Skill = {
      ...review,
      prompt: 'Use {previous_output} and {steps.plan.files} for {target}; echo ${HOME} ${target} {other}',
    };
    expect(renderSkill(skill, { target: 'a' })).toBe(
      'Use {previous_output} and {steps.plan.files} for a; echo ${HOME} ${target} {other}',
    );
  });

  it('substitutes ${CLAUDE_SKILL_DIR} with the folder, or a note when the skill has none', () => {
    const skill: Skill = { ...review, prompt: 'Run ${CLAUDE_SKILL_DIR}/check.sh on {target}' };
    expect(renderSkill(skill, { target: 'a' })).toBe(`Run ${NO_SKILL_DIR}/check.sh on a`);
    expect(NO_SKILL_DIR).toBe('[CLAUDE_SKILL_DIR unavailable: skill has no directory]');
    expect(renderSkill({ ...skill, skillDir: '/skills/x' }, { target: 'a' })).toBe('Run /skills/x/check.sh on a');
  });

  it('supports $i for a declared index and leaves other $N (prices) alone', () => {
    const skill: Skill = { ...review, prompt: 'Check $0 for $1, costs $5 and $10' };
    expect(renderSkill(skill, { target: 'a.ts', focus: 'speed' })).toBe('Check a.ts for speed, costs $5 and $10');
    const onlyPrice: Skill = { ...review, prompt: 'Keep it under $2' };
    expect(renderSkill(onlyPrice, { target: 'a.ts' })).toBe('Keep it under $2\n\nARGUMENTS: a.ts correctness');
    const amounts: Skill = { ...review, prompt: 'Spend $1.50 or $1,000 on $0, then $1.' };
    expect(renderSkill(amounts, { target: 'x', focus: 'y' })).toBe('Spend $1.50 or $1,000 on x, then y.');
    const escaped: Skill = { ...review, prompt: 'Use $0 not $$0 or a$0 [$ARGUMENTS[1]]' };
    expect(renderSkill(escaped, { target: 'x' })).toBe('Use x not $$0 or a$0 [correctness]');
  });

  it('a template using only $0 counts as using its arguments (nothing appended)', () => {
    const skill: Skill = { ...review, prompt: 'Look at $0' };
    expect(renderSkill(skill, { target: 'x', focus: 'y' })).toBe('Look at x');
  });

  it('runs !`cmd` markers of the template with the given runner, never those in argument values', () => {
    const skill: Skill = { ...review, prompt: 'Branch: !`git branch --show-current` for {target}; open !`unclosed' };
    const ran: string[] = [];
    const text = renderSkill(
      skill,
      { target: '!`rm -rf /`' },
      { runCommand: (command) => (ran.push(command), 'main') },
    );
    expect(text).toBe('Branch: main for !`rm -rf /`; open !`unclosed');
    expect(ran).toEqual(['git branch --show-current']);
  });

  it('does not run !`cmd` markers', () => {
    const skill: Skill = { ...review, prompt: 'Status: !`echo hacked` for {target}' };
    expect(renderSkill(skill, { target: 'a' })).toBe('Status: !`echo hacked` for a');
  });
});
