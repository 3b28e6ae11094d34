/**
 * The pool owns every node's status. Status changes go through its methods, which return whether
 * anything changed and emit one `transition` event per real change; logs, metrics and socket drops
 * hang off those events. Membership and the routing choices are the NodeTable's it extends.
 */

import type { OperatorState } from '../config/schema.js';
import type { DataSettings, NodeSpec } from '../contract/data-settings.js';
import { DEFAULT_EJECTION, type Ejection, type EjectionPolicy } from './content-health.js';
import { NodeTable } from './node-table.js';
import type { ConnectProcs, Health, ProbeRecord, StateSource, UpstreamNode } from './upstream-node.js';

/** Options that shape selection and passive evidence. */
export interface PoolOptions {
  /** Consecutive connection failures that take a node down; 0 disables passive evidence. */
  readonly passiveFailures: number;
  readonly requireSameVersion: boolean;
  /** Time over which a node that becomes available again ramps up to its full share (0: none). */
  readonly slowStartMs: number;
  /** Rule 13's ejections (default: 3 failures, 30 s, at most 10 min). */
  readonly ejection?: EjectionPolicy;
}

/** The control plane's node table: it owns every node's status. */
export class Pool extends NodeTable {
  #options: PoolOptions;

  constructor(specs: readonly NodeSpec[], options: PoolOptions, now: () => number = Date.now) {
    super(now);
    this.#options = options;
    this.reconcile(specs, options);
  }

  /** Sets a node's health; returns true and emits when it changed. */
  setHealth(node: UpstreamNode, health: Health, cause: string): boolean {
    if (node.health === health) return false;
    const status = this.status(node);
    const from = status.health;
    status.health = health;
    // Back from down: ramp in (a node up at start, from unknown, takes its share at once).
    if (health === 'up' && from === 'down') this.#startRamp(node);
    else if (health !== 'up') status.rampFrom = undefined;
    status.since = this.now();
    if (health === 'up') status.connectFailures = 0;
    this.emit('transition', { node, kind: 'health', from, to: health, cause });
    return true;
  }

  /**
   * Sets a node's operator state (and, when given, where it came from); returns true and emits when
   * the state changed.
   */
  setState(node: UpstreamNode, state: OperatorState, cause: string, source?: StateSource): boolean {
    const status = this.status(node);
    if (source !== undefined) status.stateSource = source;
    if (status.state === state) return false;
    const from = status.state;
    status.state = state;
    if (state === 'active') this.#startRamp(node);
    status.since = this.now();
    this.emit('transition', { node, kind: 'state', from, to: state, cause });
    return true;
  }

  #startRamp(node: UpstreamNode): void {
    if (this.#options.slowStartMs <= 0) return;
    const status = this.status(node);
    status.rampFrom = this.now();
    status.rampMs = this.#options.slowStartMs;
  }

  /** Passive evidence: a real request could not connect. Enough in a row take the node down. */
  reportConnectFailure(node: UpstreamNode): void {
    this.status(node).connectFailures++;
    const limit = this.#options.passiveFailures;
    if (limit > 0 && node.connectFailures >= limit && node.health !== 'down') {
      this.setHealth(node, 'down', 'passive');
    }
  }

  /** Passive evidence: a request reached the node. */

  /** Ejections the rest of the fleet decided (rule 13, through the shared store); emits `ejections` on a change. */
  setSharedEjections(list: readonly Ejection[]): void {
    if (this.contentHealth.setShared(list)) this.emit('ejections');
  }

  /** An admin cleared `node`'s failing contents (rule 13): each is announced as recovered. */
  clearEjections(node: UpstreamNode): string[] {
    const cleared = this.contentHealth.clear(node.name);
    for (const content of cleared)
      this.emit('content', { kind: 'recovered', content, node: node.name, cleared: true });
    return cleared;
  }

  /** Records a content's outcome on `node` and decides its ejection (rule 13); emits `content` on a change. */
  reportContentOutcome(node: UpstreamNode, content: string, ok: boolean): void {
    const event = this.contentHealth.record(content, node.name, ok, this.now(), this.othersFor(node));
    if (event !== undefined) this.emit('content', event);
  }
  reportConnected(node: UpstreamNode): void {
    if (node.connectFailures !== 0) this.status(node).connectFailures = 0;
  }

  /** A probe's outcome (the health checker's; thresholds are its own) and the node's clock skew. */
  recordProbe(node: UpstreamNode, probe: ProbeRecord, clockSkewMs?: number): void {
    const status = this.status(node);
    status.lastProbe = probe;
    if (clockSkewMs !== undefined) status.clockSkewMs = clockSkewMs;
  }

  /** What the node's Connect reported of its processes (`connect.apiKey`), or undefined. */
  setConnectProcs(node: UpstreamNode, procs: ConnectProcs | undefined): void {
    this.status(node).connectProcs = procs;
  }

  /** Records a node's Connect version and recomputes which nodes are outdated. */
  setVersion(node: UpstreamNode, version: string | undefined): void {
    let changed = node.version !== version;
    this.status(node).version = version;
    const versions = this.nodes.map((n) => n.version).filter((v): v is string => v !== undefined);
    const newest = versions.sort(compareVersions).at(-1);
    for (const n of this.nodes) {
      const outdated =
        this.#options.requireSameVersion &&
        newest !== undefined &&
        n.version !== undefined &&
        compareVersions(n.version, newest) < 0;
      if (n.outdated !== outdated) changed = true;
      this.status(n).outdated = outdated;
    }
    if (changed) this.emit('versions');
  }

  /** Distinct Connect versions reported by the nodes. */
  versions(): string[] {
    return [...new Set(this.nodes.map((n) => n.version).filter((v): v is string => v !== undefined))];
  }

  follow(settings: Pick<DataSettings, 'nodes' | 'pool'>): void {
    this.reconcile(settings.nodes, settings.pool);
  }

  /**
   * Makes the pool match `specs` (NodeTable.setMembership): kept nodes keep their health and
   * counters; a state set through the API survives reloads and DNS changes until the YAML changes
   * the state it gives a node: then the YAML wins. Returns the removed nodes.
   */
  reconcile(specs: readonly NodeSpec[], options: PoolOptions): UpstreamNode[] {
    this.#options = options;
    this.contentHealth.policy = options.ejection ?? DEFAULT_EJECTION;
    this.contentHealth.keepOnly(new Set(specs.map((s) => s.name)));
    const removed = this.setMembership(specs, (node, previous) => {
      // A re-addressed node keeps a state the API gave it while the YAML says the same as before.
      if (previous.configState !== node.configState) return;
      const status = this.status(node);
      status.state = previous.state;
      status.stateSource = previous.stateSource;
    });
    for (const spec of specs) {
      const node = this.get(spec.name)!;
      if (node.configState === spec.state) continue;
      this.status(node).configState = spec.state;
      this.setState(node, spec.state, 'config', { origin: 'config', at: this.now() });
    }
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
