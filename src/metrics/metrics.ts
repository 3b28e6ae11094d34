/**
 * Prometheus metrics on the project's own Registry. Everything per node is read from the pool at
 * scrape time: gauges from node state, traffic counters from each node's RequestStats (plain
 * numbers on the request path, no label lookup per request). So a node that leaves the pool leaves
 * /metrics too; the few labelled series written elsewhere (health checks, transitions) are removed
 * with it.
 */
import client, { type Counter, type Histogram, Registry } from 'prom-client';
import type { Pool } from '../pool/pool.js';
import type { RequestStats } from '../pool/request-stats.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { VERSION } from '../version.js';
import { RequestDurationMetric } from './request-duration.js';

const HEALTH_STATES = ['unknown', 'up', 'down'] as const;
const OPERATOR_STATES = ['active', 'draining', 'maintenance'] as const;

/** Per-node counters kept in RequestStats and exported at scrape time. */
const NODE_COUNTERS: ReadonlyArray<readonly [keyof RequestStats & string, string, string]> = [
  [
    'retries',
    'stickylb_retries_total',
    'Requests sent to another node after this node failed them (redispatch or idempotent retry).',
  ],
  [
    'connectErrors',
    'stickylb_upstream_connect_errors_total',
    'Connections to an upstream node that failed (refused, unreachable, timed out).',
  ],
  [
    'queueTimeouts',
    'stickylb_queue_timeouts_total',
    'Requests answered 503 after waiting timeouts.queue for a connection (limits.upstreamConnections).',
  ],
  ['upgrades', 'stickylb_websockets_total', 'WebSocket upgrades completed per upstream node.'],
];

/** Every metric stickylb exports. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'upstream' | 'code'>;
  readonly repins: Counter<'from' | 'reason'>;
  readonly healthChecks: Counter<'upstream' | 'result'>;
  readonly healthCheckDuration: Histogram<'upstream'>;
  readonly configReloads: Counter<'result'>;
  readonly proxyProtocolErrors: Counter;
  readonly clientErrors: Counter<'reason'>;
  readonly transitions: Counter<'upstream' | 'to'>;
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

    const nodeStats = () => pool().map((n): [string, RequestStats] => [n.name, n.stats]);
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
    for (const [field, name, help] of NODE_COUNTERS) {
      new client.Counter({
        name,
        help,
        labelNames: ['upstream'],
        registers,
        collect() {
          this.reset();
          for (const [upstream, stats] of nodeStats()) this.inc({ upstream }, stats[field] as number);
        },
      });
    }
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

  /**
   * Binds the scrape-time series to `pool`; health-check series start at zero for every node, and the
   * series of a node that leaves the pool are removed.
   */
  attach(pool: Pool): void {
    if (this.#pool === pool) return;
    this.#pool = pool;
    pool.on('transition', (t) => this.transitions.inc({ upstream: t.node.name, to: t.to }));
    pool.on('membership', (removed) => {
      for (const node of removed) if (pool.get(node.name) === undefined) this.#forget(node.name);
      this.#zeroFill(pool);
    });
    this.#zeroFill(pool);
  }

  #zeroFill(pool: Pool): void {
    for (const { name: upstream } of pool.nodes) {
      for (const result of ['success', 'failure']) this.healthChecks.inc({ upstream, result }, 0);
    }
  }

  #forget(upstream: string): void {
    for (const result of ['success', 'failure']) this.healthChecks.remove({ upstream, result });
    this.healthCheckDuration.remove({ upstream });
    for (const to of [...HEALTH_STATES, ...OPERATOR_STATES]) this.transitions.remove({ upstream, to });
  }

  /** Counts one response with `status` from `node` (or from the balancer itself when undefined). */
  countResponse(node: UpstreamNode | undefined, status: number, seconds: number): void {
    if (node === undefined) this.#unrouted.set(status, (this.#unrouted.get(status) ?? 0) + 1);
    else node.stats.record(status, seconds);
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
