// The tokens the example's backend hands to the page: docs/security.md, "A worked example: a
// notification page per user". HS256, signed with the secret the broker verifies them with.
import { TextEncoder } from 'node:util';
import { SignJWT } from 'jose';

/**
 * A user id the page may sign in as: letters, digits, `-` and `_`. Checked before it goes into a
 * scope, where `*` would match every user's keys, a `.` another level of them, and a space would
 * start a scope of its own.
 */
export const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The exchange the browsers bind from (the worked example's). */
export const DELIVERY_EXCHANGE = 'notifications';

/**
 * The scopes of user `id`'s token: make, bind and read its own server-named queue (`amq.gen-...`),
 * and bind it from `notifications` only with binding keys that start `user.<id>.`.
 * @param {string} id a user id that matches {@link USER_ID}
 * @returns {string[]}
 */
export function scopesFor(id) {
  return [
    'warren.configure:%2F/amq.gen-*',
    'warren.write:%2F/amq.gen-*',
    'warren.read:%2F/amq.gen-*',
    `warren.read:%2F/${DELIVERY_EXCHANGE}/user.${id}.*`,
  ];
}

/**
 * A function that signs a token for a user id, valid for `ttlSec` seconds, as the broker's
 * `auth.jwt` expects: `sub` `user-<id>`, `aud` `warren`, `exp`, and the scopes above.
 * @param {string} secret the broker's `auth.jwt.secret`
 * @param {number} ttlSec
 * @returns {(id: string) => Promise<{ token: string, expiresAt: number }>} `expiresAt` in ms since the epoch
 */
export function tokenSigner(secret, ttlSec) {
  const key = new TextEncoder().encode(secret);
  return async (id) => {
    if (!USER_ID.test(id)) throw new RangeError('a user id is 1 to 64 letters, digits, "-" or "_"');
    const exp = Math.floor(Date.now() / 1000) + ttlSec;
    const token = await new SignJWT({ scope: scopesFor(id).join(' ') })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(`user-${id}`)
      .setAudience('warren')
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(key);
    return { token, expiresAt: exp * 1000 };
  };
}
