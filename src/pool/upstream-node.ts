/**
 * One upstream node: its identity, its health (from probes and passive evidence) and the operator
 * overlay. Policies read the predicates (`takesNewClients`, `servesPinned`), never raw fields.
 */
import type { HashWords } from '../affinity/rendezvous.js';
import type { OperatorState } from '../config/schema.js';
import type { UpstreamTls } from '../config/tls-files.js';
import type { NodeCookie, NodeSpec } from '../contract/data-settings.js';
import type { Health, StatusRecord } from '../contract/node-records.js';
import { NodeTraffic } from './node-traffic.js';
import { RequestStats } from './request-stats.js';

/** Where a node's operator state came from: the YAML, or the admin API (of which replica, when). */
/** Connect's answer to `/__ping__` once its licence has expired. */
/** One balancer process's (or a fleet's) view of a node: its sessions and requests, and its apps. */
export interface NodeLoad {
  readonly load: number;
  /** Contents with open sessions on the node there (rule 10: a process of them runs on the node). */
  readonly contents: readonly string[];
}

/** What a node's Connect reported of its own processes (`connect.apiKey`; health/connect-procs.ts). */
export interface ConnectProcs {
  /** Processes per content GUID. */
  readonly byContent: ReadonlyMap<string, number>;
  /** Processes in all, and their memory (bytes). */
  readonly total: number;
  readonly ramBytes: number;
  /** Processes of a non-interactive kind (renders, builds, jobs). */
  readonly jobs: number;
}

export const LICENCE_EXPIRED = 402;

export interface StateSource {
  readonly origin: 'config' | 'api';
  /** Epoch ms. */
  readonly at: number;
  /** The replica whose API set it. */
  readonly by?: string | undefined;
}

export type { Health, StatusRecord } from '../contract/node-records.js';

/** The last active probe of a node, as shown by the admin API. */
export interface ProbeRecord {
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
  readonly latencyMs: number;
  readonly at: number;
}

/**
 * A node's configuration as the running generation gives it (weight, cookie lines, rendezvous seed,
 * TLS options): the immutable `NodeSpec` of the settings in use, replaced whole by a reload (one
 * assignment, never field by field). Written by the node table that made the node alone, like its
 * status; it is not status.
 */
export interface NodeConfig {
  spec: NodeSpec;
}

/**
 * A node's status: health, operator state, version, slow start, and what Connect and the rest of
 * the fleet say of it. Written by the node table that made the node alone
 * (it keeps the only handle on the record: node-table.ts; test/unit/import-graph.test.ts finds every
 * assignment to one by its type); everyone else reads it through the node's getters. Probes, passive evidence and fleet views reach it through the pool's methods.
 */
export interface NodeStatus {
  health: Health;
  state: OperatorState;
  /** The state the YAML gives this node: a change of it wins over an API-set state. */
  configState: OperatorState;
  stateSource: StateSource;
  /** Epoch ms of the last health or state transition. */
  since: number;
  /** Consecutive connection failures seen on real traffic (passive health evidence). */
  connectFailures: number;
  lastProbe: ProbeRecord | undefined;
  /** Node clock minus balancer clock, from the probe's Date header. */
  clockSkewMs: number | undefined;
  /** Connect version from /__api__/server_settings, when version checks are on. */
  version: string | undefined;
  /** Set when `requireSameVersion` is on and a newer version is present. */
  outdated: boolean;
  /** Epoch ms at which the node became available again (its slow start), if it did. */
  rampFrom: number | undefined;
  /** Length of that slow start. */
  rampMs: number;
  /** Connect's own processes on the node, when `connect.apiKey` lets the balancer ask. */
  connectProcs: ConnectProcs | undefined;
  /**
   * Sessions and requests other balancer processes hold on this node (the other replicas' and
   * workers' counts, shared about once a second): placement bounds the fleet's load, not this
   * process's view of it. 0 for a lone process.
   */
  externalLoad: number;
  /**
   * Contents with a process on this node as other balancer processes know it: sessions open there
   * through other replicas or workers, and, in a cluster worker, what Connect reported.
   */
  warmContents: ReadonlySet<string> | undefined;
}

/**
 * A node in the pool: its identity (name and address, immutable), its status (`NodeStatus`, the
 * pool's to write) and its traffic (`traffic`, the data plane's through leases; `stats`). Policies read the predicates (`takesNewClients`, `servesPinned`), never raw fields.
 */
export class UpstreamNode {
  readonly name: string;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly #status: NodeStatus;
  readonly #config: NodeConfig;

  /** Requests, WebSockets and content sessions through this process (node-traffic.ts, their one owner). */
  readonly traffic = new NodeTraffic();
  /** Responses, durations and failures of this node's traffic since start, read at scrape time. */
  readonly stats: RequestStats;
  /** Smooth weighted round-robin accumulator (selection.ts), used to break ties between equally loaded nodes. */
  currentWeight = 0;

  /**
   * `now`: epoch ms, when the node joins its table. `status`: the record its table writes (the
   * table made it with `initialStatus` and keeps the one handle on it); a node made without one
   * has a record nobody can write. `config`: likewise, the cell its table replaces the spec in.
   */
  constructor(
    opts: NodeSpec,
    stats = new RequestStats(),
    now = Date.now(),
    status?: NodeStatus,
    config?: NodeConfig,
  ) {
    this.name = opts.name;
    this.url = opts.url;
    const url = new URL(opts.url);
    this.tls = url.protocol === 'https:';
    // URL keeps IPv6 literals bracketed ([::1]); sockets want the bare address.
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port === '' ? (this.tls ? 443 : 80) : Number(url.port);
    this.#status = status ?? initialStatus(opts, now);
    this.#config = config ?? { spec: opts };
    this.stats = stats;
  }

  /** The node's configuration in the running generation (NodeConfig). */
  get spec(): NodeSpec {
    return this.#config.spec;
  }
  get weight(): number {
    return this.#config.spec.weight;
  }
  get cookie(): NodeCookie {
    return this.#config.spec.cookie;
  }
  get seed(): HashWords {
    return this.#config.spec.seed;
  }
  get tlsOptions(): UpstreamTls | undefined {
    return this.#config.spec.tls;
  }
  get health(): Health {
    return this.#status.health;
  }
  get state(): OperatorState {
    return this.#status.state;
  }
  get configState(): OperatorState {
    return this.#status.configState;
  }
  get stateSource(): StateSource {
    return this.#status.stateSource;
  }
  get since(): number {
    return this.#status.since;
  }
  get connectFailures(): number {
    return this.#status.connectFailures;
  }
  get lastProbe(): ProbeRecord | undefined {
    return this.#status.lastProbe;
  }
  get clockSkewMs(): number | undefined {
    return this.#status.clockSkewMs;
  }
  get version(): string | undefined {
    return this.#status.version;
  }
  get outdated(): boolean {
    return this.#status.outdated;
  }
  get rampFrom(): number | undefined {
    return this.#status.rampFrom;
  }
  get rampMs(): number {
    return this.#status.rampMs;
  }
  get connectProcs(): ConnectProcs | undefined {
    return this.#status.connectProcs;
  }
  get externalLoad(): number {
    return this.#status.externalLoad;
  }
  get warmContents(): ReadonlySet<string> | undefined {
    return this.#status.warmContents;
  }

  /** Requests being proxied to this node right now. */
  get inFlight(): number {
    return this.traffic.inFlight;
  }

  /** Open upgraded (WebSocket) connections to this node. */
  get websockets(): number {
    return this.traffic.websockets;
  }

  /** Open sessions (WebSockets) per content GUID on this node. */
  get contentSessions(): ReadonlyMap<string, number> {
    return this.traffic.contentSessions;
  }

  /** Responses from this node since start (for request rates on the status page). */
  get requests(): number {
    return this.stats.count;
  }

  /** May get clients that have no pin (rule 1). */
  /**
   * Down because Connect's licence expired: its `/__ping__` answers 402. Out of rotation like any
   * down node, but an operator's problem to name, not a crash to chase.
   */
  get unlicensed(): boolean {
    return this.health === 'down' && this.lastProbe?.status === LICENCE_EXPIRED;
  }

  takesNewClients(): boolean {
    return this.state === 'active' && this.health === 'up' && !this.outdated;
  }

  /** May keep serving clients pinned to it (rule 3): draining nodes do, maintenance and down nodes do not. */
  servesPinned(): boolean {
    return this.state !== 'maintenance' && this.health !== 'down';
  }

  /** In its slow start at `now` (epoch ms). */
  ramping(now: number): boolean {
    return this.rampFrom !== undefined && now - this.rampFrom < this.rampMs;
  }

  /**
   * The share of its weight the node takes of new clients (slow start): grows from near zero to 1
   * over `rampMs` after it became available again; 1 otherwise. A pure function of `now`: the
   * pool alone sets and clears the ramp.
   */
  rampShare(now: number): number {
    if (!this.ramping(now)) return 1;
    return Math.max((now - this.rampFrom!) / this.rampMs, 0.02);
  }

  /**
   * Whether a process of `content` runs on this node, as far as the balancer knows: Connect said so
   * (`connect.apiKey`), or a session of it is open here through this process.
   */
  runs(content: string): boolean {
    return (
      this.contentSessions.has(content) ||
      this.connectProcs?.byContent.has(content) === true ||
      this.warmContents?.has(content) === true
    );
  }

  /** The `count` contents with the most open sessions here, most first. */
  busiestContents(count = 5): Array<{ content: string; sessions: number }> {
    return [...this.contentSessions]
      .sort((x, y) => y[1] - x[1])
      .slice(0, count)
      .map(([content, sessions]) => ({ content, sessions }));
  }

  /**
   * This process's load on the node as it tells the rest of the fleet at `now` (epoch ms): its
   * requests, WebSockets and sessions placed whose WebSocket has not opened yet.
   */
  localLoad(now = Date.now()): NodeLoad {
    const load = this.inFlight + this.websockets + this.traffic.placedSessions(now);
    return { load, contents: [...this.contentSessions.keys()] };
  }

  /** Sessions and requests on the node at `now`, fleet-wide where known (placement's load, rule 10). */
  fleetLoad(now = Date.now()): number {
    return this.inFlight + this.websockets + this.traffic.placedSessions(now) + this.externalLoad;
  }

  /**
   * The weight the node counts with at `now`: its weight scaled by its slow-start share. The one
   * slow-start model, whatever picks the node: least-loaded selection (rule 1), rendezvous of keyed
   * clients (rule 8) and the content placement's bound (rule 10).
   */
  effectiveWeight(now: number): number {
    return this.weight * this.rampShare(now);
  }

  /** Load used to pick among nodes: open work per unit of effective weight. */
  load(now: number): number {
    return (this.inFlight + this.websockets) / this.effectiveWeight(now);
  }
}

/** The status record of `node`, as its pool has it now (read through its getters). */
export function statusRecordOf(node: UpstreamNode): StatusRecord {
  const { name, health, state, since, version, outdated, rampFrom, rampMs } = node;
  return { name, health, state, since, version, outdated, rampFrom, rampMs };
}

/**
 * A new node's status record, as the YAML gives it: for the node table that makes the node and
 * keeps the only handle on it (node-table.ts); everyone else reads it through the node's getters.
 */
export function initialStatus(opts: NodeSpec, now: number): NodeStatus {
  return {
    health: 'unknown',
    state: opts.state,
    configState: opts.state,
    stateSource: { origin: 'config', at: now },
    since: now,
    connectFailures: 0,
    lastProbe: undefined,
    clockSkewMs: undefined,
    version: undefined,
    outdated: false,
    rampFrom: undefined,
    rampMs: 0,
    connectProcs: undefined,
    externalLoad: 0,
    warmContents: undefined,
  };
}
