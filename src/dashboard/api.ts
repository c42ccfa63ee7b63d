/** The management API (docs/management.md) as the dashboard calls it: same origin, one header. */

/** An answer other than 2xx: the API's `{error, reason}`. */
export class ApiFailure extends Error {
  override name = 'ApiFailure';

  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly body: unknown,
  ) {
    super(reason);
  }

  /**
   * The credentials no longer work (or never did, or the user lost its management tag): back to
   * sign-in. A 401 `not_authorised` for one object or vhost is a refusal, not a sign-out.
   */
  get signsOut(): boolean {
    return this.status === 401 && (this.error === 'not_authorized' || this.reason.startsWith('Not management user'));
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A path segment: a vhost or a name, `/` included, percent-encoded (`/` is `%2F`). */
export const segment = (name: string): string => encodeURIComponent(name);

/** A client of the API with one Authorization header; `onSignOut` runs when the API refuses it. */
export class Api {
  constructor(
    private readonly authorization: string,
    private readonly onSignOut: (reason: string) => void,
  ) {}

  /** The JSON answer of a 2xx (undefined when empty); anything else throws an ApiFailure. */
  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: this.authorization, ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`/api${path}`, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      // The header carries the credentials; no cookies, and no browser login prompt on a 401.
      credentials: 'omit',
      cache: 'no-store',
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      body = text;
    }
    if (response.ok) return body as T;
    const { error, reason } = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; reason?: unknown };
    const failure = new ApiFailure(response.status, typeof error === 'string' ? error : String(response.status), typeof reason === 'string' ? reason : response.statusText, body);
    if (failure.signsOut) this.onSignOut(failure.reason);
    throw failure;
  }
}

/** A page of a list (docs/management.md, "Lists"). */
export interface Page<T> {
  items: T[];
  page: number;
  page_count: number;
  page_size: number;
  filtered_count: number;
  total_count: number;
}
