import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// examples/notifications (docs/notifications-example.md) as a user runs it: its one command, two
// users' pages in headless Chromium, and the broker's own view of the work queue.

/** Debian's chromium, driven by playwright-core; .ci/run installs it. $WARREN_CHROMIUM names another. */
const CHROMIUM = process.env.WARREN_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`\n*** SKIPPED: chromium is not installed; .ci/run installs it (apt-get install chromium; not found at ${CHROMIUM}). The notification example's tests did not run. ***\n`);

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const EXAMPLE = fileURLToPath(new URL('../../examples/notifications/run.mjs', import.meta.url));
/** Short-lived tokens, so that the pages refresh theirs (twice or more) while the test runs. */
const TOKEN_TTL_SEC = 3;
/** A safety net: the example stops itself after this long should the test die without stopping it. */
const DURATION_SEC = 120;
const [ANN, BOB] = ['41', '42'];
const SEEN_WITHIN = { timeout: 10_000 };

interface RunningExample {
  child: ChildProcess;
  page: string;
  dashboard: string;
  admin: [string, string];
  brokerPid: number;
  exited: Promise<number | null>;
}

/** Runs the example on free ports with a temp data dir (its defaults) and reads the URLs off its banner. */
async function startExample(): Promise<RunningExample> {
  const child = spawn(process.execPath, [EXAMPLE, '--port', '0', '--broker-port', '0', '--token-ttl', String(TOKEN_TTL_SEC), '--duration', String(DURATION_SEC)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const banner = await new Promise<string>((resolve, reject) => {
    let text = '';
    createInterface({ input: child.stdout! }).on('line', (line) => {
      text += `${line}\n`;
      if (line.startsWith('  Traffic:')) resolve(text);
    });
    void exited.then((code) => reject(new Error(`the example exited with ${code} before it was ready: ${stderr}`)));
  });
  const dashboard = /Dashboard: +(\S+) +\(user (\S+), password (\S+)\)/.exec(banner);
  const page = /Page: +(\S+)/.exec(banner);
  const pid = /\(pid (\d+);/.exec(banner);
  if (!dashboard || !page || !pid) throw new Error(`unexpected banner:\n${banner}`);
  return { child, page: page[1], dashboard: dashboard[1], admin: [dashboard[2], dashboard[3]], brokerPid: Number(pid[1]), exited };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One user's page, signed in through the form, and what went over its WebSockets. */
interface UserPage {
  page: Page;
  /** The routing key of every `deliver` frame the page received. */
  deliveredKeys: string[];
  /** How many WebSockets it opened (a reconnect would be a second) and `auth.refresh` frames it sent. */
  sockets: number;
  refreshes: number;
  signedInAt: number;
}

describe.skipIf(!hasChromium)('notifications example - two users in headless Chromium', () => {
  let example: RunningExample;
  let browser: Browser;
  const pages = new Map<string, UserPage>();
  /** What the pages logged as errors (a CSP violation, an exception): none expected. */
  const pageErrors: string[] = [];
  /** The last resort, for an example that did not stop on SIGTERM (or a test process that exits): it and its broker, by pid. */
  const killAll = () => {
    if (example === undefined || example.child.exitCode !== null || example.child.signalCode !== null) return;
    example.child.kill('SIGKILL');
    if (alive(example.brokerPid)) process.kill(example.brokerPid, 'SIGKILL');
  };

  const count = (user: string) => pages.get(user)!.page.locator('#count').textContent().then(Number);
  const shownKeys = (user: string) => pages.get(user)!.page.locator('#notifications li').evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.routingKey));

  async function openAs(user: string): Promise<void> {
    const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${user} pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${user} console: ${message.text()}`);
    });
    const seen: UserPage = { page, deliveredKeys: [], sockets: 0, refreshes: 0, signedInAt: 0 };
    const frames = (payload: string | Buffer) => {
      const parsed = JSON.parse(payload.toString()) as Record<string, unknown> | Record<string, unknown>[];
      return Array.isArray(parsed) ? parsed : [parsed];
    };
    // The frames as the browser sent and got them, beside what the page shows.
    page.on('websocket', (socket) => {
      seen.sockets++;
      socket.on('framereceived', ({ payload }) => {
        for (const frame of frames(payload)) if (frame.op === 'deliver') seen.deliveredKeys.push(String(frame.routingKey));
      });
      socket.on('framesent', ({ payload }) => {
        for (const frame of frames(payload)) if (frame.op === 'auth.refresh') seen.refreshes++;
      });
    });
    await page.goto(example.page);
    await page.getByLabel('User id').fill(user);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#inbox[data-state=connected]').waitFor(SEEN_WITHIN);
    seen.signedInAt = Date.now();
    pages.set(user, seen);
  }

  beforeAll(async () => {
    process.once('exit', killAll);
    const { chromium } = await import('playwright-core');
    // Both at once; whichever starts is stopped in afterAll even when the other fails.
    const started = await Promise.allSettled([
      startExample().then((running) => (example = running)),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }).then((launched) => (browser = launched)),
    ]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    if (example?.child.exitCode === null) {
      example.child.kill('SIGTERM');
      await Promise.race([example.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    }
    killAll();
    process.off('exit', killAll);
  });

  it('notifications example - the backend signs the worked example\'s scopes for a user id, and refuses an id that would widen them', async () => {
    const config = (await (await fetch(`${example.page}config.json`)).json()) as { brokerUrl: string; users: string[] };
    expect(config).toMatchObject({ brokerUrl: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/), users: ['41', '42', '43', '44', '45'] });
    const answer = await fetch(`${example.page}token`, { method: 'POST', body: JSON.stringify({ user: ANN }) });
    const { token, expiresAt } = (await answer.json()) as { token: string; expiresAt: number };
    expect(decodeJwt(token)).toMatchObject({
      sub: 'user-41',
      aud: 'warren',
      scope: 'warren.configure:%2F/amq.gen-* warren.write:%2F/amq.gen-* warren.read:%2F/amq.gen-* warren.read:%2F/notifications/user.41.*',
      exp: expiresAt / 1000,
    });
    for (const user of ['*', '41.*', '41 warren.read:%2F/*', '']) {
      expect((await fetch(`${example.page}token`, { method: 'POST', body: JSON.stringify({ user }) })).status).toBe(400);
    }
    // The page imports Warren's client from the example's server, as a module.
    const client = await fetch(`${example.page}warren/index.js`);
    expect([client.status, client.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
  });

  it('notifications example - each user sees their own notifications arrive live, and only theirs', async () => {
    await Promise.all([openAs(ANN), openAs(BOB)]);
    await expect.poll(() => count(ANN), SEEN_WITHIN).toBeGreaterThanOrEqual(5);
    await expect.poll(() => count(BOB), SEEN_WITHIN).toBeGreaterThanOrEqual(5);
    for (const [user, { deliveredKeys }] of pages) {
      const keys = await shownKeys(user);
      expect(keys.length).toBeGreaterThanOrEqual(5);
      expect(keys.filter((key) => !key?.startsWith(`user.${user}.`))).toEqual([]);
      expect(deliveredKeys.length).toBeGreaterThanOrEqual(5);
      expect(deliveredKeys.filter((key) => !key.startsWith(`user.${user}.`))).toEqual([]);
      // From all three services, in time.
      await expect.poll(() => new Set(deliveredKeys.map((key) => key.split('.')[2])), SEEN_WITHIN).toEqual(new Set(['order', 'comment', 'like']));
    }
  });

  it('notifications example - a page that binds another user\'s key gets ACCESS_REFUSED, and its own notifications keep coming', async () => {
    const { page } = pages.get(ANN)!;
    await page.getByLabel('Try to listen in on another user').fill(BOB);
    await page.getByRole('button', { name: 'Bind their key' }).click();
    const result = page.locator('#peek-result.refused');
    await result.waitFor(SEEN_WITHIN);
    expect(await result.textContent()).toMatch(/^ACCESS_REFUSED: .*user\.42\.#/);
    const before = await count(ANN);
    await expect.poll(() => count(ANN), SEEN_WITHIN).toBeGreaterThan(before);
    expect(pages.get(ANN)!.deliveredKeys.filter((key) => !key.startsWith('user.41.'))).toEqual([]);
    expect(await page.locator('#inbox').getAttribute('data-state')).toBe('connected');
  });

  it('notifications example - the pages refresh their short-lived tokens and stay connected past the first one\'s expiry', async () => {
    for (const [user, seen] of pages) {
      const { page, signedInAt } = seen;
      // The first token was signed before the sign-in finished, so it has expired by then.
      const pastFirstExpiry = signedInAt + TOKEN_TTL_SEC * 1000 + 500 - Date.now();
      if (pastFirstExpiry > 0) await new Promise((resolve) => setTimeout(resolve, pastFirstExpiry));
      expect(Number(await page.locator('#token').getAttribute('data-tokens'))).toBeGreaterThanOrEqual(2);
      const before = await count(user);
      await expect.poll(() => count(user), SEEN_WITHIN).toBeGreaterThan(before);
      expect(await page.locator('#inbox').getAttribute('data-state')).toBe('connected');
      // Refreshed over the same socket (auth.refresh), not by reconnecting.
      expect(seen.refreshes).toBeGreaterThanOrEqual(1);
      expect(seen.sockets).toBe(1);
    }
  });

  it('notifications example - the work queue grows on the broker, and the dashboard shows it', async () => {
    const authorization = `Basic ${Buffer.from(example.admin.join(':')).toString('base64')}`;
    const workQueue = async () => (await (await fetch(`${example.dashboard}api/queues/%2F/notify.work`, { headers: { authorization } })).json()) as Record<string, number>;
    const first = await workQueue();
    expect(first).toMatchObject({ consumers: 1 });
    expect(first.messages_unacknowledged).toBeLessThanOrEqual(10);

    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(example.dashboard);
    await page.getByLabel('User', { exact: true }).fill(example.admin[0]);
    await page.getByLabel('Password').fill(example.admin[1]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Queues' }).click();
    const ready = page.locator('section[aria-label=Queues] tbody tr', { has: page.locator('td[data-column=name]', { hasText: /^notify\.work$/ }) }).locator('td[data-column=messages_ready]');
    await ready.waitFor(SEEN_WITHIN);
    const shown = Number(await ready.textContent());
    expect(shown).toBeGreaterThan(0);
    // 60 msg/s in, 15 out: the next poll (3 s on) shows over a hundred more.
    await expect.poll(async () => Number(await ready.textContent()), SEEN_WITHIN).toBeGreaterThan(shown + 100);
    expect((await workQueue()).messages_ready).toBeGreaterThan(first.messages_ready + 100);
    await context.close();
  });

  it('notifications example - over the whole run each page got only its user\'s messages and logged no error; SIGTERM stops the example and its broker', async () => {
    for (const [user, { deliveredKeys }] of pages) expect(deliveredKeys.filter((key) => !key.startsWith(`user.${user}.`))).toEqual([]);
    expect(pageErrors).toEqual([]);
    example.child.kill('SIGTERM');
    expect(await example.exited).toBe(0);
    expect(alive(example.brokerPid)).toBe(false);
  });
});
