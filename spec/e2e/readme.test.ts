import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from './harness.js';

// The README's code is what newcomers copy: it runs here, against the real broker, as written.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT = pathToFileURL(join(ROOT, 'dist/client/index.js')).href;

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
});

describe('readme - using it from code', () => {
  it('readme - the example runs as written, and the order its handler fails on is dead-lettered into a queue, not dropped', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = /## Using it from code\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example, 'the README has a "Using it from code" TypeScript block').toBeDefined();
    const script = [
      // The example leaves `handle` to the reader: this one fails, so the message is nacked.
      "const handle = async () => { throw new Error('billing is down'); };",
      example!.replace("from 'warren'", `from '${CLIENT}'`).replace('ws://127.0.0.1:5680/ws', broker.url),
      'let dead = null;',
      "for (let i = 0; i < 100 && !dead; i++) { dead = (await client.get('orders.failed', { noAck: true })).message; if (!dead) await new Promise((r) => setTimeout(r, 20)); }",
      'console.log(JSON.stringify(dead && { payload: dead.payload, headers: dead.headers, properties: dead.properties }));',
      'await client.close();',
    ].join('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'warren-readme-')), 'example.mjs');
    writeFileSync(file, script);
    const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 10_000 });
    const dead = JSON.parse(stdout) as { payload: unknown; headers: Record<string, unknown>; properties: Record<string, unknown> } | null;
    expect(dead, 'the nacked order reached orders.failed').not.toBeNull();
    expect(dead).toMatchObject({ payload: { id: 42 }, headers: { 'x-first-death-queue': 'billing', 'x-first-death-reason': 'rejected' }, properties: { persistent: true } });
  });
});

describe('readme - streams', () => {
  it('readme - the streams example pushes and pulls the same log as written', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = /Streams are the Kafka side[^\n]*\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example, 'the README has a streams TypeScript block').toBeDefined();
    const script = [
      `import { connect } from '${CLIENT}';`,
      `const client = await connect('${broker.url}');`,
      example!,
      // The push is asynchronous: wait until the group has committed the entry it printed.
      "for (let i = 0; i < 200 && (await client.committed('events', 'audit')) !== 0; i++) await new Promise((r) => setTimeout(r, 10));",
      "console.log(JSON.stringify({ pulled: messages.map((m) => m.payload), next, reports: await client.committed('events', 'reports') }));",
      'await client.close();',
    ].join('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'warren-readme-')), 'streams.mjs');
    writeFileSync(file, script);
    const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 10_000 });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toBe("0 { clicked: 'buy' }");
    expect(JSON.parse(lines[1])).toEqual({ pulled: [{ clicked: 'buy' }], next: 1, reports: 0 });
  });
});
