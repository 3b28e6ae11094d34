/**
 * The pool owns every node's state. State changes go through its methods, which return whether
 * anything changed and emit one `transition` event per real change; logs, metrics and socket drops
 * hang off those events.
 */

import { EventEmitter } from 'node:events';
import { contentKey, type Placement, placeContent } from '../affinity/placement.js';
import { type HashWords, rendezvousWinner } from '../affinity/rendezvous.js';
import type { StickyPool } from '../affinity/sticky.js';
import type { NodeSpec } from '../config/data-settings.js';
import type { OperatorState } from '../config/schema.js';
import { selectLeastLoaded } from './selection.js';
import {
  type ConnectProcs,
  type Health,
  type ProbeRecord,
  type StateSource,
  UpstreamNode,
  writableStatus,
} from './upstream-node.js';

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

/** Events the pool emits. */
export interface PoolEvents {
  transition: [Transition];
  /** Nodes were added or removed (reload, DNS); `removed` are gone from the pool. */
  membership: [removed: readonly UpstreamNode[]];
}

/** Options that shape selection and passive evidence. */
export interface PoolOptions {
  /** Consecutive connection failures that take a node down; 0 disables passive evidence. */
  readonly passiveFailures: number;
  readonly requireSameVersion: boolean;
  /** Time over which a node that becomes available again ramps up to its full share (0: none). */
  readonly slowStartMs: number;
}

/**
 * Passive evidence, the one way the data plane speaks to node status (Traefik's StatusSetter):
 * whether a real request reached a node or failed to connect. The pool decides what follows.
 */
export interface PassiveEvidence {
  reportConnected(node: UpstreamNode): void;
  reportConnectFailure(node: UpstreamNode): void;
}

/** The set of upstream nodes and their state. */
export class Pool extends EventEmitter<PoolEvents> implements StickyPool<UpstreamNode>, PassiveEvidence {
  #nodes: UpstreamNode[] = [];
  #byName = new Map<string, UpstreamNode>();
  #byToken = new Map<string, UpstreamNode>();
  #options: PoolOptions;
  /**
   * Vanity paths of contents (path prefix ending in `/` -> GUID), from Connect's content list with
   * `connect.apiKey`; empty without a key.
   */
  vanity: ReadonlyMap<string, string> = new Map();
  /** Uniform in [0, 1): the slow-start draw for clients without a key (tests seed it). */
  readonly #random: () => number;
  /** Epoch ms: transitions and slow starts are stamped with it (tests move it by hand). */
  readonly #now: () => number;

  constructor(
    specs: readonly NodeSpec[],
    options: PoolOptions,
    random: () => number = Math.random,
    now: () => number = Date.now,
  ) {
    super();
    this.#options = options;
    this.#random = random;
    this.#now = now;
    this.reconcile(specs, options);
  }

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

  /**
   * A node for a new session of `content` (rule 10): its content's preferred node within the load
   * bound, never one in `exclude`; undefined when no node takes new clients.
   */
  placeContent(
    content: string,
    balanceFactor: number,
    exclude?: ReadonlySet<UpstreamNode>,
  ): Placement<UpstreamNode> | undefined {
    const now = this.#now();
    const candidates = this.#candidates(exclude).map((node) => ({
      node,
      seed: node.seed,
      weight: node.weight,
      share: node.rampShare(now),
      load: node.fleetLoad(),
      warm: node.runs(content),
    }));
    const placed = placeContent(candidates, contentKey(content), balanceFactor);
    return placed === undefined ? undefined : { node: placed.node.node, outcome: placed.outcome };
  }

  /**
   * A node for a new client (rule 1), never one in `exclude`: by rendezvous of `key` (rule 8) when
   * given, else the least loaded. Unknown-health nodes are used only while no node is up yet, so
   * traffic flows during the first probe round after start.
   */
  choose(exclude?: ReadonlySet<UpstreamNode>, key?: HashWords): UpstreamNode | undefined {
    const candidates = this.#candidates(exclude);
    const now = this.#now();
    if (candidates.some((n) => n.ramping(now))) return this.#chooseRamping(candidates, key, now);
    return key === undefined ? selectLeastLoaded(candidates) : rendezvousWinner(candidates, key);
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
   * Slow start: a node back from down, maintenance or draining takes a share of new clients that
   * grows over `slowStartMs`, never all of them at once (with least-loaded selection its empty
   * count would win every choice). A client with a key sees the node's weight scaled by the share
   * (every replica agrees); any other client considers it with that probability.
   */
  #chooseRamping(
    candidates: readonly UpstreamNode[],
    key: HashWords | undefined,
    now: number,
  ): UpstreamNode | undefined {
    if (key !== undefined) {
      const scaled = candidates.map((n) => ({ node: n, seed: n.seed, weight: n.weight * n.rampShare(now) }));
      return rendezvousWinner(scaled, key)?.node;
    }
    const considered = candidates.filter((n) => !n.ramping(now) || this.#random() < n.rampShare(now));
    return selectLeastLoaded(considered.length > 0 ? considered : candidates);
  }

  /** True when at least one node is up (readiness). */
  anyUp(): boolean {
    return this.#nodes.some((n) => n.health === 'up');
  }

  /** Sets a node's health; returns true and emits when it changed. */
  setHealth(node: UpstreamNode, health: Health, cause: string): boolean {
    if (node.health === health) return false;
    const status = writableStatus(node);
    const from = status.health;
    status.health = health;
    // Back from down: ramp in (a node up at start, from unknown, takes its share at once).
    if (health === 'up' && from === 'down') this.#startRamp(node);
    else if (health !== 'up') status.rampFrom = undefined;
    status.since = this.#now();
    if (health === 'up') status.connectFailures = 0;
    this.emit('transition', { node, kind: 'health', from, to: health, cause });
    return true;
  }

  /**
   * Sets a node's operator state (and, when given, where it came from); returns true and emits when
   * the state changed.
   */
  setState(node: UpstreamNode, state: OperatorState, cause: string, source?: StateSource): boolean {
    const status = writableStatus(node);
    if (source !== undefined) status.stateSource = source;
    if (status.state === state) return false;
    const from = status.state;
    status.state = state;
    if (state === 'active') this.#startRamp(node);
    status.since = this.#now();
    this.emit('transition', { node, kind: 'state', from, to: state, cause });
    return true;
  }

  #startRamp(node: UpstreamNode): void {
    if (this.#options.slowStartMs <= 0) return;
    const status = writableStatus(node);
    status.rampFrom = this.#now();
    status.rampMs = this.#options.slowStartMs;
  }

  /** Passive evidence: a real request could not connect. Enough in a row take the node down. */
  reportConnectFailure(node: UpstreamNode): void {
    writableStatus(node).connectFailures++;
    const limit = this.#options.passiveFailures;
    if (limit > 0 && node.connectFailures >= limit && node.health !== 'down') {
      this.setHealth(node, 'down', 'passive');
    }
  }

  /** Passive evidence: a request reached the node. */
  reportConnected(node: UpstreamNode): void {
    if (node.connectFailures !== 0) writableStatus(node).connectFailures = 0;
  }

  /** A probe's outcome (the health checker's; thresholds are its own) and the node's clock skew. */
  recordProbe(node: UpstreamNode, probe: ProbeRecord, clockSkewMs?: number): void {
    const status = writableStatus(node);
    status.lastProbe = probe;
    if (clockSkewMs !== undefined) status.clockSkewMs = clockSkewMs;
  }

  /** What the node's Connect reported of its processes (`connect.apiKey`), or undefined. */
  setConnectProcs(node: UpstreamNode, procs: ConnectProcs | undefined): void {
    writableStatus(node).connectProcs = procs;
  }

  /**
   * What the rest of the fleet holds on each node (other replicas and workers): their load, and the
   * contents with sessions there (none: undefined).
   */
  setFleetView(node: UpstreamNode, externalLoad: number, warm: ReadonlySet<string> | undefined): void {
    const status = writableStatus(node);
    status.externalLoad = externalLoad;
    status.warmContents = warm;
  }

  /** Records a node's Connect version and recomputes which nodes are outdated. */
  setVersion(node: UpstreamNode, version: string | undefined): void {
    writableStatus(node).version = version;
    const versions = this.#nodes.map((n) => n.version).filter((v): v is string => v !== undefined);
    const newest = versions.sort(compareVersions).at(-1);
    for (const n of this.#nodes) {
      writableStatus(n).outdated =
        this.#options.requireSameVersion &&
        newest !== undefined &&
        n.version !== undefined &&
        compareVersions(n.version, newest) < 0;
    }
  }

  /** Distinct Connect versions reported by the nodes. */
  versions(): string[] {
    return [...new Set(this.#nodes.map((n) => n.version).filter((v): v is string => v !== undefined))];
  }

  /**
   * Makes the pool match `specs`: new nodes are added (health unknown), removed ones dropped, kept
   * ones keep their health and counters and take the new weight, state, cookie and TLS options (a
   * node whose URL changed is a new node that keeps its counters). Emits `membership` with the
   * removed nodes when the set changed; returns them.
   */
  reconcile(specs: readonly NodeSpec[], options: PoolOptions): UpstreamNode[] {
    this.#options = options;
    const next: UpstreamNode[] = [];
    const byName = new Map<string, UpstreamNode>();
    const byToken = new Map<string, UpstreamNode>();
    for (const spec of specs) {
      const previous = this.#byName.get(spec.name);
      let node = previous;
      if (node === undefined || node.url !== spec.url) {
        node = new UpstreamNode(spec, previous?.stats);
        // A re-addressed node keeps a state the API gave it while the YAML says the same as before.
        if (previous !== undefined && previous.configState === spec.state) {
          const status = writableStatus(node);
          status.state = previous.state;
          status.stateSource = previous.stateSource;
        }
      } else {
        const status = writableStatus(node);
        status.weight = spec.weight;
        status.cookie = spec.cookie;
        status.seed = spec.seed;
        status.tlsOptions = spec.tls;
      }
      // A state set through the API survives reloads and DNS changes until the YAML changes the
      // state it gives this node: then the YAML wins.
      if (node.configState !== spec.state) {
        writableStatus(node).configState = spec.state;
        this.setState(node, spec.state, 'config', { origin: 'config', at: this.#now() });
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

/** Compares dotted version strings numerically (`2024.10.0` < `2025.01.0`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = Number(x);
    const ny = Number(y);
    const diff = Number.isNaN(nx) || Number.isNaN(ny) ? x.localeCompare(y) : nx - ny;
    if (diff !== 0) return diff;
  }
  return 0;
}
