import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DASHBOARD_STYLE } from './dashboard-style.js';

/** Where the dashboard lives on the broker's port (docs/dashboard.md). */
export const DASHBOARD_PREFIX = '/dashboard';

/** The browser modules: src/dashboard compiled by `npm run build` into dist/dashboard, beside dist/http. */
const MODULES_DIR = new URL('../dashboard/', import.meta.url);

/** The chart library's files, served from its npm package (no CDN). */
const VENDOR: Readonly<Record<string, { specifier: string; type: string }>> = {
  'uPlot.esm.js': { specifier: 'uplot/dist/uPlot.esm.js', type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { specifier: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

/** Maps the bare `uplot` the modules import (typed against the npm package) to the served file. */
const IMPORT_MAP = JSON.stringify({ imports: { uplot: `${DASHBOARD_PREFIX}/vendor/uPlot.esm.js` } });

/** The page: a shell the modules fill in, every piece of data set with textContent. */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Warren</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${DASHBOARD_PREFIX}/vendor/uPlot.min.css">
<link rel="stylesheet" href="${DASHBOARD_PREFIX}/style.css">
<script type="importmap">${IMPORT_MAP}</script>
<script type="module" src="${DASHBOARD_PREFIX}/app.js"></script>
</head>
<body>
<noscript>The Warren dashboard needs JavaScript.</noscript>
</body>
</html>
`;

/**
 * Only this origin's scripts (and the import map, by its hash), no inline script or style in
 * markup, no framing, no forms posted anywhere: a queue name that slips past the DOM code still
 * cannot run.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${createHash('sha256').update(IMPORT_MAP).digest('base64')}'`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface Asset {
  readonly type: string;
  readonly body: Buffer | string;
}

/** The dashboard's files, read once at start-up: they are small and do not change while the broker runs. */
async function loadAssets(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: PAGE }],
    ['/style.css', { type: 'text/css; charset=utf-8', body: DASHBOARD_STYLE }],
  ]);
  const require = createRequire(import.meta.url);
  for (const [file, { specifier, type }] of Object.entries(VENDOR)) assets.set(`/vendor/${file}`, { type, body: await readFile(require.resolve(specifier)) });
  let files: string[] = [];
  try {
    files = await readdir(MODULES_DIR);
  } catch {
    // Run from the sources (tests in process): nothing compiled to serve; the page says so below.
  }
  for (const file of files.filter((name) => name.endsWith('.js'))) {
    assets.set(`/${file}`, { type: 'text/javascript; charset=utf-8', body: await readFile(fileURLToPath(new URL(file, MODULES_DIR))) });
  }
  if (!assets.has('/app.js')) {
    assets.set('/app.js', { type: 'text/javascript; charset=utf-8', body: `document.body.textContent = 'The dashboard is not built: run npm run build.';\n` });
  }
  return assets;
}

/** The dashboard's two fastify handlers: `redirect` for the bare prefix, `asset` for `prefix/*`. */
export interface DashboardHandlers {
  redirect(request: FastifyRequest, reply: FastifyReply): FastifyReply;
  asset(request: FastifyRequest, reply: FastifyReply): FastifyReply;
}

/**
 * The dashboard (docs/dashboard.md): static files only, without authentication (they hold no
 * data); the page signs in to the management API as any other client of it does.
 */
export async function dashboardHandlers(): Promise<DashboardHandlers> {
  const assets = await loadAssets();
  return {
    redirect: (_request, reply) => reply.redirect(`${DASHBOARD_PREFIX}/`),
    asset: (request, reply) => {
      const asset = assets.get(`/${(request.params as { '*': string })['*']}`);
      if (!asset) {
        reply.callNotFound();
        return reply;
      }
      return reply.headers(SECURITY_HEADERS).type(asset.type).send(asset.body);
    },
  };
}

/**
 * The plain HTTP listener for the bare `/` (RabbitMQ's UI is there): it sends a browser to the
 * dashboard. The transport also hands it paths starting with `//`, which get the transport's 426
 * as before.
 */
export function rootRedirect(request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '').split('?')[0];
  if (path === '/' && (request.method === 'GET' || request.method === 'HEAD')) {
    response.writeHead(302, { location: `${DASHBOARD_PREFIX}/`, 'cache-control': 'no-cache' }).end();
  } else {
    response.writeHead(426, { 'content-type': 'text/plain' }).end(`Warren speaks WebSocket; its dashboard is at ${DASHBOARD_PREFIX}/\n`);
  }
}
