/**
 * The page from the command line (`node dist/src/cli/main.js`): `claude-pool ui`, `serve --http` and
 * `demo --ui`.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { UiDelta, UiFull } from '../../src/ui/protocol.js';
import { cleanupDirs, runCli, startCli, waitFor, type CliProcess } from '../cli/support.js';

const running: CliProcess[] = [];

afterEach(async () => {
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null) {
      cli.child.kill('SIGTERM');
      await cli.done;
    }
  }
  cleanupDirs();
});

function started(args: string[], ready: RegExp): Promise<{ cli: CliProcess; match: RegExpExecArray }> {
  const cli = startCli(args, { keepStdinOpen: true });
  running.push(cli);
  return waitFor(() => ready.test(cli.stderr()) || cli.child.exitCode !== null, 20_000).then(() => {
    const match = ready.exec(cli.stderr());
    if (!match) throw new Error(`not ready: ${cli.stderr()}`);
    return { cli, match };
  });
}

describe('the page from the command line', () => {
  it('claude-pool ui serves the page, the REST API and MCP on one port, with the token in the page URL', async () => {
    const { cli, match } = await started(
      ['ui', '--simulated', '--port', '0', '--http-token', 'ui-tok', '-n', '3'],
      /live page at (http:\/\/127\.0\.0\.1:\d+)\/ui\/#token=ui-tok/,
    );
    const url = match[1];
    expect(cli.stderr()).toMatch(/MCP at http:\/\/127\.0\.0\.1:\d+\/mcp, REST at/);
    expect((await fetch(`${url}/ui/`)).status).toBe(200);
    const auth = { authorization: 'Bearer ui-tok' };
    expect((await fetch(`${url}/ui/api/charts`)).status).toBe(401);
    const stream = await fetch(`${url}/ui/api/stream`, { headers: auth });
    const reader = (stream.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream())
      .getReader();
    const hello = (await reader.read()).value;
    expect(hello?.event).toBe('hello');
    expect((JSON.parse(hello?.data ?? '{}') as UiFull).slots).toHaveLength(3);
    await reader.cancel();
    expect((await fetch(`${url}/v1/pool/status`, { headers: auth })).status).toBe(200);
    cli.child.kill('SIGTERM');
    expect((await cli.done).code).toBe(130);
  });

  it('serve --http has the page at /ui/ unless --no-ui', async () => {
    const { match } = await started(
      ['serve', '--simulated', '--http', '--port', '0'],
      /live page at (http:\/\/127\.0\.0\.1:\d+)\/ui\//,
    );
    expect((await fetch(`${match[1]}/ui/`)).status).toBe(200);
    const { cli, match: without } = await started(
      ['serve', '--simulated', '--http', '--port', '0', '--no-ui'],
      /HTTP server ready: MCP at (http:\/\/127\.0\.0\.1:\d+)\/mcp/,
    );
    expect(cli.stderr()).not.toContain('live page');
    expect((await fetch(`${without[1]}/ui/`)).status).toBe(404);
  });

  it('demo --ui waits for a page, streams the demo to it, and ends after the linger time', async () => {
    const { cli, match } = await started(
      ['demo', '--ui', '--ui-port', '0', '--ui-linger', '0', '--ui-wait', '60', '--ui-pace', '1'],
      /live page: (http:\/\/127\.0\.0\.1:\d+)\/ui\//,
    );
    const stream = await fetch(`${match[1]}/ui/api/stream`);
    const reader = (stream.body as ReadableStream<Uint8Array>)
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream())
      .getReader();
    let completed = 0;
    let reviewed = false;
    for (;;) {
      // The stream ends when the demo's server closes (cleanly or by a closed socket).
      const next = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) break;
      const value = next.value;
      if (value.event !== 'delta') continue;
      const delta = JSON.parse(value.data) as UiDelta;
      completed += (delta.tasks ?? []).filter((task) => task.state === 'completed').length;
      reviewed ||= (delta.tasks ?? []).some((task) => task.state === 'pending_review');
    }
    const run = await cli.done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('done in');
    expect(completed).toBeGreaterThanOrEqual(10);
    expect(reviewed).toBe(true);
  }, 60_000);

  it('refuses page flags without --ui', async () => {
    const run = await runCli(['demo', '--ui-port', '4000']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('need --ui');
    const pace = await runCli(['demo', '--ui', '--ui-pace', 'slow']);
    expect(pace.code).toBe(2);
    expect(pace.stderr).toContain('--ui-pace: expected a number');
  });

  it('paces the demo prompts for the page', async () => {
    const { pacedPrompt } = await import('../../src/cli/demo.js');
    expect(pacedPrompt('A [[sim:delay 150]] [[sim:cost 0.01]] [[sim:delay 20]]', 4)).toBe(
      'A [[sim:delay 600]] [[sim:cost 0.01]] [[sim:delay 80]]',
    );
    expect(pacedPrompt('B [[sim:delay 150]]', 1)).toBe('B [[sim:delay 150]]');
  });
});
