/**
 * The `claude-pool` command as a user runs it: output, exit codes, help, errors, signals. Needs `npm run build`.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedClaude } from '../../src/agent/simulated/path.js';
import { cleanEnv, cleanupDirs, runCli, startCli, tempDir, waitFor } from './support.js';

afterEach(() => cleanupDirs());

describe('help and usage errors', () => {
  it('--help lists the commands, exit codes and environment variables', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['demo', 'run', 'fan-out', 'chain', 'route-test', 'serve', 'status', 'inspect']) {
      expect(run.stdout).toContain(command);
    }
    expect(run.stdout).toContain('Exit codes:');
    expect(run.stdout).toContain('130');
    expect(run.stdout).toContain('CLAUDE_POOL_SLOTS');
  });

  it('every command has --help', async () => {
    for (const command of ['demo', 'run', 'fan-out', 'chain', 'route-test', 'serve', 'status', 'inspect']) {
      const run = await runCli([command, '--help']);
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toContain(`Usage: claude-pool ${command}`);
    }
    const run = await runCli(['run', '--help']);
    for (const flag of [
      '--slots',
      '--model',
      '--effort',
      '--budget-usd',
      '--permission-mode',
      '--binary',
      '--simulated',
      '--json',
    ]) {
      expect(run.stdout).toContain(flag);
    }
  });

  it('--version prints the version', async () => {
    const run = await runCli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a bad flag exits 2 with a clear message', async () => {
    const run = await runCli(['run', '--bogus', 'hello']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--bogus'");
    expect(run.stdout).toBe('');
  });

  it('a missing argument, an unknown command and no command exit 2', async () => {
    const missing = await runCli(['run']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'prompt'");
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const none = await runCli([]);
    expect(none.code).toBe(2);
  });

  it('an invalid flag value exits 2 naming the flag', async () => {
    const run = await runCli(['run', '--simulated', '-n', 'abc', 'hi']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--slots: expected an integer >= 0, got "abc"');
    const effort = await runCli(['status', '--simulated', '-e', 'extreme']);
    expect(effort.code).toBe(2);
    expect(effort.stderr).toContain('--effort');
  });

  it('takes the back-pressure flags, and exits 2 on a bad value naming the flag or the setting', async () => {
    const run = await runCli([
      'status',
      '--simulated',
      '--json',
      '-n',
      '4',
      '--min-concurrency',
      '2',
      '--decrease-factor',
      '0.25',
      '--increase-step',
      '0.5',
      '--rate-limit-retries',
      '7',
      '--backoff-base-ms',
      '250',
      '--backoff-max-ms',
      '8000',
    ]);
    expect(run.code).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body.settings).toMatchObject({
      min_concurrency: 2,
      decrease_factor: 0.25,
      increase_step: 0.5,
      rate_limit_retries: 7,
      backoff_base_ms: 250,
      backoff_max_ms: 8000,
    });
    expect(body.sources).toMatchObject({ decrease_factor: 'flag', backoff_max_ms: 'flag' });
    expect(body.status.concurrency).toEqual({ limit: 4, throttled: false, retrying_tasks: 0 });
    const factor = await runCli(['status', '--simulated', '--decrease-factor', '1.5']);
    expect(factor.code).toBe(2);
    expect(factor.stderr).toContain('--decrease-factor: expected a number between 0 and 1 (exclusive), got "1.5"');
    const step = await runCli(['status', '--simulated', '--increase-step', '0']);
    expect(step.code).toBe(2);
    expect(step.stderr).toContain('--increase-step: expected a number greater than 0, got "0"');
    const order = await runCli(['status', '--simulated', '--backoff-base-ms', '2000', '--backoff-max-ms', '100']);
    expect(order.code).toBe(2);
    expect(order.stderr).toContain('backpressure.backoffMaxMs (100) is less than backpressure.backoffBaseMs (2000)');
  });

  it('without --simulated and without claude on PATH, exits 2 explaining what to do', async () => {
    const run = await runCli(['run', 'hi'], { env: cleanEnv({ PATH: dirname(process.execPath) }) });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('claude binary not found in PATH');
    expect(run.stderr).toContain('--simulated');
  });
});

describe('config file and environment', () => {
  it('reports every problem of a config file, naming the file and the field', async () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'claude-pool.config.json'),
      JSON.stringify({ slots: 'four', modle: 'sonnet', permission_mode: 'yolo' }),
    );
    const run = await runCli(['status', '--simulated'], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('claude-pool.config.json: slots: expected an integer >= 0, got "four"');
    expect(run.stderr).toContain("unknown setting 'modle' (did you mean 'model'?)");
    expect(run.stderr).toContain('permission_mode: expected one of');
  });

  it('reports TOML syntax errors', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'claude-pool.config.toml'), 'slots = = 3\n');
    const run = await runCli(['status', '--simulated'], { cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('claude-pool.config.toml: invalid TOML');
  });

  it('a missing --config file exits 2', async () => {
    const run = await runCli(['status', '--simulated', '--config', 'nope.toml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('not found');
  });

  it('applies flags > config file > environment > defaults', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'claude-pool.config.toml'), 'slots = 3\nbudget_usd = 2.5\nmodel = "haiku"\n');
    const env = cleanEnv({
      CLAUDE_POOL_SLOTS: '5',
      CLAUDE_POOL_MODEL: 'opus',
      CLAUDE_POOL_EFFORT: 'high',
      CLAUDE_POOL_SIMULATED: '1',
    });
    const fromFile = JSON.parse((await runCli(['status', '--json'], { cwd, env })).stdout);
    expect(fromFile.settings).toMatchObject({
      slots: 3,
      budget_usd: 2.5,
      model: 'haiku',
      effort: 'high',
      permission_mode: 'plan',
    });
    expect(fromFile.sources).toMatchObject({
      slots: 'file',
      model: 'file',
      effort: 'env',
      simulated: 'env',
      permission_mode: 'default',
    });
    expect(fromFile.config_file).toBe(join(cwd, 'claude-pool.config.toml'));
    expect(fromFile.status).toMatchObject({ total_slots: 3, budget_microdollars: 2_500_000 });
    const fromFlag = JSON.parse((await runCli(['status', '--json', '-n', '4', '-m', 'sonnet'], { cwd, env })).stdout);
    expect(fromFlag.settings).toMatchObject({ slots: 4, model: 'sonnet' });
    expect(fromFlag.sources).toMatchObject({ slots: 'flag', model: 'flag' });
  });

  it('rejects an invalid environment variable, naming it', async () => {
    const run = await runCli(['status', '--simulated'], { env: cleanEnv({ CLAUDE_POOL_BUDGET_USD: 'lots' }) });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('CLAUDE_POOL_BUDGET_USD: expected an amount in USD greater than 0, got "lots"');
  });

  it('status prints the resolved settings in plain text', async () => {
    const run = await runCli(['status', '--simulated', '-n', '3']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('agent: simulated');
    expect(run.stdout).toMatch(/slots\s+3\s+\(flag\)/);
    expect(run.stdout).toContain('pool: 3 slots (3 idle, 0 busy)');
  });
});

describe('run', () => {
  it('prints the answer on stdout and plain progress lines on stderr when not a TTY', async () => {
    const run = await runCli(['run', '--simulated', 'say hi [[sim:text hi there]]']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('hi there\n');
    expect(run.stderr).toContain('claude-pool · 2 slots · simulated agent');
    expect(run.stderr).toMatch(/running\s+say hi\s+task-\S+ on slot-0/);
    expect(run.stderr).toMatch(/completed\s+say hi/);
    expect(run.stderr).toContain('ok · $0.0010 · 1 turn(s)');
    expect(run.stderr).not.toContain('\u001b['); // no terminal escapes
  });

  it('--json prints one JSON document and nothing on stderr', async () => {
    const run = await runCli(['run', '--simulated', '--json', '[[sim:text hi]] [[sim:cost 0.02]]']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      output: 'hi',
      success: true,
      cost_microdollars: 20_000,
      turns_used: 1,
    });
    expect(run.stderr).toBe('');
  });

  it('-q keeps stderr quiet', async () => {
    const run = await runCli(['run', '--simulated', '-q', '[[sim:text hi]]']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('hi\n');
    expect(run.stderr).toBe('');
  });

  it('a failed task exits 1', async () => {
    const run = await runCli(['run', '--simulated', 'x [[sim:error max-turns]]']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('FAILED (error_max_turns)');
    const json = await runCli(['run', '--simulated', '--json', 'x [[sim:error api-error 500]]']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ success: false });
  });

  it('a task budget above the pool budget exits 3', async () => {
    const run = await runCli(['run', '--simulated', '-b', '0.5', '--max-budget-usd', '1', 'hi']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('task_budget_exceeds_remaining');
    const json = await runCli(['run', '--simulated', '--json', '-b', '0.5', '--max-budget-usd', '1', 'hi']);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout).error.code).toBe('task_budget_exceeds_remaining');
  });

  it('--binary runs the given executable', async () => {
    const stateDir = tempDir();
    const run = await runCli(['run', '--binary', simulatedClaude, '-q', '[[sim:text via binary]]'], {
      env: cleanEnv({ CLAUDE_POOL_SIM_STATE_DIR: stateDir }),
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('via binary\n');
  });

  it('Ctrl-C drains gracefully: the running task finishes, exit 130', async () => {
    const cli = startCli(['run', '--simulated', 'slow [[sim:delay 1500]] [[sim:text finished anyway]]']);
    await waitFor(() => /running\s+slow/.test(cli.stderr()));
    cli.child.kill('SIGINT');
    const run = await cli.done;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('interrupted: draining');
    expect(run.stdout).toBe('finished anyway\n');
  });

  it('a second Ctrl-C stops at once, exit 130', async () => {
    const cli = startCli(['run', '--simulated', 'stuck [[sim:delay 20000]]']);
    await waitFor(() => /running\s+stuck/.test(cli.stderr()));
    cli.child.kill('SIGINT');
    await waitFor(() => cli.stderr().includes('interrupted: draining'));
    cli.child.kill('SIGINT');
    const run = await cli.done;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('stopping now');
    expect(run.durationMs).toBeLessThan(10_000);
  });
});

describe('fan-out', () => {
  it('runs prompts from arguments and a file, in order; plain and --json output', async () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'prompts.txt'),
      '# my prompts\n[[sim:text from file 1]]\n\n[[sim:text from file 2]] [[sim:delay 100]]\n',
    );
    const run = await runCli(['fan-out', '--simulated', '-n', '3', '--file', 'prompts.txt', '[[sim:text from arg]]'], {
      cwd,
    });
    expect(run.code).toBe(0);
    const blocks = run.stdout.split('=== ').filter(Boolean);
    expect(blocks.map((b) => b.split('\n')[1])).toEqual(['from arg', 'from file 1', 'from file 2']);
    expect(run.stderr).toContain('3/3 succeeded');
    const json = await runCli(['fan-out', '--simulated', '--json', '[[sim:text a]]', '[[sim:error api-error 500]]'], {
      cwd,
    });
    expect(json.code).toBe(1);
    const body = JSON.parse(json.stdout);
    expect(body).toMatchObject({ succeeded: 1, failed: 1 });
    expect(body.results.map((r: { success: boolean }) => r.success)).toEqual([true, false]);
  });

  it('reads prompts from stdin with --file -', async () => {
    const run = await runCli(['fan-out', '--simulated', '-q', '--file', '-'], {
      input: '[[sim:text one]]\n[[sim:text two]]\n',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('one');
    expect(run.stdout).toContain('two');
  });

  it('without prompts exits 2', async () => {
    const run = await runCli(['fan-out', '--simulated']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no prompts');
  });
});

describe('chain', () => {
  it('runs a YAML chain with output variables', async () => {
    const cwd = tempDir();
    writeFileSync(
      join(cwd, 'chain.yaml'),
      [
        'isolation: none',
        'steps:',
        '  - name: plan',
        '    prompt: \'plan [[sim:json {"count":3}]]\'',
        '    output_vars: { count: count }',
        '  - name: build',
        '    type: prompt',
        '    value: "build {steps.plan.count} parts"',
        '    retries: 1',
      ].join('\n'),
    );
    const run = await runCli(['chain', '--simulated', 'chain.yaml'], { cwd });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('=== step 1/2 plan: ok');
    expect(run.stdout).toContain('build 3 parts');
    expect(run.stderr).toContain('chain completed');
    const json = await runCli(['chain', '--simulated', '--json', 'chain.yaml'], { cwd });
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'completed', success: true });
  });

  it('a failing chain exits 1; an invalid chain file exits 2 naming the step field', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'fail.json'), JSON.stringify([{ name: 'boom', prompt: '[[sim:error api-error 500]]' }]));
    const failed = await runCli(['chain', '--simulated', '--isolation', 'none', 'fail.json'], { cwd });
    expect(failed.code).toBe(1);
    writeFileSync(
      join(cwd, 'bad.json'),
      JSON.stringify({
        steps: [
          { name: 'ok', prompt: 'x' },
          { name: 'bad', type: 'prompt', value: 7 },
        ],
      }),
    );
    const bad = await runCli(['chain', '--simulated', 'bad.json'], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad.json: steps[1].value');
  });
});

describe('demo, inspect and serve', () => {
  it('demo finishes well under 15 s with a fan-out, a chain and a review', async () => {
    const run = await runCli(['demo']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.durationMs).toBeLessThan(15_000);
    expect(run.stdout).toContain('1/3 fan-out');
    expect(run.stdout).toContain('2/3 chain');
    expect(run.stdout).toContain('3/3 review');
    expect(run.stdout).toMatch(
      /done in [\d.]+s: fan-out 10\/12 ok, chain completed \(3 steps\), review completed after 1 rejection/,
    );
  }, 20_000);

  it('inspect lists the machines and prints Mermaid; an unknown machine exits 2', async () => {
    const list = await runCli(['inspect']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['pool', 'slot', 'task', 'chain']));
    const task = await runCli(['inspect', 'task']);
    expect(task.code).toBe(0);
    expect(task.stdout).toMatch(/^stateDiagram-v2/);
    const json = await runCli(['inspect', 'slot', '--json']);
    expect(JSON.parse(json.stdout)).toHaveProperty('nodes');
    const unknown = await runCli(['inspect', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown machine 'nope'");
  });

  it('serve keeps stdout for the protocol, logs to stderr, and exits 0 when the client goes away', async () => {
    const cli = startCli(['serve', '--simulated', '-n', '2'], { input: '' });
    const run = await cli.done;
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('MCP server ready on stdio: 2 slots, simulated agent');
    expect(run.stderr).toContain('client disconnected');
  });

  it('serve exits 130 on SIGINT', async () => {
    const cli = startCli(['serve', '--simulated'], { keepStdinOpen: true });
    await waitFor(() => cli.stderr().includes('ready'));
    cli.child.kill('SIGINT');
    const run = await cli.done;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain('interrupted');
  });
});
