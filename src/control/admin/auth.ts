/** Bearer-token check for mutating admin calls, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** `ok`, `missing` (no/invalid header), `wrong` (token mismatch) or `disabled` (no token configured). */
export type AuthResult = 'ok' | 'missing' | 'wrong' | 'disabled';

/** Checks `Authorization: Bearer <token>` against the configured token. */
export function checkBearer(req: IncomingMessage, token: string | undefined): AuthResult {
  if (token === undefined) return 'disabled';
  const header = req.headers.authorization;
  if (header === undefined || !/^Bearer\s+/i.test(header)) return 'missing';
  const given = header.replace(/^Bearer\s+/i, '').trim();
  // Hash both sides so the comparison is constant-time regardless of length.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) ? 'ok' : 'wrong';
}
