/**
 * The sticky decision (design.md rules 1-5), a pure function: the affinity cookie values a request
 * carried and the pool's view of the nodes in, the node to use and whether to (re)set the cookie out.
 * Stickiness wraps selection: it asks `choose` only when no pin holds.
 */
import { isTokenShaped } from './token.js';

/** Why a client was moved off its node. */
export type RepinReason = 'down' | 'maintenance' | 'unknown' | 'redispatch';

/** The view of the pool the decision needs. */
export interface StickyPool<N> {
  byToken(token: string): N | undefined;
  servesPinned(node: N): boolean;
  isMaintenance(node: N): boolean;
  choose(): N | undefined;
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
}

/** Applies rules 1-5 to the cookie values in request order. */
export function decide<N>(values: readonly string[], pool: StickyPool<N>): StickyDecision<N> {
  let pinned: N | undefined;
  let sawUnknownToken = false;
  for (const value of values) {
    if (!isTokenShaped(value)) continue;
    const node = pool.byToken(value);
    if (node === undefined) {
      sawUnknownToken = true;
      continue;
    }
    if (pool.servesPinned(node)) return { node, setCookie: false, pinned: node, repin: undefined };
    pinned ??= node;
  }
  const node = pool.choose();
  let repin: RepinReason | undefined;
  if (pinned !== undefined) repin = pool.isMaintenance(pinned) ? 'maintenance' : 'down';
  else if (sawUnknownToken) repin = 'unknown';
  return { node, setCookie: node !== undefined, pinned, repin: node === undefined ? undefined : repin };
}
