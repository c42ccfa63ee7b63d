/** Who the dashboard is signed in as: the Authorization header it sends, kept for the tab only. */
export interface Session {
  /** The name shown: the user, or the token's `sub` once whoami answered. */
  readonly name: string;
  readonly authorization: string;
}

const KEY = 'warren.dashboard.session';

/** The session of this tab (sessionStorage: gone when the tab closes), if signed in. */
export function loadSession(): Session | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<Session> | null;
    return stored && typeof stored.name === 'string' && typeof stored.authorization === 'string' ? { name: stored.name, authorization: stored.authorization } : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** HTTP basic for a management user: base64 of the UTF-8 bytes of `user:password`. */
export function basicAuthorization(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `Basic ${btoa(binary)}`;
}

export function bearerAuthorization(token: string): string {
  return `Bearer ${token.trim()}`;
}
