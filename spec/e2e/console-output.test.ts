import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// README, "Running the broker": JSON lines for machines, readable lines and a start-up banner for
// a person at a terminal.

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const hasScript = spawnSync('script', ['--version']).status === 0;
if (!hasScript) console.warn('SKIPPED: the banner test needs util-linux `script` for a pseudo-terminal');

/** Runs `warren serve` until it has printed `until`, then stops it; what it printed on stdout. */
function serveUntil(command: string, args: string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ${until} in: ${out}`));
    }, 15_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (until.test(out)) {
        clearTimeout(timer);
        child.kill('SIGTERM');
      }
    });
    child.on('exit', () => resolve(out));
  });
}

const dataDir = () => join(mkdtempSync(join(tmpdir(), 'warren-console-')), 'data');

describe('console output', () => {
  it('console - off a terminal the log is JSON lines; --log-format pretty makes readable ones', async () => {
    const json = await serveUntil(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir()], /"msg":"listening"/);
    const listening = JSON.parse(json.split('\n').find((line) => line.includes('"listening"')) as string) as Record<string, string>;
    expect(listening.management).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/);
    expect(listening.metrics).toMatch(/\/metrics$/);
    const pretty = await serveUntil(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir(), '--log-format', 'pretty'], /listening/);
    const line = pretty.split('\n').find((candidate) => candidate.includes('listening')) as string;
    expect(line).not.toMatch(/^\{/);
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening/);
    // No banner off a terminal: the lines are for a log collector.
    expect(pretty).not.toMatch(/Dashboard/);
  });

  it.skipIf(!hasScript)('console - on a terminal: readable lines and a banner with the URLs, the data dir and who may connect', async () => {
    const dir = dataDir();
    const out = await serveUntil('script', ['-q', '-c', `${process.execPath} ${CLI} serve --port 0 --data-dir ${dir}`, '/dev/null'], /Ctrl-C stops it/);
    // Without pino-pretty's colour codes (ESC [ ... m).
    const text = out.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
    expect(text).toMatch(/Warren \d+\.\d+\.\d+ on Node\.js \d+/);
    expect(text).toMatch(/WebSocket\s+ws:\/\/127\.0\.0\.1:\d+\/ws/);
    expect(text).toMatch(/Dashboard\s+http:\/\/127\.0\.0\.1:\d+\/dashboard\//);
    expect(text).toMatch(/Metrics\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(text).toContain(`Data dir        ${dir}`);
    expect(text).toMatch(/Access\s+0 users, no tokens, anonymous access from this machine/);
    expect(text).not.toMatch(/"msg":/);
  });
});
