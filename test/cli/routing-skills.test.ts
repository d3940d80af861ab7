/**
 * The CLI's routing harness, the skill flags of `serve`, and the output fixes (`demo --json`, `run
 * --allowed-tools`, failed-run summaries, JSON usage errors). Needs `npm run build`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { callError, callOk, startServer } from '../mcp/support.js';
import { cleanupDirs, runCli, tempDir } from './support.js';

afterEach(() => cleanupDirs());

const CASES = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/routing/cases.json');

describe('route-test', () => {
  it('prints the accuracy table; exit 1 when a case was wrong or failed to route', async () => {
    const run = await runCli(['route-test', CASES, '--simulated', '-n', '1', '-q']);
    expect(run.code, run.stderr).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^result\s+label\s+expected\s+got\s+time\s+error$/);
    expect(lines.slice(2, 6).map((l) => l.split(/\s{2,}/).slice(0, 4))).toEqual([
      ['PASS', 'typo fix', 'single', 'single'],
      ['PASS', 'three reviews', 'parallel', 'parallel(3)'],
      ['FAIL', 'investigate then fix', 'chain', 'single'],
      ['ERROR', 'anything goes', 'any', '-'],
    ]);
    expect(run.stdout).toContain(
      '--- Results ---\ntotal 4, correct 2, wrong 1, errors 1\naccuracy 66.7% (correct / (total - errors))',
    );
  });

  it('--json prints the report as one JSON document', async () => {
    const run = await runCli(['route-test', CASES, '--simulated', '-n', '1', '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ total: 4, correct: 2, wrong: 1, errors: 1 });
    expect(report.accuracy_percent).toBeCloseTo(66.667, 2);
    expect(report.outcomes[1]).toMatchObject({ label: 'three reviews', got: 'parallel', sub_count: 3, pass: true });
    expect(report.outcomes[3].error).toMatch(/no routing decision/);
  });

  it('an invalid case file exits 2 naming the problem (as JSON with --json)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ label: 'x', prompt: 'y', expected: 'sideways' }]));
    const run = await runCli(['route-test', 'bad.json', '--simulated'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'bad.json: invalid route-test cases: cases[0].expected must be one or more of single, parallel, chain, any',
    );
    const json = await runCli(['route-test', 'missing.json', '--simulated', '--json'], { cwd: dir });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error.message).toMatch(/cannot read missing\.json/);
  });
});

describe('CLI output fixes', () => {
  it('demo --json prints only the JSON report', async () => {
    const run = await runCli(['demo', '--json', '-n', '4']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(Object.keys(report)).toEqual(['fan_out', 'chain', 'review', 'total_cost_microdollars', 'elapsed_ms']);
  }, 20_000);

  it('run --allowed-tools passes the tools to the agent', async () => {
    const run = await runCli([
      'run',
      '--simulated',
      '-q',
      '--allowed-tools',
      'Read,Bash(git diff:*)',
      '--allowed-tools',
      'Grep',
      'x [[sim:echo-args]]',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const argv = JSON.parse(/sim-echo-args: (.*)/.exec(run.stdout)?.[1] ?? 'null') as string[];
    const flag = argv.find((a) => a.startsWith('--allowedTools'));
    expect(flag).toBe('--allowedTools=Read,Bash(git diff:*),Grep');
  });

  it('a failed API run reports the real reason and the command, not FAILED (success)', async () => {
    const run = await runCli(['run', '--simulated', '--no-warm-slots', 'x [[sim:error api-error 500]]']);
    expect(run.code).toBe(1);
    expect(run.stderr).not.toContain('FAILED (success)');
    expect(run.stderr).toMatch(/FAILED \(API Error: 500 Internal server error/);
    expect(run.stderr).toMatch(/\n {2}command: \S+.* -p --output-format stream-json --verbose/);
    expect(run.stderr).toContain('  exit code: 1');
  });

  it('with --json an unknown flag is reported as JSON on stdout', async () => {
    const run = await runCli(['run', '--json', '--bogus', 'hi']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'usage', message: "unknown option '--bogus'" } });
    expect(run.stderr).toBe('');
    const text = await runCli(['run', '--bogus', 'hi']);
    expect(text.code).toBe(2);
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain("error: unknown option '--bogus'");
  });
});

describe('serve skill flags', () => {
  function skillDir(root: string, name: string, body: string): void {
    mkdirSync(join(root, name), { recursive: true });
    writeFileSync(join(root, name, 'SKILL.md'), `---\nname: ${name}\ndescription: ${name} skill\n---\n\n${body}\n`);
  }

  it('loads builtin < global < project, and --disable-skill removes names; prompts follow', async () => {
    const cwd = tempDir();
    const global = join(cwd, 'global-skills');
    skillDir(global, 'summarize', 'Global summary');
    skillDir(global, 'g-only', 'From global');
    skillDir(join(cwd, '.claude-pool', 'skills'), 'summarize', 'Project summary');
    const server = await startServer(
      ['--simulated', '-n', '1', '--disable-skill', 'pre_push,create_pr', '--disable-skill', 'g-only'],
      {
        cwd,
        env: { CLAUDE_POOL_GLOBAL_SKILLS_DIR: global },
      },
    );
    try {
      const body = await callOk(server.client, 'pool_skill_get', { name: 'summarize' });
      expect(body).toMatchObject({ source: 'project', prompt: 'Project summary', customized: true });
      const names = ((await callOk(server.client, 'pool_skill_list')).skills as { name: string }[]).map((s) => s.name);
      expect(names).not.toContain('pre_push');
      expect(names).not.toContain('create_pr');
      expect(names).not.toContain('g-only');
      const prompts = (await server.client.listPrompts()).prompts.map((p) => p.name);
      expect(prompts.sort()).toEqual([...names].sort());
      // issue_to_pr needs pre_push, which is disabled.
      expect(
        ((await callOk(server.client, 'pool_workflow_list')).workflows as { name: string }[]).map((w) => w.name),
      ).not.toContain('issue_to_pr');
      expect(server.stderr()).toMatch(/MCP server ready on stdio: 1 slots, simulated agent, \d+ skills/);
    } finally {
      await server.close();
    }
  });

  it('--no-builtins, --no-global-skills and --no-project-skills; --allow-skill-commands runs !`cmd`', async () => {
    const cwd = tempDir();
    const global = join(cwd, 'global-skills');
    skillDir(global, 'g-only', 'From global');
    skillDir(join(cwd, '.claude-pool', 'skills'), 'where', 'Here: !`echo from-the-shell`');
    const env = { CLAUDE_POOL_GLOBAL_SKILLS_DIR: global };
    const list = async (args: string[]) => {
      const server = await startServer(['--simulated', '-n', '1', ...args], { cwd, env });
      try {
        const names = ((await callOk(server.client, 'pool_skill_list')).skills as { name: string }[]).map(
          (s) => s.name,
        );
        const where = names.includes('where')
          ? await server.client.getPrompt({ name: 'where', arguments: {} })
          : undefined;
        return { names, where: where?.messages[0].content, stderr: server.stderr() };
      } finally {
        await server.close();
      }
    };
    const bare = await list(['--no-builtins']);
    expect(bare.names).toEqual(['g-only', 'where']);
    expect(bare.where).toEqual({ type: 'text', text: 'Here: !`echo from-the-shell`' });
    expect((await list(['--no-builtins', '--no-global-skills'])).names).toEqual(['where']);
    expect((await list(['--no-builtins', '--no-project-skills'])).names).toEqual(['g-only']);
    const withCommands = await list(['--no-builtins', '--no-global-skills', '--allow-skill-commands']);
    expect(withCommands.where).toEqual({ type: 'text', text: 'Here: from-the-shell' });
    expect(withCommands.stderr).toContain('skill shell commands ENABLED');
  });

  it('an unknown --disable-skill name stops the server with exit 2', async () => {
    const run = await runCli(['serve', '--simulated', '--disable-skill', 'no_such_skill'], { input: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("skills: cannot disable unknown skill 'no_such_skill'");
  });

  it('pool_skill_eject writes into the project folder by default', async () => {
    const cwd = tempDir();
    const server = await startServer(['--simulated', '-n', '1'], { cwd });
    try {
      const ejected = await callOk(server.client, 'pool_skill_eject', { name: 'implement' });
      expect(ejected.path).toBe(join(cwd, '.claude-pool', 'skills', 'implement', 'SKILL.md'));
      expect((await callError(server.client, 'pool_skill_eject', { name: 'implement' })).code).toBe('invalid_input');
    } finally {
      await server.close();
    }
  });
});
