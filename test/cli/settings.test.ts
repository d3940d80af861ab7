/**
 * Settings: flags > config file > environment > defaults, validation with field names, binary lookup.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseChainFile } from '../../src/cli/chain-file.js';
import {
  SETTING_FIELDS,
  SettingsError,
  defaultSettings,
  resolveClaudeBinary,
  resolveSettings,
  settingsFromEnv,
} from '../../src/cli/settings.js';
import { parsePromptLines } from '../../src/cli/commands/fan-out.js';
import { cleanupDirs, tempDir } from './support.js';

afterEach(() => cleanupDirs());

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as SettingsError).problems;
  }
  throw new Error('expected a SettingsError');
}

describe('resolveSettings', () => {
  it('uses the defaults when nothing is given', () => {
    const cwd = tempDir();
    const resolved = resolveSettings({ cwd, env: {} });
    expect(resolved.settings).toEqual(defaultSettings());
    expect(resolved.settings).toMatchObject({
      slots: 2,
      permissionMode: 'plan',
      minSlots: 1,
      maxSlots: 16,
      worktree: false,
    });
    expect(Object.values(resolved.sources).every((s) => s === 'default')).toBe(true);
    expect(resolved.configFile).toBeUndefined();
  });

  it('takes flags over the config file over the environment over the defaults', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'claude-pool.config.json'), JSON.stringify({ slots: 3, model: 'haiku', budgetUsd: 4 }));
    const env = {
      CLAUDE_POOL_SLOTS: '5',
      CLAUDE_POOL_MODEL: 'opus',
      CLAUDE_POOL_EFFORT: 'high',
      CLAUDE_POOL_MAX_SLOTS: '8',
    };
    const resolved = resolveSettings({ cwd, env, flags: { model: 'sonnet' } });
    expect(resolved.settings).toMatchObject({
      slots: 3,
      model: 'sonnet',
      budgetUsd: 4,
      effort: 'high',
      maxSlots: 8,
      minSlots: 1,
    });
    expect(resolved.sources).toMatchObject({
      slots: 'file',
      model: 'flag',
      budgetUsd: 'file',
      effort: 'env',
      maxSlots: 'env',
      minSlots: 'default',
    });
    expect(resolved.configFile).toBe(join(cwd, 'claude-pool.config.json'));
  });

  it('reads TOML and YAML files; keys may be snake_case, kebab-case or camelCase', () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'claude-pool.config.toml'),
      'slots = 4\nbudget_usd = 1.5\npermission-mode = "acceptedits"\nsystemPrompt = "Be brief."\nworktree = true\nskills_dir = "skills"\n',
    );
    mkdirSync(join(cwd, 'skills'));
    const toml = resolveSettings({ cwd, env: {} }).settings;
    expect(toml).toMatchObject({
      slots: 4,
      budgetUsd: 1.5,
      permissionMode: 'acceptEdits',
      systemPrompt: 'Be brief.',
      worktree: true,
    });
    expect(toml.skillsDir).toBe(join(cwd, 'skills')); // relative to the file

    const other = tempDir();
    writeFileSync(join(other, 'pool.yaml'), 'slots: 6\neffort: min\nmax_slots: 10\n');
    const yaml = resolveSettings({ cwd: other, env: {}, configPath: 'pool.yaml' }).settings;
    expect(yaml).toMatchObject({ slots: 6, effort: 'low', maxSlots: 10 });
  });

  it('finds the config file from $CLAUDE_POOL_CONFIG; --config wins over it', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'a.json'), '{"slots": 7}');
    writeFileSync(join(cwd, 'b.json'), '{"slots": 9}');
    expect(resolveSettings({ cwd, env: { CLAUDE_POOL_CONFIG: 'a.json' } }).settings.slots).toBe(7);
    expect(resolveSettings({ cwd, env: { CLAUDE_POOL_CONFIG: 'a.json' }, configPath: 'b.json' }).settings.slots).toBe(
      9,
    );
  });

  it('reports every problem of every source together, each naming its field and source', () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'claude-pool.config.json'),
      JSON.stringify({ slots: '3', effort: 'huge', worktree: 'yes', colour: 'blue' }),
    );
    const problems = problemsOf(() =>
      resolveSettings({ cwd, env: { CLAUDE_POOL_BUDGET_USD: '-1' }, flags: { permissionMode: 'yolo' } }),
    );
    const file = join(cwd, 'claude-pool.config.json');
    expect(problems).toEqual(
      expect.arrayContaining([
        `--permission-mode: expected one of default, acceptEdits, bypassPermissions, dontAsk, plan, auto, got "yolo"`,
        `${file}: slots: expected an integer >= 0, got "3"`,
        `${file}: effort: expected one of low, medium, high, xhigh, max (or min), got "huge"`,
        `${file}: worktree: expected true or false, got "yes"`,
        `${file}: unknown setting 'colour'`,
        'CLAUDE_POOL_BUDGET_USD: expected an amount in USD greater than 0, got "-1"',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('suggests the nearest setting for a misspelt key', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'claude-pool.config.json'), JSON.stringify({ budget_usdd: 3, max_slot: 4 }));
    const problems = problemsOf(() => resolveSettings({ cwd, env: {} }));
    expect(problems.join('\n')).toContain("unknown setting 'budget_usdd' (did you mean 'budget_usd'?)");
    expect(problems.join('\n')).toContain("unknown setting 'max_slot' (did you mean 'max_slots'?)");
  });

  it('reports syntax errors, a missing --config file, and two config files in one directory', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'bad.json'), '{ "slots": 2,, }');
    expect(problemsOf(() => resolveSettings({ cwd, env: {}, configPath: 'bad.json' }))[0]).toMatch(
      /bad\.json: invalid JSON/,
    );
    expect(problemsOf(() => resolveSettings({ cwd, env: {}, configPath: 'missing.toml' }))[0]).toContain(
      '--config: config file',
    );
    writeFileSync(join(cwd, 'claude-pool.config.json'), '{}');
    writeFileSync(join(cwd, 'claude-pool.config.toml'), '');
    expect(problemsOf(() => resolveSettings({ cwd, env: {} }))[0]).toContain('keep one, or choose with --config');
    writeFileSync(join(cwd, 'list.json'), '[1, 2]');
    expect(problemsOf(() => resolveSettings({ cwd, env: {}, configPath: 'list.json' }))[0]).toContain(
      'expected a table/object',
    );
  });

  it('checks the slot bounds across sources', () => {
    const cwd = tempDir();
    const tooMany = problemsOf(() =>
      resolveSettings({ cwd, env: { CLAUDE_POOL_MAX_SLOTS: '4' }, flags: { slots: '6' } }),
    );
    expect(tooMany[0]).toBe('slots 6 (--slots) exceeds max_slots 4 (CLAUDE_POOL_MAX_SLOTS)');
    const inverted = problemsOf(() =>
      resolveSettings({ cwd, env: {}, flags: { minSlots: '5', maxSlots: '3', slots: '3' } }),
    );
    expect(inverted[0]).toBe('min_slots 5 (--min-slots) is more than max_slots 3 (--max-slots)');
  });

  it('checks that the folders exist', () => {
    const cwd = tempDir();
    const problems = problemsOf(() => resolveSettings({ cwd, env: {}, flags: { workingDir: 'nowhere' } }));
    expect(problems[0]).toContain(`working_dir ${join(cwd, 'nowhere')} (--working-dir): not a directory`);
  });

  it('parses environment values: booleans, numbers with $, case-insensitive modes; empty means unset', () => {
    const { values, problems } = settingsFromEnv({
      CLAUDE_POOL_WORKTREE: 'yes',
      CLAUDE_POOL_SIMULATED: '0',
      CLAUDE_POOL_BUDGET_USD: '$2.50',
      CLAUDE_POOL_PERMISSION_MODE: 'BYPASSPERMISSIONS',
      CLAUDE_POOL_MODEL: '',
    });
    expect(problems).toEqual([]);
    expect(values).toEqual({ worktree: true, simulated: false, budgetUsd: 2.5, permissionMode: 'bypassPermissions' });
  });

  it('lets the higher source decide between --binary and --simulated; both in one source is an error', () => {
    const cwd = tempDir();
    const flagBinary = resolveSettings({
      cwd,
      env: { CLAUDE_POOL_SIMULATED: 'true' },
      flags: { binary: '/usr/bin/claude' },
    });
    expect(flagBinary.settings).toMatchObject({ simulated: false, binary: '/usr/bin/claude' });
    const flagSimulated = resolveSettings({
      cwd,
      env: { CLAUDE_POOL_BINARY: '/opt/claude' },
      flags: { simulated: true },
    });
    expect(flagSimulated.settings.simulated).toBe(true);
    expect(flagSimulated.settings.binary).toBeUndefined();
    expect(
      problemsOf(() => resolveSettings({ cwd, env: {}, flags: { simulated: true, binary: 'claude' } }))[0],
    ).toContain('--binary and --simulated both given');
  });

  it('reads the back-pressure settings from flags, the environment and a config file', () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'claude-pool.config.json'),
      JSON.stringify({ decrease_factor: 0.75, 'backoff-max-ms': 30_000, rateLimitRetries: 2 }),
    );
    const env = { CLAUDE_POOL_INCREASE_STEP: '0.5', CLAUDE_POOL_MIN_CONCURRENCY: '3' };
    const resolved = resolveSettings({ cwd, env, flags: { backoffBaseMs: '200', rateLimitRetries: '4' } });
    expect(resolved.settings).toMatchObject({
      decreaseFactor: 0.75,
      backoffMaxMs: 30_000,
      rateLimitRetries: 4,
      increaseStep: 0.5,
      minConcurrency: 3,
      backoffBaseMs: 200,
    });
    expect(resolved.sources).toMatchObject({ decreaseFactor: 'file', increaseStep: 'env', rateLimitRetries: 'flag' });
    const problems = problemsOf(() =>
      resolveSettings({
        cwd: tempDir(),
        env: { CLAUDE_POOL_DECREASE_FACTOR: '0' },
        flags: { minConcurrency: '0', increaseStep: 'fast', backoffMaxMs: '-1' },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'CLAUDE_POOL_DECREASE_FACTOR: expected a number between 0 and 1 (exclusive), got "0"',
        '--min-concurrency: expected an integer >= 1, got "0"',
        '--increase-step: expected a number greater than 0, got "fast"',
        '--backoff-max-ms: expected an integer >= 0, got "-1"',
      ]),
    );
  });

  it('documents a flag and an environment variable for every setting', () => {
    for (const field of SETTING_FIELDS) {
      expect(field.flag).toMatch(/^--[a-z-]+$/);
      expect(field.env).toMatch(/^CLAUDE_POOL_[A-Z_]+$/);
    }
  });
});

describe('resolveClaudeBinary', () => {
  it('finds a name on PATH and checks an explicit path', () => {
    const dir = tempDir();
    const fake = join(dir, 'claude');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o755);
    expect(resolveClaudeBinary(undefined, { PATH: `/nonexistent:${dir}` })).toBe(fake);
    expect(resolveClaudeBinary(fake, {})).toBe(fake);
    expect(() => resolveClaudeBinary(undefined, { PATH: '/nonexistent' })).toThrow(/claude binary not found in PATH/);
    const plain = join(dir, 'not-executable');
    writeFileSync(plain, '');
    expect(() => resolveClaudeBinary(plain, {})).toThrow(/is not an executable file/);
  });
});

describe('chain files and prompt files', () => {
  it('accepts the MCP step shape, the prompt/skill shorthands and camelCase keys', () => {
    const chain = parseChainFile(
      JSON.stringify({
        isolation: 'none',
        tags: ['t'],
        steps: [
          { name: 'a', prompt: 'do a', outputVars: { n: 'count' } },
          { name: 'b', skill: 'summarize', arguments: { target: 'x' }, model: 'haiku' },
          { name: 'c', type: 'prompt', value: 'do c', retries: 2, recovery_prompt: 'fix {error}' },
        ],
      }),
      'chain.json',
    );
    expect(chain.options).toEqual({ isolation: 'none', tags: ['t'] });
    expect(chain.steps).toEqual([
      { name: 'a', action: { type: 'prompt', prompt: 'do a' }, outputVars: { n: 'count' } },
      {
        name: 'b',
        action: { type: 'skill', skill: 'summarize', arguments: { target: 'x' } },
        config: { model: 'haiku' },
      },
      {
        name: 'c',
        action: { type: 'prompt', prompt: 'do c' },
        failurePolicy: { retries: 2, recoveryPrompt: 'fix {error}' },
      },
    ]);
  });

  it('reports problems by step and field', () => {
    expect(() => parseChainFile('- name: a\n  value: 3\n- value: x\n', 'c.yaml')).toThrow(
      /c\.yaml: steps\[0\]\.value: .*\n.*c\.yaml: steps\[1\]\.name/s,
    );
    expect(() => parseChainFile('[]', 'c.json')).toThrow('c.json: the chain has no steps');
    expect(() => parseChainFile('{"stepz": []}', 'c.json')).toThrow(/c\.json: expected a list of steps/);
  });

  it('reads one prompt per line, skipping blank lines and comments', () => {
    expect(parsePromptLines('one\n\n# note\n  two  \r\nthree')).toEqual(['one', 'two', 'three']);
  });
});
