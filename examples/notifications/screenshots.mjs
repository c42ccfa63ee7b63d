#!/usr/bin/env node
// The example's screenshots for docs/notifications-example.md (not part of `npm test`):
//
//   npm run build && node examples/notifications/screenshots.mjs [--out docs/images] [--seconds 40]
//
// Runs the example (run.mjs, free ports, a temp data dir), opens the dashboard as its administrator
// and the page as user 42 in headless Chromium (/usr/bin/chromium, or $WARREN_CHROMIUM), tries to
// bind user 43's key from the page, lets the traffic run for --seconds so that the dashboard's
// charts show the work queue growing, and writes notifications-page.png and
// notifications-dashboard.png. The example and the browser are stopped at the end, on error too.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/images' }, seconds: { type: 'string', default: '40' } } });
const RUN = fileURLToPath(new URL('./run.mjs', import.meta.url));
const example = spawn(process.execPath, [RUN, '--port', '0', '--broker-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const exited = new Promise((done) => example.once('exit', done));
let browser;

try {
  const banner = await new Promise((ready, reject) => {
    let text = '';
    void exited.then((code) => reject(new Error(`the example exited with ${code}`)));
    createInterface({ input: example.stdout }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
      text += `${line}\n`;
      if (line.startsWith('  Traffic:')) ready(text);
    });
  });
  const [, pageUrl] = /Page: +(\S+)/.exec(banner);
  const [, dashboardUrl, user, password] = /Dashboard: +(\S+) +\(user (\S+), password (\S+)\)/.exec(banner);

  browser = await chromium.launch({
    executablePath: process.env.WARREN_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const dashboard = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await dashboard.goto(dashboardUrl);
  await dashboard.getByLabel('User', { exact: true }).fill(user);
  await dashboard.getByLabel('Password').fill(password);
  await dashboard.getByRole('button', { name: 'Sign in' }).click();
  await dashboard.locator('header.top .who').waitFor();

  const page = await browser.newPage({ viewport: { width: 960, height: 820 } });
  await page.goto(pageUrl);
  await page.getByLabel('User id').fill('42');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#inbox[data-state=connected]').waitFor();
  await page.getByLabel('Try to listen in on another user').fill('43');
  await page.getByRole('button', { name: 'Bind their key' }).click();
  await page.locator('#peek-result.refused').waitFor();

  await new Promise((done) => setTimeout(done, Number(values.seconds) * 1000));
  const out = resolve(values.out);
  await page.screenshot({ path: join(out, 'notifications-page.png') });
  await dashboard.screenshot({ path: join(out, 'notifications-dashboard.png') });
  console.log(`wrote ${join(out, 'notifications-page.png')} and ${join(out, 'notifications-dashboard.png')}`);
} finally {
  await browser?.close();
  if (example.exitCode === null) {
    example.kill('SIGTERM');
    await exited;
  }
}
