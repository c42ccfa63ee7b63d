/** A failure to report as it is, `warren: <message>` on stderr and exit 1: no stack trace for a person's mistake. */
export class AdminError extends Error {
  override name = 'AdminError';
}

/** How the CLI logs in to the management API (docs/management.md, "Authentication"). */
export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
}

/** The schemes `--url` takes, and the HTTP scheme each means: a client command's ws:// URL works as it is. */
const HTTP_SCHEMES = new Map([
  ['http:', 'http:'],
  ['https:', 'https:'],
  ['ws:', 'http:'],
  ['wss:', 'https:'],
]);

/**
 * The origin the management API is served on, from `--url`: ws:// means http:// and wss:// https://
 * on the same host and port (the API shares the broker's port); the path is ignored.
 */
export function apiOrigin(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AdminError(`--url "${url}" is not a URL; give the broker's, e.g. http://127.0.0.1:5680`);
  }
  const scheme = HTTP_SCHEMES.get(parsed.protocol);
  if (scheme === undefined) throw new AdminError(`--url "${url}" is not an http://, https://, ws:// or wss:// URL`);
  return `${scheme}//${parsed.host}`;
}

/** The `Authorization` header: Bearer for a token, Basic for a user name or password, none for an anonymous request. */
export function authorization(credentials: Credentials): string | undefined {
  const { username, password, token } = credentials;
  if (token !== undefined) {
    if (username !== undefined || password !== undefined) throw new AdminError('give --token or --username/--password, not both');
    return `Bearer ${token}`;
  }
  if (username === undefined && password === undefined) return undefined;
  return `Basic ${Buffer.from(`${username ?? ''}:${password ?? ''}`, 'utf8').toString('base64')}`;
}

/** `/api/...` with every segment percent-encoded: vhost "/" is %2F, and so is a "/" in a name. */
export function apiPath(...segments: string[]): string {
  return `/api/${segments.map(encodeURIComponent).join('/')}`;
}

export interface RequestOptions {
  /** Query parameters, e.g. `if-empty=true`. */
  readonly query?: Record<string, string>;
  /** JSON text. */
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

/** A client of the management API over the global fetch: one request per call, answers parsed as JSON. */
export class ManagementClient {
  readonly #origin: string;
  readonly #authorization: string | undefined;

  /** @throws AdminError for a `url` that is no broker URL, and for a token given with a user name or password */
  constructor(url: string, credentials: Credentials) {
    this.#origin = apiOrigin(url);
    this.#authorization = authorization(credentials);
  }

  /**
   * Sends one request and returns the answer's JSON, undefined for an empty answer (204).
   * @throws AdminError `<status> <error>: <reason>` when the API refuses, and when the broker cannot be reached
   */
  async request(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, options: RequestOptions = {}): Promise<unknown> {
    const query = options.query === undefined ? '' : `?${new URLSearchParams(options.query).toString()}`;
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let statusText: string;
    let text: string;
    try {
      const response = await fetch(`${this.#origin}${path}${query}`, { method, headers, body: options.body });
      ({ status, statusText } = response);
      text = await response.text();
    } catch (error) {
      throw new AdminError(unreachable(this.#origin, error));
    }
    if (status < 200 || status > 299) throw new AdminError(refusal(status, statusText, text));
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new AdminError(`${status} from ${this.#origin}${path} is not JSON; is --url a Warren broker?`);
    }
  }
}

/** `<status> <error>: <reason>` from the API's `{"error","reason"}` (docs/management.md, "Errors"); the status line otherwise. */
function refusal(status: number, statusText: string, text: string): string {
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string') {
      const { error, reason } = body as { error: string; reason?: unknown };
      return typeof reason === 'string' && reason !== '' ? `${status} ${error}: ${reason}` : `${status} ${error}`;
    }
  } catch {
    // Not the API's JSON (a proxy, another server): the status line says what there is.
  }
  const firstLine = text.trim().split('\n', 1)[0].slice(0, 200);
  return `${status} ${statusText || 'error'}${firstLine === '' ? '' : `: ${firstLine}`}`;
}

/** One line on why fetch failed: undici puts the socket's error in `cause`, an AggregateError when several addresses were tried. */
function unreachable(origin: string, error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const first = cause instanceof AggregateError && cause.errors[0] instanceof Error ? cause.errors[0] : cause;
  const code = (first as NodeJS.ErrnoException | undefined)?.code ?? (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED') return `cannot connect to the broker at ${origin}: connection refused; is it running, and is --url right?`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot connect to the broker at ${origin}: the host name does not resolve`;
  const message = first instanceof Error && first.message !== '' ? first.message : String(first);
  return `cannot connect to the broker at ${origin}: ${message}`;
}
