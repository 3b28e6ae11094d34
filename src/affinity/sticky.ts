/**
 * The sticky decision (docs/design.md rules 1-5 and 8), a pure function: the affinity cookie values a
 * request carried, its credentials and the pool's view of the nodes in, the node to use and whether
 * to (re)set the cookie out. Stickiness wraps selection: it asks `choose` only when no pin holds,
 * with the hash of the request's credentials when it has some (rendezvous.ts), so a client that
 * keeps no cookie still reaches the same node from every replica.
 */
import { credentialHash, credentialOf, type HashWords } from './rendezvous.js';
import { isTokenShaped } from './token.js';

/** Why a client was moved off its node. */
/**
 * Why a client was moved: its node down, in maintenance, unknown; a failed attempt sent elsewhere;
 * a deploy task found on another node; its app failing on its node (`app-failure`, rule 13).
 */
export type RepinReason = 'down' | 'maintenance' | 'unknown' | 'redispatch' | 'task' | 'app-failure';

/** The view of the pool the decision needs. */
export interface StickyPool<N> {
  byToken(token: string): N | undefined;
  servesPinned(node: N): boolean;
  isMaintenance(node: N): boolean;
  /** A node for a client with no pin: by rendezvous of `key` when given, else least loaded. */
  choose(exclude?: ReadonlySet<N>, key?: HashWords): N | undefined;
}

/** Where a request goes. `node` is undefined when no node can take it. */
export interface StickyDecision<N> {
  readonly node: N | undefined;
  /** True when the response must carry a Set-Cookie for `node`. */
  readonly setCookie: boolean;
  /** The node the client was pinned to, when its cookie named a configured node. */
  readonly pinned: N | undefined;
  /** Present when a valid pin was overwritten (rule 4). */
  readonly repin: RepinReason | undefined;
  /** The hash of the request's credentials, when the choice used them (rule 8). */
  readonly key: HashWords | undefined;
}

/** What a request's cookie values say (rules 3-5), before any choice. */
export interface Pin<N> {
  /** The first node named that still serves its pinned clients. */
  readonly serving: N | undefined;
  /** The first configured node named, when none serves (a re-pin moves the client off it). */
  readonly pinned: N | undefined;
  /** Why a new pin replaces the old one, when one must (rule 4). */
  readonly repin: RepinReason | undefined;
}

const NO_PIN: Pin<never> = { serving: undefined, pinned: undefined, repin: undefined };

/** Reads rules 3-5 off the cookie values in request order (garbage and unknown tokens are no pin). */
export function findPin<N>(values: readonly string[], pool: StickyPool<N>): Pin<N> {
  if (values.length === 0) return NO_PIN;
  let pinned: N | undefined;
  let sawUnknownToken = false;
  for (const value of values) {
    if (!isTokenShaped(value)) continue;
    const node = pool.byToken(value);
    if (node === undefined) {
      sawUnknownToken = true;
      continue;
    }
    if (pool.servesPinned(node)) return { serving: node, pinned: node, repin: undefined };
    pinned ??= node;
  }
  let repin: RepinReason | undefined;
  if (pinned !== undefined) repin = pool.isMaintenance(pinned) ? 'maintenance' : 'down';
  else if (sawUnknownToken) repin = 'unknown';
  return { serving: undefined, pinned, repin };
}

/** The hash of the request's credentials (rule 8), when `hashHeaders` names one it carries. */
function credentialKey(raw: readonly string[], hashHeaders: readonly string[]): HashWords | undefined {
  const credential = hashHeaders.length === 0 ? undefined : credentialOf(raw, hashHeaders);
  return credential === undefined ? undefined : credentialHash(credential);
}

/**
 * Applies rules 1-5 to the cookie values in request order, and rule 8 to the first header of
 * `raw` named in `hashHeaders` when no pin holds (headers are read only then).
 */
export function decide<N>(
  values: readonly string[],
  pool: StickyPool<N>,
  raw: readonly string[] = [],
  hashHeaders: readonly string[] = [],
): StickyDecision<N> {
  const pin = findPin(values, pool);
  if (pin.serving !== undefined)
    return { node: pin.serving, setCookie: false, pinned: pin.serving, repin: undefined, key: undefined };
  const key = credentialKey(raw, hashHeaders);
  const node = pool.choose(undefined, key);
  return {
    node,
    setCookie: node !== undefined,
    pinned: pin.pinned,
    repin: node === undefined ? undefined : pin.repin,
    key,
  };
}
