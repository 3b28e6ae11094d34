/**
 * The affinity token: an opaque, stable name for a node. It is an HMAC of the node's name under the
 * shared secret, so every replica with the same config computes the same token (no shared state),
 * and the token reveals no host, IP or port. base64url, so only `[A-Za-z0-9_-]`: no quoting by
 * rsconnect-python, no `,` for R rsconnect.
 */
import { createHash, createHmac } from 'node:crypto';

/** 128 bits of the HMAC: collisions are impossible in practice, the cookie stays short. */
const TOKEN_LENGTH = 22;
const DOMAIN = 'stickylb/affinity/v1\0';

/** The token for `nodeName` under `secret`. Pure and deterministic. */
export function affinityToken(secret: string, nodeName: string): string {
  return createHmac('sha256', secret)
    .update(DOMAIN + nodeName)
    .digest('base64url')
    .slice(0, TOKEN_LENGTH);
}

/** True when `value` has the shape of a token; anything else is garbage and never looked up. */
export function isTokenShaped(value: string): boolean {
  return value.length === TOKEN_LENGTH && /^[A-Za-z0-9_-]+$/.test(value);
}

/**
 * The key used when `affinity.secret` is not configured, derived from the upstreams given (the
 * balancer passes one node at a time, so a node's token depends on its own name and address only):
 * a restart or another replica still agrees on every token, and adding, removing or re-addressing a
 * node moves no other node's clients. It is guessable by whoever knows a node's name and URL, which
 * is why the start-up log asks for a real secret.
 */
export function derivedSecret(
  upstreams: readonly { name: string; url?: string | undefined; dns?: string | undefined }[],
): string {
  const hash = createHash('sha256');
  for (const u of [...upstreams].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(`${u.name}\0${u.url ?? u.dns ?? ''}\0`);
  }
  return hash.digest('base64url');
}
