/**
 * Prometheus metrics on the project's own Registry. Gauges that mirror pool state are computed at
 * scrape time (no cost on the request path); counters and histograms on the request path are used
 * through per-node child handles, so no label lookup happens per request.
 */
import client, { type Counter, type Histogram, Registry } from 'prom-client';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { VERSION } from '../version.js';
import { RequestDurationMetric, RequestStats } from './request-stats.js';

const HEALTH_STATES = ['unknown', 'up', 'down'] as const;
const OPERATOR_STATES = ['active', 'draining', 'maintenance'] as const;

/** Handles for one node, resolved once. */
export interface NodeMetrics {
  readonly stats: RequestStats;
  readonly retries: client.Counter.Internal;
  readonly connectErrors: client.Counter.Internal;
}

/** Every metric stickylb exports. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'upstream' | 'code'>;
  readonly repins: Counter<'from' | 'reason'>;
  readonly healthChecks: Counter<'upstream' | 'result'>;
  readonly healthCheckDuration: Histogram<'upstream'>;
  readonly retries: Counter<'upstream'>;
  readonly connectErrors: Counter<'upstream'>;
  readonly websocketsTotal: Counter<'upstream'>;
  readonly configReloads: Counter<'result'>;
  readonly transitions: Counter<'upstream' | 'to'>;
  #nodes = new Map<string, NodeMetrics>();
  /** Responses the balancer answered itself with no node (503 and friends), by status. */
  readonly #unrouted = new Map<number, number>();
  #pool: Pool | undefined;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    const pool = () => this.#pool?.nodes ?? [];

    new client.Gauge({
      name: 'stickylb_build_info',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: 'Build information; always 1.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: VERSION, node_version: process.version }, 1);
    new client.Gauge({
      name: 'stickylb_upstream_up',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: '1 when the upstream node is healthy, 0 otherwise.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const n of pool()) this.set({ upstream: n.name }, n.health === 'up' ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'stickylb_upstream_health',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: 'Health of each upstream node: 1 for its current health value.',
      labelNames: ['upstream', 'health'],
      registers,
      collect() {
        this.reset();
        for (const n of pool())
          for (const h of HEALTH_STATES) this.set({ upstream: n.name, health: h }, n.health === h ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'stickylb_upstream_state',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: 'Operator state of each upstream node: 1 for its current state.',
      labelNames: ['upstream', 'state'],
      registers,
      collect() {
        this.reset();
        for (const n of pool())
          for (const s of OPERATOR_STATES) this.set({ upstream: n.name, state: s }, n.state === s ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'stickylb_upstream_in_flight',
      help: 'Requests being proxied to each upstream node.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const n of pool()) this.set({ upstream: n.name }, n.inFlight);
      },
    });
    new client.Gauge({
      name: 'stickylb_active_websockets',
      help: 'Open upgraded (WebSocket) connections per upstream node.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const n of pool()) this.set({ upstream: n.name }, n.websockets);
      },
    });
    new client.Gauge({
      name: 'stickylb_upstream_clock_skew_seconds',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: "Upstream node's clock minus the balancer's, from the Date header of health probes.",
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const n of pool())
          if (n.clockSkewMs !== undefined) this.set({ upstream: n.name }, n.clockSkewMs / 1000);
      },
    });
    new client.Gauge({
      name: 'stickylb_upstream_info',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: 'Connect version reported by each upstream node; always 1.',
      labelNames: ['upstream', 'version'],
      registers,
      collect() {
        this.reset();
        for (const n of pool())
          if (n.version !== undefined) this.set({ upstream: n.name, version: n.version }, 1);
      },
    });

    const nodeStats = () => [...this.#nodes].map(([name, m]): [string, RequestStats] => [name, m.stats]);
    const unrouted = this.#unrouted;
    this.requests = new client.Counter({
      name: 'stickylb_requests_total',
      help: 'HTTP requests by upstream node (none: answered by the balancer) and response status.',
      labelNames: ['upstream', 'code'],
      registers,
      collect() {
        this.reset();
        for (const [upstream, stats] of nodeStats()) {
          for (const [code, n] of stats.byCode) this.inc({ upstream, code: String(code) }, n);
        }
        for (const [code, n] of unrouted) this.inc({ upstream: 'none', code: String(code) }, n);
      },
    });
    this.registry.registerMetric(new RequestDurationMetric(nodeStats) as never);
    this.repins = new client.Counter({
      name: 'stickylb_affinity_repins_total',
      help: 'Clients moved off their pinned node, by that node and reason.',
      labelNames: ['from', 'reason'],
      registers,
    });
    this.healthChecks = new client.Counter({
      name: 'stickylb_health_checks_total',
      help: 'Active health probes by upstream node and result.',
      labelNames: ['upstream', 'result'],
      registers,
    });
    this.healthCheckDuration = new client.Histogram({
      name: 'stickylb_health_check_duration_seconds',
      help: 'Duration of active health probes.',
      labelNames: ['upstream'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.retries = new client.Counter({
      name: 'stickylb_retries_total',
      help: 'Requests sent to another node after this node failed them (redispatch or idempotent retry).',
      labelNames: ['upstream'],
      registers,
    });
    this.connectErrors = new client.Counter({
      name: 'stickylb_upstream_connect_errors_total',
      help: 'Connections to an upstream node that failed (refused, unreachable, timed out).',
      labelNames: ['upstream'],
      registers,
    });
    this.websocketsTotal = new client.Counter({
      name: 'stickylb_websockets_total',
      help: 'WebSocket upgrades completed per upstream node.',
      labelNames: ['upstream'],
      registers,
    });
    this.configReloads = new client.Counter({
      name: 'stickylb_config_reloads_total',
      help: 'Configuration reloads by result.',
      labelNames: ['result'],
      registers,
    });
    this.transitions = new client.Counter({
      name: 'stickylb_upstream_transitions_total',
      help: 'Health and operator-state transitions per upstream node, by the state entered.',
      labelNames: ['upstream', 'to'],
      registers,
    });
    this.configReloads.inc({ result: 'success' }, 0);
    this.configReloads.inc({ result: 'failure' }, 0);
  }

  /** Binds the scrape-time gauges to `pool` and creates zero-valued series for every node. */
  attach(pool: Pool): void {
    if (this.#pool !== pool)
      pool.on('transition', (t) => this.transitions.inc({ upstream: t.node.name, to: t.to }));
    this.#pool = pool;
    for (const node of pool.nodes) this.forNode(node);
  }

  /** The cached handles for `node`. */
  forNode(node: UpstreamNode): NodeMetrics {
    let m = this.#nodes.get(node.name);
    if (m === undefined) {
      const upstream = node.name;
      m = {
        stats: new RequestStats(),
        retries: this.retries.labels({ upstream }),
        connectErrors: this.connectErrors.labels({ upstream }),
      };
      this.retries.inc({ upstream }, 0);
      this.connectErrors.inc({ upstream }, 0);
      this.websocketsTotal.inc({ upstream }, 0);
      for (const result of ['success', 'failure']) this.healthChecks.inc({ upstream, result }, 0);
      this.#nodes.set(node.name, m);
    }
    return m;
  }

  /** Counts one response with `status` from `node` (or from the balancer itself when undefined). */
  countResponse(node: UpstreamNode | undefined, status: number, seconds: number): void {
    if (node === undefined) {
      this.#unrouted.set(status, (this.#unrouted.get(status) ?? 0) + 1);
      return;
    }
    node.requests++;
    this.forNode(node).stats.record(status, seconds);
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
