/**
 * Affinity for clients that keep no cookies (docs/design.md rule 8): a request with no valid pin that
 * carries credentials (Connect's `Authorization: Key <api-key>`) goes to the node that wins
 * rendezvous (highest random weight) hashing of the credential over the available nodes. Every
 * replica computes the same winner with no shared state, and when a node leaves only its keys move.
 *
 * A node's seed is an HMAC of its name under the affinity key (computed by the control plane, so
 * the key itself never reaches a worker); the credential is hashed once per request and mixed with
 * each seed, so the mapping cannot be predicted without the key and the credential is never kept.
 */
import { createHmac } from 'node:crypto';

/** Two 32-bit words: a credential's hash, or a node's seed. */
export type HashWords = readonly [number, number];

const SEED_DOMAIN = 'stickylb/rendezvous/v1\0';

/** The rendezvous seed of `nodeName` under `key` (the affinity secret, or the node's derived key). */
export function rendezvousSeed(key: string, nodeName: string): HashWords {
  const digest = createHmac('sha256', key)
    .update(SEED_DOMAIN + nodeName)
    .digest();
  return [digest.readUInt32LE(0), digest.readUInt32LE(4)];
}

/**
 * The hash of a credential header value (never stored or logged): two independent 32-bit
 * multiply-xorshift hashes of its characters. Unpredictability comes from the node seeds, which need
 * the affinity key; this only has to spread keys evenly, and runs on every cookie-less request
 * (a SHA-256 here cost about 2 µs a request).
 */
export function credentialHash(value: string): HashWords {
  let a = 0x9747b28c ^ value.length;
  let b = 0x5bd1e995 ^ value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x27d4eb2d) ^ (b >>> 15);
  }
  return [fmix32(a), fmix32(b ^ a)];
}

/** murmur3's 32-bit finaliser: every input bit reaches every output bit. */
function fmix32(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The weighted rendezvous score of a node for a credential: `-weight / ln(u)` with `u` uniform in
 * (0, 1) from the pair (Schindelhauer and Schomaker's weighted HRW), so a node of weight 2 wins
 * twice as many keys as one of weight 1, and removing a node moves only the keys it won.
 */
export function rendezvousScore(credential: HashWords, seed: HashWords, weight: number): number {
  const mixed = fmix32(fmix32(credential[0] ^ seed[0]) ^ credential[1] ^ seed[1]);
  const u = (mixed + 1) / 4294967297;
  return -weight / Math.log(u);
}

/** The node of `candidates` with the highest score for `credential`, or undefined when empty. */
export function rendezvousWinner<N extends { readonly seed: HashWords; readonly weight: number }>(
  candidates: readonly N[],
  credential: HashWords,
): N | undefined {
  let best: N | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const node of candidates) {
    const score = rendezvousScore(credential, node.seed, node.weight);
    if (score > bestScore) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/** The value of the first header of `raw` (a flat name/value list) named in `names` (lower case). */
export function credentialOf(raw: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    for (const wanted of names) {
      if (name.length === wanted.length && name.toLowerCase() === wanted) {
        const value = raw[i + 1]!.trim();
        if (value !== '') return value;
      }
    }
  }
  return undefined;
}
