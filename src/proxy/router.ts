/**
 * Routing a request to a node: the sticky decision, the all-down policy, re-pin accounting, and the
 * choice of another node when the first one fails. Shared by HTTP forwarding and WebSocket upgrades.
 */
import type { RepinRecorder } from '../affinity/repin-recorder.js';
import { decide, type RepinReason } from '../affinity/sticky.js';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';

/** Where a request goes and whether the response must (re)set the affinity cookie. */
export interface Route {
  node: UpstreamNode;
  /** Node whose Set-Cookie the response carries, or undefined for none. */
  cookieFor: UpstreamNode | undefined;
}

/** Routes requests for one listener. */
export class Router {
  readonly #pool: Pool;
  readonly #repins: RepinRecorder;
  whenAllDown: 'fail' | 'tryPinned';

  constructor(pool: Pool, repins: RepinRecorder, whenAllDown: 'fail' | 'tryPinned') {
    this.#pool = pool;
    this.#repins = repins;
    this.whenAllDown = whenAllDown;
  }

  /** Applies the affinity rules to the cookie values; undefined when no node can take the request. */
  route(affinityValues: readonly string[]): Route | undefined {
    const decision = decide(affinityValues, this.#pool);
    if (decision.node !== undefined) {
      if (decision.repin !== undefined) this.#record(decision.pinned, decision.node, decision.repin);
      return { node: decision.node, cookieFor: decision.setCookie ? decision.node : undefined };
    }
    if (this.whenAllDown === 'tryPinned') {
      if (decision.pinned !== undefined && decision.pinned.state !== 'maintenance') {
        return { node: decision.pinned, cookieFor: undefined };
      }
      const any = this.#pool.nodes.filter((n) => n.state === 'active');
      const node = any[Math.floor(Math.random() * any.length)];
      if (node !== undefined) return { node, cookieFor: node };
    }
    return undefined;
  }

  /** Another node for a request that `failed` could not take, never one of `tried`. */
  alternative(tried: ReadonlySet<UpstreamNode>): UpstreamNode | undefined {
    return this.#pool.choose(tried);
  }

  /**
   * The request was redispatched from `failed` (which refused it) to `next`: the response re-pins
   * the client to `next`, like HAProxy's `option redispatch` with an inserted cookie.
   */
  redispatched(route: Route, failed: UpstreamNode, next: UpstreamNode): void {
    route.node = next;
    route.cookieFor = next;
    this.#record(failed, next, 'redispatch');
  }

  #record(from: UpstreamNode | undefined, to: UpstreamNode, reason: RepinReason): void {
    this.#repins.record(from?.name ?? 'unknown', to.name, reason);
  }
}
