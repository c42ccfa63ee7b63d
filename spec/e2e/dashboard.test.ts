import { existsSync } from 'node:fs';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ADMIN_CONFIG, api, RawClient, startBroker, type RunningBroker } from './harness.js';

/** Debian's chromium, driven by playwright-core; .ci/run installs it. $WARREN_CHROMIUM names another. */
const CHROMIUM = process.env.WARREN_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`\n*** SKIPPED: chromium is not installed; .ci/run installs it (apt-get install chromium; not found at ${CHROMIUM}). The dashboard tests did not run. ***\n`);

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** A queue name that is markup: the dashboard must show it as text, and nothing in it may run. */
const HOSTILE = '<img src=x onerror="window.__xss=1">&amp;q';
/** Where the broker's answers show up on the page: a poll every 3 s, and a refresh after each action. */
const SEEN_WITHIN = { timeout: 10_000 };
const SECRET = 'dashboard-test-secret-of-at-least-32-bytes';

async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

describe.skipIf(!hasChromium)('dashboard - in headless Chromium against a real broker', () => {
  let broker: RunningBroker;
  let browser: Browser;
  let page: Page;
  /** What the page logged as errors (a CSP violation, an exception): none expected. */
  const pageErrors: string[] = [];
  const base = () => `http://127.0.0.1:${broker.port}`;
  const queueRow = (name: string) => page.locator('section[aria-label=Queues] tbody tr', { has: page.locator('td[data-column=name]', { hasText: name }) });

  beforeAll(async () => {
    broker = await startBroker(ADMIN_CONFIG);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      // A refused request (the 401 of a wrong password) is logged by the browser itself; it is expected.
      if (message.type() === 'error' && !/status of 401/.test(message.text())) pageErrors.push(`console: ${message.text()}`);
    });
    expect((await api(broker, `/api/queues/%2F/${encodeURIComponent(HOSTILE)}`, { user: ADMIN, method: 'PUT', body: {} })).status).toBe(201);
    expect((await api(broker, '/api/queues/%2F/dash-target', { user: ADMIN, method: 'PUT', body: {} })).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await broker?.stop();
  });

  it('dashboard - / redirects to /dashboard/; the page has a CSP; uPlot comes from its npm package; the rest of plain HTTP is as before', async () => {
    const root = await fetch(`${base()}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/dashboard/']);
    const html = await fetch(`${base()}/dashboard/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-/);
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    const uplot = await fetch(`${base()}/dashboard/vendor/uPlot.esm.js`);
    expect([uplot.status, uplot.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(await uplot.text()).toMatch(/export \{ uPlot as default \}/);
    expect((await fetch(`${base()}/dashboard/app.js`)).status).toBe(200);
    expect((await fetch(`${base()}/dashboard/nope.js`)).status).toBe(404);
    expect((await fetch(`${base()}/elsewhere`)).status).toBe(426);
  });

  it('dashboard - sign-in: a wrong password shows the API reason; the admin gets in and is kept for the tab', async () => {
    await page.goto(`${base()}/`);
    expect(page.url()).toBe(`${base()}/dashboard/`);
    await page.getByLabel('User', { exact: true }).fill('admin');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refused = await api(broker, '/api/whoami', { user: [ADMIN[0], 'wrong'] });
    expect(refused.status).toBe(401);
    await expect.poll(() => page.getByRole('alert').textContent()).toBe((refused.body as { reason: string }).reason);
    await page.getByLabel('Password').fill(ADMIN[1]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('header.top .who', { hasText: 'admin' }).waitFor();
    const stored = await page.evaluate(() => sessionStorage.getItem('warren.dashboard.session'));
    expect(JSON.parse(stored ?? '{}')).toMatchObject({ name: 'admin', authorization: expect.stringMatching(/^Basic /) });
  });

  it('dashboard - overview: object totals and the two uPlot charts, fed by polling', async () => {
    await page.locator('[data-total=queues] dd', { hasText: '2' }).waitFor(SEEN_WITHIN);
    expect(await page.locator('.chart canvas').count()).toBe(2);
    expect(await page.locator('.chart figcaption').allTextContents()).toEqual(['Message rates (per second)', 'Queued messages']);
    expect(await page.locator('header.top .version').textContent()).toMatch(/warren@/);
  });

  it('dashboard - queues: the depth follows a publish from the form and one from the API; get shows a message; purge shows 0; names stay text', async () => {
    await page.getByRole('link', { name: 'Queues' }).click();
    const row = queueRow(HOSTILE);
    await row.waitFor(SEEN_WITHIN);
    // The name is shown as the text it is, and nothing in it ran.
    expect(await row.locator('td[data-column=name]').textContent()).toBe(HOSTILE);
    expect(await page.locator('section[aria-label=Queues] img').count()).toBe(0);
    const ready = row.locator('td[data-column=messages_ready]');
    expect(await ready.textContent()).toBe('0');
    // The queue's own rates, from its message_stats: none before anything happened in it.
    const inRate = row.locator('td[data-column="message_stats.publish_details.rate"]');
    expect(await inRate.textContent()).toBe('');

    await row.getByRole('button', { name: 'Publish' }).click();
    await page.getByLabel('Payload (a string)').fill('hello <b>dashboard</b>');
    await page.getByRole('button', { name: 'Publish message' }).click();
    await page.locator('.panel .outcome.ok', { hasText: 'Published.' }).waitFor();
    await expect.poll(() => ready.textContent(), SEEN_WITHIN).toBe('1');
    expect(await inRate.textContent()).toMatch(/^[\d.,]+\/s$/);

    const published = await api(broker, '/api/exchanges/%2F/amq.default/publish', {
      user: ADMIN,
      method: 'POST',
      body: { routing_key: HOSTILE, payload: 'from the API', payload_encoding: 'string', properties: {} },
    });
    expect(published).toMatchObject({ status: 200, body: { routed: true } });
    await expect.poll(() => ready.textContent(), SEEN_WITHIN).toBe('2');

    await row.getByRole('button', { name: 'Get' }).click();
    await page.getByLabel('How many (1 to 5)').fill('5');
    await page.getByRole('button', { name: 'Get messages' }).click();
    await page.locator('.panel .message').nth(1).waitFor();
    expect(await page.locator('.panel .message pre.payload').allTextContents()).toEqual(['hello <b>dashboard</b>', 'from the API']);
    expect(await page.locator('.panel .message b').count()).toBe(0);
    // ack_requeue_true: both are still there.
    await expect.poll(() => ready.textContent(), SEEN_WITHIN).toBe('2');

    await row.getByRole('button', { name: 'Move' }).click();
    await page.getByLabel('Destination queue').fill('dash-target');
    await page.getByLabel('How many (empty: all)').fill('1');
    await page.getByRole('button', { name: 'Move messages' }).click();
    await page.locator('.panel .outcome.ok', { hasText: 'Moved 1 message to dash-target.' }).waitFor();
    await expect.poll(() => ready.textContent(), SEEN_WITHIN).toBe('1');
    await expect.poll(() => queueRow('dash-target').locator('td[data-column=messages_ready]').textContent(), SEEN_WITHIN).toBe('1');

    await row.getByRole('button', { name: 'Purge' }).click();
    await page.getByRole('button', { name: 'Purge queue' }).click();
    await expect.poll(() => ready.textContent(), SEEN_WITHIN).toBe('0');
    expect(await api(broker, `/api/queues/%2F/${encodeURIComponent(HOSTILE)}`, { user: ADMIN })).toMatchObject({ body: { messages_ready: 0 } });

    // The name filter asks the API for the matching page.
    await page.getByPlaceholder('Filter queues by name').fill('target');
    await expect.poll(() => page.locator('section[aria-label=Queues] tbody tr').count(), SEEN_WITHIN).toBe(1);
    await page.getByPlaceholder('Filter queues by name').fill('');
    await expect.poll(() => page.locator('section[aria-label=Queues] tbody tr').count(), SEEN_WITHIN).toBe(2);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('dashboard - streams: a stream row has Stream instead of Get, Purge and Move; its panel shows the offsets, the size and each group\'s lag, refreshed with the table', async () => {
    // Published and committed through the WebSocket protocol; the dashboard reads only the API.
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: ADMIN[0], password: ADMIN[1] });
    expect(await client.request({ op: 'queue.declare', queue: 'dash-stream', arguments: { 'x-queue-type': 'stream' } })).toMatchObject({ op: 'ok' });
    for (let n = 0; n < 5; n++) expect(await client.request({ op: 'publish', exchange: '', routingKey: 'dash-stream', payload: { n } })).toMatchObject({ op: 'ok' });
    expect(await client.request({ op: 'commit', queue: 'dash-stream', consumer: 'billing', offset: 1 })).toMatchObject({ op: 'ok' });

    await page.getByRole('link', { name: 'Queues' }).click();
    const row = queueRow('dash-stream');
    await row.waitFor(SEEN_WITHIN);
    expect(await row.locator('td[data-column=type]').textContent()).toBe('stream');
    expect(await row.getByRole('button').allTextContents()).toEqual(['Publish', 'Stream']);
    // A classic queue keeps its four.
    expect(await queueRow('dash-target').getByRole('button').allTextContents()).toEqual(['Publish', 'Get', 'Purge', 'Move']);

    await row.getByRole('button', { name: 'Stream' }).click();
    const panel = page.locator('section[aria-label=Queues] .panel');
    const fact = (name: string) => panel.locator(`[data-stream=${name}] dd`);
    const group = panel.locator('tr[data-group=billing]');
    await expect.poll(() => fact('next_offset').textContent(), SEEN_WITHIN).toBe('5');
    expect(await fact('first_offset').textContent()).toBe('0');
    expect(await fact('entries').textContent()).toBe('5');
    const { stream } = (await api(broker, '/api/queues/%2F/dash-stream', { user: ADMIN })).body as { stream: { bytes: number } };
    expect(stream.bytes).toBeGreaterThan(0);
    expect(await fact('bytes').textContent()).toMatch(/^[\d.,]+ (B|KiB|MiB)$/);
    expect(await panel.locator('[data-stream=bytes]').getAttribute('title')).toBe(`${stream.bytes.toLocaleString('en')} bytes`);
    expect(await group.locator('td').allTextContents()).toEqual(['billing', '1', '3', '0']);

    // The open panel follows the stream: two more entries and a later commit, without reopening it.
    for (let n = 5; n < 7; n++) await client.request({ op: 'publish', exchange: '', routingKey: 'dash-stream', payload: { n } });
    await client.request({ op: 'commit', queue: 'dash-stream', consumer: 'billing', offset: 5 });
    await expect.poll(() => fact('next_offset').textContent(), SEEN_WITHIN).toBe('7');
    await expect.poll(() => group.locator('td[data-column=lag]').textContent(), SEEN_WITHIN).toBe('1');
    expect(await group.locator('td[data-column=committed]').textContent()).toBe('5');
    client.close();

    await panel.getByRole('button', { name: 'Close this panel' }).click();
    expect(await panel.isHidden()).toBe(true);
  });

  it('dashboard - exchanges: listed with the default exchange, and the bindings from one', async () => {
    await page.getByRole('link', { name: 'Exchanges' }).click();
    const defaultExchange = page.locator('section[aria-label=Exchanges] tbody tr', { hasText: '(AMQP default)' });
    await defaultExchange.waitFor(SEEN_WITHIN);
    expect(await page.locator('section[aria-label=Exchanges] tbody tr', { hasText: 'amq.topic' }).count()).toBe(1);
    await defaultExchange.getByRole('button', { name: 'Bindings' }).click();
    await page.locator('section[aria-label=Exchanges] .panel td', { hasText: 'dash-target' }).first().waitFor();
  });

  it('dashboard - connections: Close closes the client with code 4320 and the reason given', async () => {
    const client = await RawClient.open(broker.url);
    await client.request({ op: 'connect', version: 1, username: ADMIN[0], password: ADMIN[1], clientName: 'dashboard-victim' });
    await page.getByRole('link', { name: 'Connections' }).click();
    const row = page.locator('section[aria-label=Connections] tbody tr', { hasText: 'dashboard-victim' });
    await row.waitFor(SEEN_WITHIN);
    await row.getByRole('button', { name: 'Close' }).click();
    await page.getByLabel('Reason (sent to the client)').fill('maintenance window');
    await page.getByRole('button', { name: 'Close connection' }).click();
    expect(await client.waitForClose()).toBe(4320);
    await row.waitFor({ state: 'detached', ...SEEN_WITHIN });
    expect(broker.logs.some((entry) => JSON.stringify(entry).includes('maintenance window'))).toBe(true);
  });

  it('dashboard - credentials the API refuses send the tab back to sign-in with the reason', async () => {
    await page.evaluate(() => sessionStorage.setItem('warren.dashboard.session', JSON.stringify({ name: 'admin', authorization: `Basic ${btoa('admin:stale')}` })));
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor(SEEN_WITHIN);
    const refused = await api(broker, '/api/whoami', { user: [ADMIN[0], 'stale'] });
    expect(await page.getByRole('alert').textContent()).toBe((refused.body as { reason: string }).reason);
    expect(await page.evaluate(() => sessionStorage.getItem('warren.dashboard.session'))).toBeNull();
    expect(pageErrors).toEqual([]);
  });

  it('dashboard - sign-in with a token (Bearer); an alarm in force is shown with its reason', async () => {
    const alarmed = await startBroker({ auth: { jwt: { secret: SECRET } }, flow: { diskFreeLimitBytes: Number.MAX_SAFE_INTEGER, checkIntervalMs: 50 } });
    const token = await new SignJWT({ sub: 'ann', aud: 'warren', exp: Math.floor(Date.now() / 1000) + 600, scope: 'warren.tag:monitoring' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    const tab = await browser.newPage();
    try {
      await tab.goto(`http://127.0.0.1:${alarmed.port}/`);
      await tab.getByLabel('Token', { exact: true }).check();
      await tab.getByLabel('Token (JWT)').fill(token);
      await tab.getByRole('button', { name: 'Sign in' }).click();
      await tab.locator('header.top .who', { hasText: 'ann (monitoring)' }).waitFor(SEEN_WITHIN);
      expect(JSON.parse((await tab.evaluate(() => sessionStorage.getItem('warren.dashboard.session'))) ?? '{}')).toMatchObject({ name: 'ann', authorization: `Bearer ${token}` });
      const alarm = tab.locator('.alarm');
      await alarm.waitFor(SEEN_WITHIN);
      expect(await alarm.textContent()).toMatch(/^Alarm: There are alarms in effect: disk: .* below flow\.diskFreeLimitBytes/);
    } finally {
      await tab.close();
      await alarmed.stop();
    }
  });
});
