import { escapeRegex } from '../auth/index.js';

/**
 * Which browser origins may open a WebSocket (docs/security.md, "Transport security"): the
 * defence against Cross-Site WebSocket Hijacking, where a page on another site opens a socket
 * to the broker with the user's cookies or network position. A pattern is an origin such as
 * `https://app.example.com`; `*` in it matches one or more characters other than `/` and `:`
 * (`https://*.example.com` is every subdomain, at any depth, on the default port). Without
 * patterns every origin is allowed. A request without an Origin header is not a browser's and
 * is allowed.
 */
export function originPolicy(patterns: readonly string[] | undefined): (origin: string | undefined) => boolean {
  if (patterns === undefined) return () => true;
  const allowed = patterns.map((pattern) => new RegExp(`^${pattern.split('*').map(escapeRegex).join('[^/:]+')}$`, 'i'));
  return (origin) => origin === undefined || allowed.some((regex) => regex.test(origin));
}


/**
 * Pages served from this machine. With anonymous access from loopback (the development default)
 * only they may open a socket: any site the developer visits could otherwise drive the browser,
 * which connects from loopback, into the broker.
 */
export const LOOPBACK_ORIGINS: readonly string[] = ['http', 'https'].flatMap((scheme) =>
  ['localhost', '127.0.0.1', '[::1]'].flatMap((host) => [`${scheme}://${host}`, `${scheme}://${host}:*`]),
);
