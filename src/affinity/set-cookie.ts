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
  /** The content pin's cookie name (rule 11). */
  readonly contentName: string;
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
  return lines(attrs, (secure) => build(attrs.name, token, '/', attrs, secure));
}

/** The content pin's Set-Cookie for one node, split around its Path (`/content/{guid}/` or a vanity path). */
export interface ContentCookieParts {
  readonly plain: readonly [string, string];
  readonly tls: readonly [string, string];
}

const PATH_MARK = '/STICKYLBCONTENTPATH';

/**
 * The content pin's Set-Cookie lines for `token` around a path (rule 11): `Path` is the content's
 * own (`/content/{guid}/`, or its vanity path), so a browser sends it only with that app's requests;
 * every other attribute is the affinity cookie's. Built once per node; a placement only joins strings.
 */
export function contentCookieParts(token: string, attrs: CookieAttributes): ContentCookieParts {
  const split = (line: string): [string, string] => {
    const at = line.indexOf(PATH_MARK);
    return [line.slice(0, at), line.slice(at + PATH_MARK.length)];
  };
  const { plain, tls } = lines(attrs, (secure) => build(attrs.contentName, token, PATH_MARK, attrs, secure));
  return { plain: split(plain), tls: split(tls) };
}

/** The plain-HTTP and TLS variants of a line (Secure as `affinity.secure` and SameSite say). */
function lines(attrs: CookieAttributes, make: (secure: boolean) => string): SetCookiePair {
  const forced = attrs.secure === true || attrs.sameSite === 'None';
  const never = attrs.secure === false && attrs.sameSite !== 'None';
  return { plain: make(forced), tls: make(!never) };
}

function build(name: string, token: string, path: string, attrs: CookieAttributes, secure: boolean): string {
  return stringifySetCookie(name, token, {
    path,
    httpOnly: true,
    sameSite: attrs.sameSite === 'Lax' ? 'lax' : attrs.sameSite === 'Strict' ? 'strict' : 'none',
    // SameSite=None without Secure is rejected by browsers: None forces Secure.
    secure,
    ...(attrs.maxAgeMs > 0 ? { maxAge: Math.floor(attrs.maxAgeMs / 1000) } : {}),
  });
}
