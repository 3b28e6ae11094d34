/**
 * Routing a request to a node: the sticky decision, the all-down policy, re-pin accounting, and the
 * move to another node when an attempt fails (the only place a route changes). Shared by HTTP
 * forwarding and WebSocket upgrades; built per runtime settings and swapped on reload.
 */

import type { HashWords } from '../affinity/rendezvous.js';
import type { RepinRecorder } from '../affinity/repin-recorder.js';
import { decide, type RepinReason } from '../affinity/sticky.js';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';

/** Where a request goes and whether the response must (re)set the affinity cookie. */
export interface Route {
  node: UpstreamNode;
  /** Node whose Set-Cookie the response carries, or undefined for none. */
  cookieFor: UpstreamNode | undefined;
  /** The client's credential hash when its node was chosen by rendezvous (rule 8). */
  readonly key: HashWords | undefined;
  /** Attempts so far, kept by `reroute` (the attempt policy reads them). */
  redispatches: number;
  retried: boolean;
  /** Nodes this request already tried (created on the first failure). */
  tried: Set<UpstreamNode> | undefined;
  /** Why the client was last moved to another node, if it was. */
  repin: RepinReason | undefined;
}

/** Routes requests for one listener. */
export class Router {
  readonly #pool: Pool;
  readonly #repins: RepinRecorder;
  readonly #whenAllDown: 'fail' | 'tryPinned';
  readonly #hashHeaders: readonly string[];

  constructor(
    pool: Pool,
    repins: RepinRecorder,
    whenAllDown: 'fail' | 'tryPinned',
    hashHeaders: readonly string[],
  ) {
    this.#pool = pool;
    this.#repins = repins;
    this.#whenAllDown = whenAllDown;
    this.#hashHeaders = hashHeaders;
  }

  /**
   * Applies the affinity rules to the cookie values (and, with no pin, to the credentials among the
   * request's `rawHeaders`); undefined when no node can take the request.
   */
  route(affinityValues: readonly string[], rawHeaders: readonly string[]): Route | undefined {
    const decision = decide(affinityValues, this.#pool, rawHeaders, this.#hashHeaders);
    if (decision.node !== undefined) {
      const route = newRoute(decision.node, decision.setCookie ? decision.node : undefined, decision.key);
      if (decision.repin !== undefined) {
        this.#record(decision.pinned, decision.node, decision.repin);
        route.repin = decision.repin;
      }
      return route;
    }
    if (this.#whenAllDown === 'tryPinned') {
      if (decision.pinned !== undefined && decision.pinned.state !== 'maintenance') {
        return newRoute(decision.pinned, undefined, undefined);
      }
      const any = this.#pool.nodes.filter((n) => n.state === 'active');
      const node = any[Math.floor(Math.random() * any.length)];
      if (node !== undefined) return newRoute(node, node, undefined);
    }
    return undefined;
  }

  /**
   * Moves `route` off `failed` (never to a node it tried) for a `redispatch` or `retry` step and
   * counts the attempt; returns the new node, or undefined when no other node can take it.
   * A redispatch re-pins the client to the new node, like HAProxy's `option redispatch` with an
   * inserted cookie. A retry keeps the pin (a timeout or a reset is no proof the node lost its
   * sessions), but a client that was being given a cookie gets the cookie of the node that serves it.
   */
  reroute(route: Route, kind: 'redispatch' | 'retry', failed: UpstreamNode): UpstreamNode | undefined {
    route.tried ??= new Set();
    route.tried.add(failed);
    const next = this.#pool.choose(route.tried, route.key);
    if (next === undefined) return undefined;
    failed.stats.retries++;
    route.node = next;
    if (kind === 'redispatch') {
      route.redispatches++;
      route.cookieFor = next;
      route.repin = 'redispatch';
      this.#record(failed, next, 'redispatch');
    } else {
      route.retried = true;
      if (route.cookieFor !== undefined) route.cookieFor = next;
    }
    return next;
  }

  /**
   * The next node to ask for a deploy task `current` answered 404 for (rule 9): an up node that
   * serves pinned clients (draining ones too: a deploy may have landed there before the drain),
   * never one the route tried, which gains `current`.
   */
  taskCandidate(route: Route, current: UpstreamNode): UpstreamNode | undefined {
    route.tried ??= new Set();
    route.tried.add(current);
    for (const node of this.#pool.nodes) {
      if (!route.tried.has(node) && node.health === 'up' && node.servesPinned()) return node;
    }
    return undefined;
  }

  /** The task was found on `found`: the request goes there and the answer re-pins the client to it. */
  taskFound(route: Route, found: UpstreamNode, askedFirst: UpstreamNode): void {
    route.node = found;
    route.cookieFor = found;
    route.repin = 'task';
    this.#record(askedFirst, found, 'task');
  }

  #record(from: UpstreamNode | undefined, to: UpstreamNode, reason: RepinReason): void {
    this.#repins.record(from?.name ?? 'unknown', to.name, reason);
  }
}

function newRoute(
  node: UpstreamNode,
  cookieFor: UpstreamNode | undefined,
  key: HashWords | undefined,
): Route {
  return { node, cookieFor, key, redispatches: 0, retried: false, tried: undefined, repin: undefined };
}
