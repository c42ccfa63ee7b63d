#!/usr/bin/env node
/**
 * The dashboard's screenshots for docs/dashboard.md (not part of `npm test`):
 *
 *   npm run build && node scripts/dashboard-screenshots.mjs [--out docs/images] [--seconds 45]
 *
 * Starts the BUILT broker (one administrator, a temp data dir, a free port), declares a few
 * queues, and runs traffic for --seconds so that the charts have a history: a publisher through
 * the API, a WebSocket consumer that acks most deliveries and nacks (requeues) some, so publish,
 * deliver, ack and redeliver all move, and a backlog builds in one queue; a stream, "events", read
 * by one consumer group and committed by hand for another, which lags. Then headless Chromium
 * (/usr/bin/chromium, or $CHROMIUM) signs in and saves dashboard-overview.png,
 * dashboard-queues.png and dashboard-stream.png. The broker and the browser are stopped at the
 * end, on error too.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/images' }, seconds: { type: 'string', default: '45' } } });
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const ADMIN = ['admin', 'admin-pw'];
const AUTHORIZATION = `Basic ${Buffer.from(ADMIN.join(':')).toString('base64')}`;
const { fetch } = globalThis;

const dir = mkdtempSync(join(tmpdir(), 'warren-screenshots-'));
writeFileSync(join(dir, 'broker.json'), JSON.stringify({ users: [{ username: ADMIN[0], password: ADMIN[1] }] }));
const broker = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--config', join(dir, 'broker.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
let browser;
let consumer;

try {
  const port = await new Promise((resolvePort, reject) => {
    broker.once('exit', (code) => reject(new Error(`the broker exited with ${code}`)));
    createInterface({ input: broker.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'listening') resolvePort(entry.port);
      } catch {
        // not a log line
      }
    });
  });
  const base = `http://127.0.0.1:${port}`;
  const api = async (path, method = 'GET', body) => {
    const response = await fetch(`${base}/api${path}`, { method, headers: { authorization: AUTHORIZATION }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response;
  };

  for (const [name, args] of [
    ['orders', {}],
    ['orders.dead-letters', {}],
    ['invoices', { 'x-queue-type': 'quorum' }],
    ['emails', {}],
    ['audit-log', {}],
    ['events', { 'x-queue-type': 'stream' }],
  ]) {
    await api(`/queues/%2F/${encodeURIComponent(name)}`, 'PUT', { durable: true, arguments: args });
  }
  await api('/policies/%2F/audit-cap', 'PUT', { pattern: '^audit-', definition: { 'max-length': 10000 }, 'apply-to': 'queues' });
  const publish = (queue, payload) => api('/exchanges/%2F/amq.default/publish', 'POST', { routing_key: queue, payload: JSON.stringify(payload), payload_encoding: 'string', properties: { delivery_mode: 2 } });

  // A consumer of "orders" and "invoices": acks nine deliveries in ten, requeues the tenth once.
  consumer = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((ready, reject) => {
    consumer.once('open', ready);
    consumer.once('error', reject);
  });
  consumer.on('message', (data) => {
    const frames = JSON.parse(data.toString());
    for (const frame of Array.isArray(frames) ? frames : [frames]) {
      if (frame.op !== 'deliver') continue;
      // A stream's entry: acked, which commits it for the group.
      if (frame.headers['x-stream-offset'] !== undefined) {
        consumer.send(JSON.stringify({ op: 'ack', deliveryTag: frame.deliveryTag }));
        continue;
      }
      if (frame.deliveryTag % 10 === 0 && !frame.redelivered) consumer.send(JSON.stringify({ op: 'nack', deliveryTag: frame.deliveryTag, requeue: true }));
      else consumer.send(JSON.stringify({ op: 'ack', deliveryTag: frame.deliveryTag }));
    }
  });
  consumer.send(JSON.stringify({ op: 'connect', id: 1, version: 1, username: ADMIN[0], password: ADMIN[1], clientName: 'order-service' }));
  consumer.send(JSON.stringify({ op: 'consume', id: 2, queue: 'orders', prefetch: 20 }));
  consumer.send(JSON.stringify({ op: 'consume', id: 3, queue: 'invoices', prefetch: 20 }));
  consumer.send(JSON.stringify({ op: 'consume', id: 4, queue: 'events', prefetch: 50, arguments: { 'x-stream-consumer': 'analytics', 'x-stream-offset': 'first' } }));

  // Traffic whose rate rises then falls, so the chart has a shape; "emails" only fills up.
  const started = Date.now();
  const until = started + Number(values.seconds) * 1000;
  let sent = 0;
  let events = 0;
  const traffic = (async () => {
    while (Date.now() < until) {
      const elapsed = (Date.now() - started) / 1000;
      const perTick = Math.round(4 + 6 * Math.sin((Math.PI * elapsed) / Number(values.seconds)));
      const batch = [];
      for (let i = 0; i < perTick; i++) {
        sent++;
        batch.push(publish(i % 3 === 2 ? 'invoices' : 'orders', { order: sent, total: (sent * 7.3) % 250 }));
        if (sent % 4 === 0) batch.push(publish('emails', { to: `user${sent}@example.com` }));
        if (sent % 9 === 0) batch.push(publish('audit-log', { event: 'order.created', order: sent }));
        if (sent % 2 === 0) {
          events++;
          batch.push(publish('events', { type: 'order.placed', order: sent }));
        }
      }
      await Promise.all(batch);
      await new Promise((wake) => setTimeout(wake, 250));
    }
  })();

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await page.goto(`${base}/`);
  await page.getByLabel('User', { exact: true }).fill(ADMIN[0]);
  await page.getByLabel('Password').fill(ADMIN[1]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('header.top .who').waitFor();
  await traffic;
  // A second group, behind: committed a third of the way, as a batch job that runs now and then would.
  consumer.send(JSON.stringify({ op: 'commit', id: 5, queue: 'events', consumer: 'billing-export', offset: Math.floor(events / 3) }));
  await page.waitForTimeout(3500);
  const out = resolve(values.out);
  await page.screenshot({ path: join(out, 'dashboard-overview.png') });

  await page.getByRole('link', { name: 'Queues' }).click();
  const emails = page.locator('section[aria-label=Queues] tbody tr', { has: page.locator('td[data-column=name]', { hasText: /^emails$/ }) });
  await emails.waitFor();
  await emails.getByRole('button', { name: 'Get' }).click();
  await page.getByLabel('How many (1 to 5)').fill('2');
  await page.getByRole('button', { name: 'Get messages' }).click();
  await page.locator('.panel .message').nth(1).waitFor();
  await page.screenshot({ path: join(out, 'dashboard-queues.png'), fullPage: true });

  const stream = page.locator('section[aria-label=Queues] tbody tr', { has: page.locator('td[data-column=name]', { hasText: /^events$/ }) });
  await stream.getByRole('button', { name: 'Stream' }).click();
  await page.locator('.panel tr[data-group=billing-export]').waitFor();
  await page.screenshot({ path: join(out, 'dashboard-stream.png') });
  console.log(`wrote dashboard-overview.png, dashboard-queues.png and dashboard-stream.png in ${out} (${sent} messages published)`);
} finally {
  consumer?.close();
  await browser?.close();
  if (broker.exitCode === null) {
    const exited = new Promise((done) => broker.once('exit', done));
    broker.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
