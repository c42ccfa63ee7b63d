// npm's `prepare` (package.json). `npm pack`, `npm publish`, an install from git and a bare
// `npm install` / `npm ci` in a clone run it; `prepack` would not do for git: npm runs only `prepare`
// there. It builds dist/ afresh, so that a tarball always has dist/ and never carries the output of a
// source file deleted since (tsc leaves that in place).
// Without TypeScript, as in `npm ci --omit=dev` in a deploy that brings its own dist/, it leaves dist/
// alone: the build would fail there, and deleting dist/ first would leave nothing to run.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

function hasTypeScript() {
  try {
    createRequire(import.meta.url).resolve('typescript/package.json');
    return true;
  } catch {
    return false;
  }
}

if (!hasTypeScript()) {
  process.stderr.write('prepare: TypeScript is not installed (--omit=dev?), so dist/ is not rebuilt\n');
  process.exit(0);
}
rmSync(new URL('../dist/', import.meta.url), { recursive: true, force: true });
// Through npm (the one running this script, when there is one), so that `npm run build` stays the
// one definition of the build.
const npm = process.env.npm_execpath;
const result = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: root, stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (result.error) throw result.error;
process.exit(result.status ?? 1);
