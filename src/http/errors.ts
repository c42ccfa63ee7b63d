/**
 * The management API's errors: JSON `{"error", "reason"}` with RabbitMQ's status codes and error
 * names (docs/management.md, "Errors").
 */
export class ApiError extends Error {
  override name = 'ApiError';

  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(reason);
  }

  get body(): { error: string; reason: string } {
    return { error: this.error, reason: this.reason };
  }
}

/** The realm a client is asked to authenticate in (RabbitMQ's is "RabbitMQ Management"). */
export const AUTH_REALM = 'Basic realm="Warren"';

/** No credentials, or credentials that do not verify: the client is asked for them. */
export const notAuthenticated = (reason: string): ApiError => new ApiError(401, 'not_authorized', reason, { 'www-authenticate': AUTH_REALM });

/** Credentials that verify, for someone who may not do this (RabbitMQ's spelling, and its 401). */
export const notAuthorised = (reason: string): ApiError => new ApiError(401, 'not_authorised', reason);

/** An unknown path, vhost or object: RabbitMQ's words exactly, as clients match on them. */
export const notFound = (): ApiError => new ApiError(404, 'Object Not Found', 'Not Found');

export const badRequest = (reason: string): ApiError => new ApiError(400, 'bad_request', reason);

export const methodNotAllowed = (method: string, allowed: readonly string[]): ApiError =>
  new ApiError(405, 'method_not_allowed', `${method} is not allowed here; this resource allows ${allowed.join(', ')}`, { allow: allowed.join(', ') });

export const internalError = (): ApiError => new ApiError(500, 'internal_server_error', 'the broker failed to answer this request; its log says why');
