/**
 * The nodes the data plane routes over: membership from the configuration (identity and the
 * config-given parameters), lookups, and the choices of rules 1, 8 and 10 over the nodes' status.
 * Two kinds of table exist: the control plane's `Pool`, which owns every node's status, and a
 * cluster worker's `StatusMirror`, which copies the status records its primary sends. Both emit
 * the same events, so the data plane cannot tell them apart.
 */

import { EventEmitter } from 'node:events';
import { contentKey, type Placement, placeContent } from '../affinity/placement.js';
import { type HashWords, rendezvousWinner } from '../affinity/rendezvous.js';
import type { StickyPool } from '../affinity/sticky.js';
import type { DataSettings, NodeSpec } from '../contract/data-settings.js';
import { ContentHealth, type ContentHealthEvent } from './content-health.js';
import { selectLeastLoaded } from './selection.js';
import { initialStatus, type NodeConfig, type NodeStatus, UpstreamNode } from './upstream-node.js';

/** A health or operator-state change of one node. */
export interface Transition {
  readonly node: UpstreamNode;
  readonly kind: 'health' | 'state';
  readonly from: string;
  readonly to: string;
  /** What caused it: `probe`, `passive`, `config`, `admin`, `primary` (mirrored in a worker). */
  readonly cause: string;
}

/**
 * The node of `t` was lost: marked down or put in maintenance. Its open sockets and streams are cut
 * without a clean close so that clients reconnect and are re-pinned (docs/design.md, failure handling).
 */
export function isLost(t: Transition): boolean {
  return (t.kind === 'health' && t.to === 'down') || (t.kind === 'state' && t.to === 'maintenance');
}

/** Events a node table emits. */
export interface PoolEvents {
  transition: [Transition];
  /** Nodes were added or removed (reload, DNS); `removed` are gone from the table. */
  membership: [removed: readonly UpstreamNode[]];
  /** Versions changed, and with them which nodes are outdated (the pool's; a primary relays them). */
  versions: [];
  /** A content was ejected from a node, or came back to it (rule 13; the pool's). */
  content: [ContentHealthEvent];
  /** The ejections the rest of the fleet decided changed (rule 13, through the shared store). */
  ejections: [];
}

/**
 * Passive evidence, the one way the data plane speaks to node status (Traefik's StatusSetter):
 * whether a real request reached a node or failed to connect. The pool decides what follows.
 */
export interface PassiveEvidence {
  reportConnected(node: UpstreamNode): void;
  reportConnectFailure(node: UpstreamNode): void;
  /** A content's page load or WebSocket handshake on `node` succeeded or failed (rule 13). */
  reportContentOutcome(node: UpstreamNode, content: string, ok: boolean): void;
}

/** The set of upstream nodes, for routing. */
export abstract class NodeTable
  extends EventEmitter<PoolEvents>
  implements StickyPool<UpstreamNode>, PassiveEvidence
{
  #nodes: UpstreamNode[] = [];
  #byName = new Map<string, UpstreamNode>();
  #byToken = new Map<string, UpstreamNode>();
  /**
   * Vanity paths of contents (path prefix ending in `/` -> GUID), from Connect's content list with
   * `connect.apiKey`; empty without a key.
   */
  vanity: ReadonlyMap<string, string> = new Map();
  /** Names of contents (GUID -> name), from the same list; empty without a key. */
  contentNames: ReadonlyMap<string, string> = new Map();
  /** The status record of each node this table made: the only handle on it (NodeStatus). */
  readonly #status = new WeakMap<UpstreamNode, NodeStatus>();
  /** The configuration cell of each node this table made: the only handle on it (NodeConfig). */
  readonly #config = new WeakMap<UpstreamNode, NodeConfig>();

  /** The writable status of `node`, for this table and the pool or mirror that extends it. */
  protected status(node: UpstreamNode): NodeStatus {
    const status = this.#status.get(node);
    if (status === undefined) throw new Error(`node ${node.name} is not this table's`);
    return status;
  }

  /** Epoch ms: transitions and slow starts are stamped with it (tests move it by hand). */
  protected readonly now: () => number;

  constructor(now: () => number) {
    super();
    this.now = now;
  }

  abstract reportConnected(node: UpstreamNode): void;
  abstract reportConnectFailure(node: UpstreamNode): void;

  /**
   * Which contents fail on which nodes (rule 13): decided by the pool, copied in a worker. The
   * data plane reports through `reportContentOutcome`.
   */
  readonly contentHealth = new ContentHealth();

  /**
   * A page load or a WebSocket handshake of `content` on `node` succeeded (`ok`: 2xx, 3xx, 101) or
   * failed (5xx, or no head at all); 4xx answers are not reported (rule 13).
   */
  abstract reportContentOutcome(node: UpstreamNode, content: string, ok: boolean): void;

  /**
   * Whether a content pinned to `node` should be placed again: the content is ejected from the node
   * (rule 13), so its next page load goes to the next node of its order.
   */
  contentEjected(content: string, node: UpstreamNode): boolean {
    const health = this.contentHealth;
    return health.troubled(content) && health.ejected(content, node.name, this.now());
  }

  /** The names of the nodes a content's session could go to now, but `node` (rule 13's "elsewhere"). */
  protected othersFor(node: UpstreamNode): string[] {
    return this.#candidates(undefined)
      .filter((n) => n !== node)
      .map((n) => n.name);
  }

  /**
   * Takes the membership (and, for the pool, the options) of `settings`: part of the data plane's
   * one reload step. Following the same settings twice changes nothing and emits nothing, so a
   * pool its control plane already reconciled follows them again for free.
   */
  abstract follow(settings: Pick<DataSettings, 'nodes' | 'pool'>): void;

  /** Every node, in configuration order. */
  get nodes(): readonly UpstreamNode[] {
    return this.#nodes;
  }

  /** The node called `name`, if configured. */
  get(name: string): UpstreamNode | undefined {
    return this.#byName.get(name);
  }

  /** The node whose affinity token is `token`. */
  byToken(token: string): UpstreamNode | undefined {
    return this.#byToken.get(token);
  }

  servesPinned(node: UpstreamNode): boolean {
    return node.servesPinned();
  }

  isMaintenance(node: UpstreamNode): boolean {
    return node.state === 'maintenance';
  }

  /** True when at least one node is up (readiness). */
  anyUp(): boolean {
    return this.#nodes.some((n) => n.health === 'up');
  }

  /**
   * A node for a new session of `content` (rule 10): its content's preferred node within the load
   * bound, never one in `exclude`; undefined when no node takes new clients. The session counts on
   * that node's load until its WebSocket opens or `PLACED_GRACE_MS` pass.
   */
  placeContent(
    content: string,
    balanceFactor: number,
    exclude?: ReadonlySet<UpstreamNode>,
  ): Placement<UpstreamNode> | undefined {
    const now = this.now();
    let nodes = this.#candidates(exclude);
    // Rule 13: nodes where the content fails leave its order (never all of them).
    const health = this.contentHealth;
    if (health.troubled(content)) {
      const kept = nodes.filter((n) => !health.ejected(content, n.name, now));
      if (kept.length > 0) nodes = kept;
    }
    const candidates = nodes.map((node) => ({
      node,
      seed: node.seed,
      weight: node.weight,
      share: node.rampShare(now),
      load: node.fleetLoad(now),
      warm: node.runs(content),
    }));
    const placed = placeContent(candidates, contentKey(content), balanceFactor);
    if (placed === undefined) return undefined;
    // The session counts on its node from now until its WebSocket opens (issue 32.7).
    placed.node.node.traffic.placed(content, now);
    if (health.troubled(content)) health.placed(content, placed.node.node.name, now);
    return { node: placed.node.node, outcome: placed.outcome };
  }

  /**
   * A node for a new client (rule 1), never one in `exclude`: by rendezvous of `key` (rule 8) when
   * given, else the least loaded. Unknown-health nodes are used only while no node is up yet, so
   * traffic flows during the first probe round after start.
   */
  choose(exclude?: ReadonlySet<UpstreamNode>, key?: HashWords): UpstreamNode | undefined {
    const candidates = this.#candidates(exclude);
    const now = this.now();
    if (key === undefined) return selectLeastLoaded(candidates, now);
    // Slow start: the node's effective weight, as everywhere (upstream-node.ts `effectiveWeight`).
    if (!candidates.some((n) => n.ramping(now))) return rendezvousWinner(candidates, key);
    const scaled = candidates.map((n) => ({ node: n, seed: n.seed, weight: n.effectiveWeight(now) }));
    return rendezvousWinner(scaled, key)?.node;
  }

  /**
   * What the rest of the fleet holds on each node (other replicas and workers): their load, and the
   * contents with sessions there (none: undefined). Not status: a view of the fleet's traffic.
   */
  setFleetView(node: UpstreamNode, externalLoad: number, warm: ReadonlySet<string> | undefined): void {
    const status = this.status(node);
    status.externalLoad = externalLoad;
    status.warmContents = warm;
  }

  /**
   * The nodes that take new clients, but those in `exclude`; while no node is up yet (the first
   * probe round after start), the active nodes of unknown health.
   */
  #candidates(exclude: ReadonlySet<UpstreamNode> | undefined): UpstreamNode[] {
    const up: UpstreamNode[] = [];
    let anyUp = false;
    for (const node of this.#nodes) {
      if (node.health === 'up') anyUp = true;
      if (node.takesNewClients() && !exclude?.has(node)) up.push(node);
    }
    return up.length > 0 || anyUp
      ? up
      : this.#nodes.filter(
          (n) => n.health === 'unknown' && n.state === 'active' && !n.outdated && !exclude?.has(n),
        );
  }

  /**
   * Makes the membership match `specs`: new nodes are added (health unknown), removed ones dropped,
   * kept ones take the new generation's spec (weight, cookie, seed, TLS options) whole, in one
   * assignment; a node whose URL changed is a new
   * node that keeps its counters (`readdressed` hears of it with the node it replaces). Emits
   * `membership` with the removed nodes when the set changed; returns them.
   */
  protected setMembership(
    specs: readonly NodeSpec[],
    readdressed: (node: UpstreamNode, previous: UpstreamNode) => void = () => {},
  ): UpstreamNode[] {
    const next: UpstreamNode[] = [];
    const byName = new Map<string, UpstreamNode>();
    const byToken = new Map<string, UpstreamNode>();
    for (const spec of specs) {
      const previous = this.#byName.get(spec.name);
      let node = previous;
      if (node === undefined || node.url !== spec.url) {
        const status = initialStatus(spec, this.now());
        const config = { spec };
        node = new UpstreamNode(spec, previous?.stats, this.now(), status, config);
        this.#status.set(node, status);
        this.#config.set(node, config);
        if (previous !== undefined) readdressed(node, previous);
      } else {
        this.#config.get(node)!.spec = spec;
      }
      next.push(node);
      byName.set(spec.name, node);
      byToken.set(spec.cookie.token, node);
    }
    const removed = this.#nodes.filter((n) => byName.get(n.name) !== n);
    const changed = removed.length > 0 || next.length !== this.#nodes.length;
    this.#nodes = next;
    this.#byName = byName;
    this.#byToken = byToken;
    if (changed) this.emit('membership', removed);
    return removed;
  }
}
