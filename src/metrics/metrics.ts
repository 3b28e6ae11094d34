/**
 * Prometheus metrics on the project's own Registry. Gauges that mirror pool state are computed at
 * scrape time (no cost on the request path); counters and histograms on the request path are used
 * through per-node child handles, so no label lookup happens per request.
 */
import client, { type Counter, type Histogram, Registry } from 'prom-client';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { CLIENT_ERROR_REASONS } from '../proxy/client-errors.js';
import { VERSION } from '../version.js';
import { RequestDurationMetric, RequestStats } from './request-stats.js';

const HEALTH_STATES = ['unknown', 'up', 'down'] as const;
const OPERATOR_STATES = ['active', 'draining', 'maintenance'] as const;

/** Handles for one node, resolved once. */
export interface NodeMetrics {
  readonly stats: RequestStats;
  readonly retries: client.Counter.Internal;
  readonly connectErrors: client.Counter.Internal;
  readonly queueTimeouts: client.Counter.Internal;
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
  readonly queueTimeouts: Counter<'upstream'>;
  readonly websocketsTotal: Counter<'upstream'>;
  readonly configReloads: Counter<'result'>;
  readonly proxyProtocolErrors: Counter;
  readonly clientErrors: Counter<'reason'>;
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
    /**
     * A gauge read from the pool at scrape time. `aggregator` is how cluster processes combine:
     * node state is the same in every process (max), per-process work adds up (sum).
     */
    const nodeGauge = (
      name: string,
      help: string,
      aggregator: 'max' | 'sum',
      extraLabel: string | undefined,
      sample: (node: UpstreamNode, set: (value: number, extra?: string) => void) => void,
    ) =>
      new client.Gauge({
        name,
        help,
        aggregator,
        labelNames: extraLabel === undefined ? ['upstream'] : ['upstream', extraLabel],
        registers,
        collect() {
          this.reset();
          for (const n of pool()) {
            sample(n, (value, extra) =>
              this.set(
                extraLabel === undefined
                  ? { upstream: n.name }
                  : { upstream: n.name, [extraLabel]: extra ?? '' },
                value,
              ),
            );
          }
        },
      });
    nodeGauge(
      'stickylb_upstream_up',
      '1 when the upstream node is healthy, 0 otherwise.',
      'max',
      undefined,
      (n, set) => set(n.health === 'up' ? 1 : 0),
    );
    nodeGauge(
      'stickylb_upstream_health',
      'Health of each upstream node: 1 for its current health value.',
      'max',
      'health',
      (n, set) => {
        for (const h of HEALTH_STATES) set(n.health === h ? 1 : 0, h);
      },
    );
    nodeGauge(
      'stickylb_upstream_state',
      'Operator state of each upstream node: 1 for its current state.',
      'max',
      'state',
      (n, set) => {
        for (const st of OPERATOR_STATES) set(n.state === st ? 1 : 0, st);
      },
    );
    nodeGauge(
      'stickylb_upstream_in_flight',
      'Requests being proxied to each upstream node.',
      'sum',
      undefined,
      (n, set) => set(n.inFlight),
    );
    nodeGauge(
      'stickylb_active_websockets',
      'Open upgraded (WebSocket) connections per upstream node.',
      'sum',
      undefined,
      (n, set) => set(n.websockets),
    );
    nodeGauge(
      'stickylb_upstream_clock_skew_seconds',
      "Upstream node's clock minus the balancer's, from the Date header of health probes.",
      'max',
      undefined,
      (n, set) => {
        if (n.clockSkewMs !== undefined) set(n.clockSkewMs / 1000);
      },
    );
    nodeGauge(
      'stickylb_upstream_info',
      'Connect version reported by each upstream node; always 1.',
      'max',
      'version',
      (n, set) => {
        if (n.version !== undefined) set(1, n.version);
      },
    );

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
          for (let code = 100; code < 600; code++) {
            const n = stats.byCode[code]!;
            if (n > 0) this.inc({ upstream, code: String(code) }, n);
          }
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
    this.queueTimeouts = new client.Counter({
      name: 'stickylb_queue_timeouts_total',
      help: 'Requests answered 503 after waiting timeouts.queue for a connection (limits.upstreamConnections).',
      labelNames: ['upstream'],
      registers,
    });
    this.websocketsTotal = new client.Counter({
      name: 'stickylb_websockets_total',
      help: 'WebSocket upgrades completed per upstream node.',
      labelNames: ['upstream'],
      registers,
    });
    this.proxyProtocolErrors = new client.Counter({
      name: 'stickylb_proxy_protocol_errors_total',
      help: 'Connections closed for lack of a valid PROXY protocol header (listen.proxyProtocol).',
      registers,
    });
    this.clientErrors = new client.Counter({
      name: 'stickylb_client_errors_total',
      help: 'Client connections node:http gave up on: bad_request (malformed, smuggling shapes), headers_too_large, timeout (headers not complete within timeouts.clientHeaders), aborted (a socket error such as a reset).',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of CLIENT_ERROR_REASONS) this.clientErrors.inc({ reason }, 0);
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
        queueTimeouts: this.queueTimeouts.labels({ upstream }),
      };
      this.queueTimeouts.inc({ upstream }, 0);
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
    let stats = node.stats;
    if (stats === undefined) {
      stats = this.forNode(node).stats;
      node.stats = stats;
    }
    stats.record(status, seconds);
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
