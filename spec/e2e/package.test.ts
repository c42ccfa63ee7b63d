import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  main: string;
  types: string;
  scripts: Record<string, string>;
  exports: Record<string, Record<string, string>>;
};
/** The repo's own TypeScript compiles the consumer's files: the temp project installs no dev dependency. */
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
/** What a fresh clone lacks (.gitignore): above all dist/, which `npm pack` must build. */
const NOT_IN_A_CLONE = new Set(['.git', 'node_modules', 'dist', 'data', 'coverage']);
/** On two cores the build, pack and install take 25 to 35 s and the three tsc runs 20 s: ample room for a slower machine. */
const SLOW_MS = 300_000;

/**
 * npm's environment without what the npm running vitest (`npm test`) set for this repo's own
 * package (npm_package_*, npm_lifecycle_*, npm_config_local_prefix); user config such as the cache stays.
 */
const NPM_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => {
    const name = key.toLowerCase();
    return !name.startsWith('npm_') || (name.startsWith('npm_config_') && name !== 'npm_config_local_prefix');
  }),
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end. A missing command (no npm in PATH) rejects: the test fails, it does not skip. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `run`, failing with the command's output unless it exits 0. */
async function succeed(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Run> {
  const result = await run(command, args, cwd, env);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** `tsc --strict` as a Node project compiles: ESM and CommonJS files by their extension (.mts, .cts). */
function typecheck(cwd: string, files: string[], extra: string[] = []): Promise<Run> {
  return run(process.execPath, [TSC, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', ...extra, ...files], cwd);
}

describe('package - the tarball of a fresh clone, installed into another project', () => {
  let dir: string;
  let project: string;
  let files: string[];
  let size: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warren-package-'));
    // A clone: the working tree without dist/, node_modules/ (linked back: no install) or data/.
    const clone = join(dir, 'clone');
    cpSync(REPO, clone, { recursive: true, filter: (source) => !NOT_IN_A_CLONE.has(source.slice(REPO.length).split('/')[0]) });
    symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules'), 'dir');
    // No --ignore-scripts: npm's own lifecycle must build dist/ (`prepare`, which an install from git runs too).
    // Scripts in the background, whatever a user's npmrc says: their output would spoil the JSON.
    const packed = await succeed('npm', ['pack', '--json', '--pack-destination', dir, '--foreground-scripts=false'], clone, NPM_ENV);
    const [report] = JSON.parse(packed.stdout) as { filename: string; size: number; files: { path: string }[] }[];
    files = report.files.map((file) => file.path);
    size = report.size;

    project = join(dir, 'project');
    mkdirSync(project);
    // No "type": CommonJS, as npm init makes it; the ESM checks say so themselves (.mts, --input-type).
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'warren-package-check', version: '1.0.0', private: true }));
    // --prefer-offline, not --offline: `npm ci` caches the tarballs but not the registry's package documents,
    // which resolving `warren`'s version ranges needs, so a first run asks the registry for those.
    await succeed('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(dir, report.filename)], project, NPM_ENV);
  }, SLOW_MS);

  afterAll(() => {
    // Removes the clone's node_modules link, not the repo's node_modules.
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('package - npm pack builds dist/: the tarball has the build, the config and the docs, not the sources or the tests', () => {
    // The clone had no dist/, so the pack built it. An install from git runs `prepare` only, not `prepack`.
    expect(Object.keys(PACKAGE.scripts)).toContain('prepare');
    const shipped = [PACKAGE.main, PACKAGE.types, ...Object.values(PACKAGE.bin), ...Object.values(PACKAGE.exports).flatMap((entry) => Object.values(entry))];
    for (const file of shipped) expect(files).toContain(file.replace(/^\.\//, ''));
    for (const file of ['dist/cli.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/dashboard/app.js', 'config/broker.json', 'README.md', 'docs/protocol.md']) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => /^(src|spec|scripts|examples|data|node_modules|\.ci)\//.test(file) || (file.endsWith('.ts') && !file.endsWith('.d.ts')))).toEqual([]);
    // About 0.6 MB now; a slip such as data/ or node_modules in `files` is many times that.
    expect(size).toBeLessThan(2_000_000);
  });

  it('package - an ES module imports warren and warren/broker', async () => {
    const script = "import { connect, WarrenError } from 'warren'; const broker = await import('warren/broker'); console.log(typeof connect, typeof WarrenError, typeof broker.buildApp);";
    const result = await succeed(process.execPath, ['--input-type=module', '-e', script], project);
    expect(result.stdout.trim()).toBe('function function function');
    expect(result.stderr).toBe('');
  });

  it('package - a CommonJS module requires warren and warren/broker (require of ESM), without a warning', async () => {
    const script = "const { connect } = require('warren'); const { buildApp } = require('warren/broker'); console.log(typeof connect, typeof buildApp);";
    const result = await succeed(process.execPath, ['-e', script], project);
    expect(result.stdout.trim()).toBe('function function');
    expect(result.stderr).toBe('');
  });

  it('package - the types compile under tsc --strict from ESM and CommonJS, and a misuse does not', async () => {
    writeFileSync(
      join(project, 'client.mts'),
      [
        "import { connect, WarrenError, type ConnectOptions, type Delivery, type WarrenClient } from 'warren';",
        'const options: ConnectOptions = { reconnect: false };',
        "const client: WarrenClient = await connect('ws://127.0.0.1:5680/ws', options);",
        'const routingKey = (delivery: Delivery): string => delivery.routingKey;',
        'export const used = [client, routingKey, WarrenError];',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'client.cts'),
      ["import { connect, type WarrenClient } from 'warren';", 'export function open(url: string): Promise<WarrenClient> {', '  return connect(url);', '}'].join('\n'),
    );
    writeFileSync(join(project, 'broker.mts'), ["import { buildApp, type App } from 'warren/broker';", 'export const build: (...args: Parameters<typeof buildApp>) => Promise<App> = buildApp;'].join('\n'));
    writeFileSync(join(project, 'misuse.mts'), ["import { connect } from 'warren';", 'export const client = connect(42);'].join('\n'));
    writeFileSync(join(project, 'misuse.cts'), ["import { connect } from 'warren';", "export const client = connect('ws://127.0.0.1:5680/ws', { reconnect: 'always' });"].join('\n'));
    const [client, broker, misuse] = await Promise.all([
      // The client's types are for browsers too: they compile without Node's types.
      typecheck(project, ['client.mts', 'client.cts']),
      // The broker's types name Node's (Buffer, pino's streams): a Node project has @types/node.
      typecheck(project, ['broker.mts'], ['--typeRoots', join(REPO, 'node_modules/@types'), '--types', 'node']),
      typecheck(project, ['misuse.mts', 'misuse.cts']),
    ]);
    expect(client.stdout + client.stderr).toBe('');
    expect(client.code).toBe(0);
    expect(broker.stdout + broker.stderr).toBe('');
    expect(broker.code).toBe(0);
    expect(misuse.code).not.toBe(0);
    expect(misuse.stdout).toMatch(/misuse\.mts\(2,\d+\): error TS2345/);
    expect(misuse.stdout).toMatch(/misuse\.cts\(2,\d+\): error TS2322/);
  }, SLOW_MS);

  it('package - the warren bin prints the version of package.json', async () => {
    const result = await succeed(join(project, 'node_modules/.bin/warren'), ['--version'], project);
    expect(result.stdout.trim()).toBe(PACKAGE.version);
  });
});
