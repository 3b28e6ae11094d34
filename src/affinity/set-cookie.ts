/**
 * The Set-Cookie line for a node, computed once per node and config (never per request). Always
 * `Path=/` (R rsconnect checks that Path prefixes the request path), `HttpOnly`, a SameSite; never
 * `Domain` (host-only is the safe default) and never `Partitioned` (rsconnect-python on Python <= 3.13
 * drops the whole cookie).
 */
import { stringifySetCookie } from 'cookie';

/** Cookie attributes from `affinity.*`. */
export interface CookieAttributes {
  readonly name: string;
  readonly sameSite: 'Lax' | 'Strict' | 'None';
  /** `auto` adds Secure only for TLS clients. */
  readonly secure: 'auto' | boolean;
  /** Max-Age in milliseconds; 0 for a session cookie. */
  readonly maxAgeMs: number;
}

/** The two variants of one node's Set-Cookie: for plain-HTTP clients and for TLS clients. */
export interface SetCookiePair {
  readonly plain: string;
  readonly tls: string;
}

/** Builds the Set-Cookie lines for `token`. */
export function setCookieLines(token: string, attrs: CookieAttributes): SetCookiePair {
  const build = (secure: boolean) =>
    stringifySetCookie(attrs.name, token, {
      path: '/',
      httpOnly: true,
      sameSite: attrs.sameSite === 'Lax' ? 'lax' : attrs.sameSite === 'Strict' ? 'strict' : 'none',
      // SameSite=None without Secure is rejected by browsers: None forces Secure.
      secure,
      ...(attrs.maxAgeMs > 0 ? { maxAge: Math.floor(attrs.maxAgeMs / 1000) } : {}),
    });
  const forced = attrs.secure === true || attrs.sameSite === 'None';
  const never = attrs.secure === false && attrs.sameSite !== 'None';
  return { plain: build(forced), tls: build(!never) };
}
