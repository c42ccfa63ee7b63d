import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountBook } from '../../src/auth/index.js';
import { openManagementApi, type ManagementApi } from '../../src/http/index.js';
import { Transport } from '../../src/transport/index.js';
import { memoryVhosts, usersAuth } from '../transport/fake-server-socket.js';

// The management API in-process, on a Transport of its own: what the real process cannot be made
// to do on demand (an alarm coming and going, a handler failing).

let transport: Transport | undefined;
let api: ManagementApi | undefined;
afterEach(async () => {
  await api?.close();
  await transport?.close(100);
});

async function listening() {
  const { vhosts } = await memoryVhosts();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const auth = usersAuth();
  transport = new Transport(
    { vhosts, auth, highWaterBytes: 1 << 20, drainTimeoutMs: 60_000, flow: { alarm: null }, counts: { confirmed: 0 }, serverVersion: 'test', logger },
    { path: '/ws', maxMessageBytes: 1 << 20, heartbeatMs: 0, maxConnections: 100, maxConnectionsPerAddress: 100 },
  );
  api = await openManagementApi({ vhosts, auth, transport, version: '9.9.9', logger, node: 'warren@test', accounts: new AccountBook(), saveAccounts: async () => {} });
  const server = transport.httpServer;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${transport.address()?.port}`;
  const get = async (path: string) => {
    const response = await fetch(`${base}${path}`);
    const text = await response.text();
    return { status: response.status, text, body: response.headers.get('content-type')?.startsWith('application/json') ? (JSON.parse(text) as unknown) : undefined };
  };
  return { transport, vhosts, lines, get };
}

describe('http - management API on the transport', () => {
  it('http - the alarms check follows the transport: 503 "failed" while an alarm is in force, ok once it clears', async () => {
    const { transport, get } = await listening();
    expect(await get('/api/health/checks/alarms')).toMatchObject({ status: 200, body: { status: 'ok' } });
    transport.setAlarm('disk: 10 MiB free on ./data, below flow.diskFreeLimitBytes (48 MiB)');
    expect(await get('/api/health/checks/alarms')).toMatchObject({
      status: 503,
      body: { status: 'failed', reason: 'There are alarms in effect: disk: 10 MiB free on ./data, below flow.diskFreeLimitBytes (48 MiB)' },
    });
    transport.setAlarm(null);
    expect(await get('/api/health/checks/alarms')).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('http - only /api, /metrics, /dashboard and paths under them reach the API; / redirects to the dashboard; the rest of plain HTTP gets 426 as before', async () => {
    const { get } = await listening();
    expect(await get('/api?columns=name')).toMatchObject({ status: 404, body: { error: 'Object Not Found' } });
    expect(await get('/api/overview?x=1')).toMatchObject({ status: 200, body: { product_name: 'Warren', management_version: '9.9.9', node: 'warren@test' } });
    expect((await get('/metrics')).status).toBe(200);
    for (const path of ['/apix', '/ws', '/metricsx', '/dashboardx']) expect(await get(path), path).toMatchObject({ status: 426, text: 'Warren speaks WebSocket at /ws\n' });
    // The bare '/' sends a browser to the dashboard (docs/dashboard.md); '//...' stays 426.
    expect(await get('/')).toMatchObject({ status: 200, text: expect.stringContaining('<title>Warren</title>') });
    expect((await get('//x')).status).toBe(426);
  });

  it('http - a handler that fails answers 500 internal_server_error and logs why', async () => {
    const { vhosts, lines, get } = await listening();
    vhosts.names = () => {
      throw new Error('boom');
    };
    expect(await get('/api/vhosts')).toMatchObject({ status: 500, body: { error: 'internal_server_error', reason: expect.stringMatching(/log/) } });
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, msg: 'management API request failed', err: expect.objectContaining({ message: 'boom' }) }));
  });
});
