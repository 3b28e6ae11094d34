/**
 * Routing a request to a node: the sticky decision, the all-down policy, re-pin accounting, and the
 * move to another node when an attempt fails (the only place a route changes). Shared by HTTP
 * forwarding and WebSocket upgrades; built per runtime settings and swapped on reload.
 */

import { type AdoptRule, adoptKey, adoptValues } from '../affinity/adopt.js';
import { type ContentRef, contentRefOf } from '../affinity/placement.js';
import type { HashWords } from '../affinity/rendezvous.js';
import { credentialOf } from '../affinity/rendezvous.js';
import type { RepinRecorder } from '../affinity/repin-recorder.js';
import { decide, findPin, type RepinReason } from '../affinity/sticky.js';
import type { AdoptCounts } from '../metrics/adopt-counts.js';
import type { PlacementCounts } from '../metrics/placement-counts.js';
import type { NodeTable } from '../pool/node-table.js';
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
  /** The content GUID of a placed content session (rule 11): its pin is scoped to that content. */
  content: string | undefined;
  /** Node whose content pin the response carries (for `content`), or undefined for none. */
  contentFor: UpstreamNode | undefined;
  /** The path the content pin is scoped to (`/content/{guid}/` or the content's vanity path). */
  contentPath: string | undefined;
  /**
   * The outcome of this request tells how `content` fares on its node (rule 13): a page load (a
   * GET navigation with no body) or a WebSocket handshake of a content. Set by the caller.
   */
  watched: boolean;
}

/** What routing reads of a request. */
export interface Routable {
  readonly affinityValues: readonly string[];
  readonly contentValues: readonly string[];
  /** The outgoing balancer's cookies (rule 14): `[cookie name, value]`. */
  readonly adoptedValues: ReadonlyArray<readonly [string, string]>;
  readonly navigation: boolean;
  readonly path: string;
}

/** The outgoing balancer's cookies to read (rule 14) and where adoptions are counted. */
export interface AdoptPolicy {
  readonly rules: readonly AdoptRule[];
  readonly counts: AdoptCounts;
}

/** How new sessions are placed (`placement.*`). */
export interface PlacementPolicy {
  readonly strategy: 'content' | 'leastLoad';
  readonly balanceFactor: number;
}

/** Routes requests for one listener. */
export class Router {
  readonly #pool: NodeTable;
  readonly #repins: RepinRecorder;
  readonly #whenAllDown: 'fail' | 'tryPinned';
  readonly #hashHeaders: readonly string[];
  readonly #placement: PlacementPolicy;
  readonly #adopt: AdoptPolicy;
  /** Each node's values under each rule (derived from its URL once per router and node). */
  readonly #adoptValues = new WeakMap<UpstreamNode, Map<AdoptRule, ReadonlySet<string>>>();
  readonly #counts: PlacementCounts;

  constructor(
    pool: NodeTable,
    repins: RepinRecorder,
    whenAllDown: 'fail' | 'tryPinned',
    hashHeaders: readonly string[],
    placement: PlacementPolicy,
    counts: PlacementCounts,
    adopt: AdoptPolicy,
  ) {
    this.#adopt = adopt;
    this.#pool = pool;
    this.#repins = repins;
    this.#whenAllDown = whenAllDown;
    this.#hashHeaders = hashHeaders;
    this.#placement = placement;
    this.#counts = counts;
  }

  /**
   * Applies the affinity and placement rules to a request's cookie values, path and headers (with
   * no pin, its credentials among `rawHeaders`); undefined when no node can take the request.
   */
  route(req: Routable, rawHeaders: readonly string[]): Route | undefined {
    if (req.adoptedValues.length > 0) {
      const adopted = this.#routeAdopted(req);
      if (adopted !== undefined) return adopted;
    }
    if (this.#placement.strategy === 'content') {
      const content = contentRefOf(req.path, this.#pool.vanity);
      if (content !== undefined) {
        const placed = this.#routeContent(content, req, rawHeaders);
        if (placed !== undefined) return placed;
      } else if (req.contentValues.length > 0) {
        // A content pin on a path not known as a content's (yet: a vanity path before the content
        // list is read, issue 32.5): its cookie's Path scoped it to this app, so it holds.
        const contentPin = findPin(req.contentValues, this.#pool);
        if (contentPin.serving !== undefined) {
          this.#counts.pinned++;
          return newRoute(contentPin.serving, undefined, undefined);
        }
      }
    }
    const decision = decide(req.affinityValues, this.#pool, rawHeaders, this.#hashHeaders);
    if (decision.node !== undefined) {
      const route = newRoute(decision.node, decision.setCookie ? decision.node : undefined, decision.key);
      if (decision.setCookie && decision.key === undefined) this.#counts.leastLoad++;
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
   * Rules 10-11 for a request of `content`: its content pin holds; else a page load, or a request
   * with no pin at all and no credentials, is placed by content (and pinned to it, with a global
   * pin too when the client has none); undefined hands the request to rules 1-8 (it follows the
   * global pin, or its credentials).
   */
  #routeContent(content: ContentRef, req: Routable, rawHeaders: readonly string[]): Route | undefined {
    const pool = this.#pool;
    const contentPin = findPin(req.contentValues, pool);
    // Rule 13: a page load pinned to a node where its content is ejected is placed again.
    const ejected =
      contentPin.serving !== undefined &&
      req.navigation &&
      pool.contentEjected(content.guid, contentPin.serving)
        ? contentPin.serving
        : undefined;
    if (contentPin.serving !== undefined && ejected === undefined) {
      this.#counts.pinned++;
      const pinned = newRoute(contentPin.serving, undefined, undefined);
      pinned.content = content.guid;
      pinned.contentPath = content.path;
      return pinned;
    }
    const globalPin = findPin(req.affinityValues, pool);
    // Whether the request carries credentials (rule 8 keeps it): no need to hash them here.
    const keyed = this.#hashHeaders.length > 0 && credentialOf(rawHeaders, this.#hashHeaders) !== undefined;
    if (!req.navigation && (globalPin.serving !== undefined || keyed)) return undefined;
    const placed = pool.placeContent(content.guid, this.#placement.balanceFactor);
    if (placed === undefined) return undefined;
    const node = placed.node;
    this.#counts[placed.outcome]++;
    const route = newRoute(node, globalPin.serving === undefined ? node : undefined, undefined);
    route.content = content.guid;
    route.contentPath = content.path;
    route.contentFor = node;
    // The client's old content pin (or, with none, its old global pin) named a node it now leaves.
    if (ejected !== undefined) {
      if (node !== ejected) {
        this.#record(ejected, node, 'app-failure');
        route.repin = 'app-failure';
      }
      return route;
    }
    const stale =
      contentPin.repin !== undefined ? contentPin : globalPin.serving === undefined ? globalPin : undefined;
    if (stale?.repin !== undefined) {
      this.#record(stale.pinned, node, stale.repin);
      route.repin = stale.repin;
    }
    return route;
  }

  /**
   * Moves `route` off `failed` (never to a node it tried) for a `redispatch` or `retry` step and
   * counts the attempt; returns the new node, or undefined when no other node can take it.
   * A redispatch re-pins the client to the new node, like HAProxy's `option redispatch` with an
   * inserted cookie. A retry keeps the pin (a timeout or a reset is no proof the node lost its
   * sessions), but a client that was being given a cookie gets the cookie of the node that serves it.
   */
  reroute(route: Route, kind: 'redispatch' | 'retry', failed: UpstreamNode): UpstreamNode | undefined {
    const next = this.#moveOff(route, failed);
    if (next === undefined) return undefined;
    // A content session is pinned (again) to the node that serves it.
    if (route.content !== undefined && (kind === 'redispatch' || route.contentFor !== undefined))
      route.contentFor = next;
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
   * Rule 14: a request with no valid stickylb pin whose outgoing-balancer cookie names a node that
   * takes new clients goes there, and its answer pins it (globally, and to its content on a
   * content's path). Undefined: the rules as usual (a cookie naming a node down, draining or
   * unknown never causes an error).
   */
  #routeAdopted(req: Routable): Route | undefined {
    const pool = this.#pool;
    if (findPin(req.affinityValues, pool).serving !== undefined) return undefined;
    if (req.contentValues.length > 0 && findPin(req.contentValues, pool).serving !== undefined)
      return undefined;
    for (const [cookie, value] of req.adoptedValues) {
      for (const rule of this.#adopt.rules) {
        if (rule.cookie !== cookie) continue;
        const key = adoptKey(rule.kind, value);
        const node = pool.nodes.find((n) => n.takesNewClients() && this.#valuesOf(n, rule).has(key));
        if (node === undefined) continue;
        this.#adopt.counts.count(rule.kind);
        const route = newRoute(node, node, undefined);
        const content =
          this.#placement.strategy === 'content' ? contentRefOf(req.path, pool.vanity) : undefined;
        if (content !== undefined) {
          route.content = content.guid;
          route.contentPath = content.path;
          route.contentFor = node;
        }
        return route;
      }
    }
    return undefined;
  }

  #valuesOf(node: UpstreamNode, rule: AdoptRule): ReadonlySet<string> {
    let byRule = this.#adoptValues.get(node);
    if (byRule === undefined) {
      byRule = new Map();
      this.#adoptValues.set(node, byRule);
    }
    let values = byRule.get(rule);
    if (values === undefined) {
      values = new Set(adoptValues(rule, node.name, node.url));
      byRule.set(rule, values);
    }
    return values;
  }

  /**
   * Moves a page load of a content its node answered 5xx (rule 13) to the content's next node, never
   * one the request tried, and pins the content there; undefined when there is none. Counted as a
   * retry: the route's one.
   */
  replaceContent(route: Route, failed: UpstreamNode): UpstreamNode | undefined {
    if (route.content === undefined) return undefined;
    const next = this.#moveOff(route, failed);
    if (next === undefined) return undefined;
    route.retried = true;
    route.contentFor = next;
    if (route.cookieFor !== undefined) route.cookieFor = next;
    route.repin = 'app-failure';
    this.#record(failed, next, 'app-failure');
    return next;
  }

  /**
   * The one step of moving `route` off `failed`, never to a node it tried: a content's session to
   * the next node of its content's order (rule 10; the session placed on `failed` released there),
   * any other request to the node rule 1 or 8 picks. Counts the retry; undefined when none is left.
   */
  #moveOff(route: Route, failed: UpstreamNode): UpstreamNode | undefined {
    route.tried ??= new Set();
    route.tried.add(failed);
    const content = this.#placement.strategy === 'content' ? route.content : undefined;
    const next =
      content === undefined
        ? this.#pool.choose(route.tried, route.key)
        : this.#pool.placeContent(content, this.#placement.balanceFactor, route.tried)?.node;
    if (next === undefined) return undefined;
    if (content !== undefined && route.contentFor === failed) failed.traffic.unplaced(content);
    failed.stats.retries++;
    route.node = next;
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
  return {
    node,
    cookieFor,
    key,
    redispatches: 0,
    retried: false,
    tried: undefined,
    repin: undefined,
    content: undefined,
    contentFor: undefined,
    contentPath: undefined,
    watched: false,
  };
}

/**
 * Appends the Set-Cookie lines `route` owes the client to `headers` (a flat name/value list): the
 * global pin when the route (re)pinned it, and the content pin, scoped to its content, when the
 * session was placed or moved (rule 11). `secure`: the client side is HTTPS.
 */
export function pushSetCookies(headers: string[], route: Route, secure: boolean): void {
  const cookieFor = route.cookieFor;
  if (cookieFor !== undefined)
    headers.push('Set-Cookie', secure ? cookieFor.cookie.tls : cookieFor.cookie.plain);
  const contentFor = route.contentFor;
  if (contentFor !== undefined && route.contentPath !== undefined) {
    const [before, after] = secure ? contentFor.cookie.content.tls : contentFor.cookie.content.plain;
    headers.push('Set-Cookie', before + route.contentPath + after);
  }
}
