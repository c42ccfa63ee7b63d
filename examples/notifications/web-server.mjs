// The example's web app (docs/notifications-example.md): the page, Warren's client library for the
// browser, and the backend route that hands out tokens. node:http is enough for a handful of routes.
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { USER_ID } from './tokens.mjs';

const PUBLIC_DIR = new URL('./public/', import.meta.url);
/** Warren's client, built by `npm run build`: plain ES modules that run in browsers as they are. */
const CLIENT_DIR = new URL('../../dist/client/', import.meta.url);
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
/** The largest body POST /token reads: `{"user":"..."}`. */
const MAX_BODY_BYTES = 1024;

/**
 * @typedef {object} WebServer
 * @property {number} port
 * @property {string} url
 * @property {(brokerUrl: string) => void} setBrokerUrl where the page connects to; until set, the page's routes answer 503
 * @property {() => Promise<void>} close
 */

/**
 * Starts the web app on 127.0.0.1:`port` (0: a free port). Its routes:
 * - `GET /`, `/app.js`, `/style.css`: the page (public/), under a strict Content-Security-Policy;
 * - `GET /warren/<module>.js`: Warren's client library (dist/client), which the page imports;
 * - `GET /config.json`: the broker's URL and the users the producer notifies;
 * - `POST /token` with `{"user":"42"}`: a token for that user (see tokens.mjs).
 *
 * **The sign-in is a stand-in**: this route signs a token for whatever user id it is sent. A real
 * app signs one only for the user its own session cookie says is signed in.
 * @param {{ port: number, users: string[], signToken: (id: string) => Promise<{ token: string, expiresAt: number }> }} options
 * @returns {Promise<WebServer>}
 */
export async function startWebServer({ port, users, signToken }) {
  const files = new Map([
    ['/', await file(new URL('index.html', PUBLIC_DIR))],
    ['/app.js', await file(new URL('app.js', PUBLIC_DIR))],
    ['/style.css', await file(new URL('style.css', PUBLIC_DIR))],
  ]);
  let modules;
  try {
    modules = (await readdir(CLIENT_DIR)).filter((name) => name.endsWith('.js'));
  } catch {
    throw new Error(`${fileURLToPath(CLIENT_DIR)} is missing: run npm run build first`);
  }
  for (const name of modules) files.set(`/warren/${name}`, await file(new URL(name, CLIENT_DIR)));

  let brokerUrl = null;
  const server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      process.stderr.write(`web: ${request.method} ${request.url}: ${error.stack ?? error}\n`);
      if (!response.headersSent) send(response, 500, { error: 'internal error' });
      else response.destroy();
    });
  });

  async function handle(request, response) {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (brokerUrl === null) return send(response, 503, { error: 'starting' });
    if (path === '/token') {
      if (request.method !== 'POST') return send(response, 405, { error: 'POST only' }, { allow: 'POST' });
      const body = await readJson(request);
      const user = typeof body?.user === 'string' ? body.user : '';
      if (!USER_ID.test(user)) return send(response, 400, { error: 'a user id is 1 to 64 letters, digits, "-" or "_"' });
      return send(response, 200, await signToken(user));
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, { error: 'GET only' }, { allow: 'GET, HEAD' });
    if (path === '/config.json') return send(response, 200, { brokerUrl, users });
    // Browsers ask for it; an empty answer keeps their consoles free of 404s.
    if (path === '/favicon.ico') return send(response, 204);
    const found = files.get(path);
    if (!found) return send(response, 404, { error: 'not found' });
    response.writeHead(200, {
      'content-type': found.type,
      // The page may run its own scripts and talk to this server and the broker, nothing else.
      'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ${brokerUrl}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    response.end(request.method === 'HEAD' ? undefined : found.body);
  }

  await new Promise((resolve, reject) => {
    server.once('error', (error) => reject(error.code === 'EADDRINUSE' ? new Error(`cannot listen on 127.0.0.1:${port} for the page: the address is in use; pass another --port (0 picks a free one)`) : error));
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = server.address().port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}/`,
    setBrokerUrl: (url) => {
      brokerUrl = url;
    },
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}

async function file(url) {
  const path = fileURLToPath(url);
  return { type: TYPES[path.slice(path.lastIndexOf('.'))], body: await readFile(path) };
}

function send(response, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  response.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), 'cache-control': 'no-store', ...headers });
  response.end(text);
}

/** The request's JSON body, or null when it is not JSON or is too large. */
async function readJson(request) {
  const chunks = [];
  let size = 0;
  for await (const chunk of request) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return null;
  }
}
