/**
 * Prometheus metrics on the project's own Registry. The per-node series are computed from the pool
 * at scrape time (node-metrics.ts), so a node that leaves the pool leaves /metrics too; the few
 * labelled series written elsewhere (health checks, transitions) are removed with it. The counters
 * here are written by the parts that own the events (re-pins, probes, reloads, refused connections).
 */

import client, { Registry } from 'prom-client';
import type { NodeTable } from '../pool/node-table.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { VERSION } from '../version.js';
import { AdoptCounts } from './adopt-counts.js';
import { HEALTH_STATES, OPERATOR_STATES, registerNodeMetrics } from './node-metrics.js';
import { PlacementCounts } from './placement-counts.js';

/** Why stickylb closed an HTTP/2 session (`stickylb_http2_sessions_closed_total`). */
export const HTTP2_CLOSE_REASONS = [
  'idle',
  'rapid_reset',
  'ping_flood',
  'settings_flood',
  'protocol_error',
] as const;

/** Every metric stickylb exports. */
export class Metrics {
  readonly registry = new Registry();
  readonly #registers = [this.registry];
  /** How sessions were placed (rules 1, 10, 11), counted on the request path as plain numbers. */
  readonly placements = new PlacementCounts();
  readonly adopted = new AdoptCounts();
  readonly repins = new client.Counter({
    name: 'stickylb_affinity_repins_total',
    help: 'Clients moved off their pinned node, by that node and reason.',
    labelNames: ['from', 'reason'] as const,
    registers: this.#registers,
  });
  readonly healthChecks = new client.Counter({
    name: 'stickylb_health_checks_total',
    help: 'Active health probes by upstream node and result.',
    labelNames: ['upstream', 'result'] as const,
    registers: this.#registers,
  });
  readonly healthCheckDuration = new client.Histogram({
    name: 'stickylb_health_check_duration_seconds',
    help: 'Duration of active health probes.',
    labelNames: ['upstream'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: this.#registers,
  });
  readonly proxyProtocolErrors = new client.Counter({
    name: 'stickylb_proxy_protocol_errors_total',
    help: 'Connections closed for lack of a valid PROXY protocol header (listen.proxyProtocol).',
    registers: this.#registers,
  });
  readonly clientErrors = new client.Counter({
    name: 'stickylb_client_errors_total',
    help: 'Client connections node:http gave up on: bad_request (malformed, smuggling shapes), headers_too_large, timeout (headers not complete within timeouts.clientHeaders), aborted (a socket error such as a reset).',
    labelNames: ['reason'] as const,
    registers: this.#registers,
  });
  readonly taskLookups = new client.Counter({
    name: 'stickylb_task_lookups_total',
    help: 'Deploy task polls its node answered 404 for, asked of the other nodes: found elsewhere (the client re-pinned), not_found anywhere, or refused (the lookup budget was spent; the 404 relayed).',
    labelNames: ['result'] as const,
    registers: this.#registers,
  });
  readonly stateStoreUp = new client.Gauge({
    name: 'stickylb_state_store_up',
    help: '1 while the shared state store (sharedState.url) is reachable, 0 otherwise (absent without one).',
    aggregator: 'max',
    registers: [],
  });
  readonly stateChangesApplied = new client.Counter({
    name: 'stickylb_state_changes_applied_total',
    help: 'Operator states set through another replica and applied here from the shared store.',
    registers: this.#registers,
  });
  readonly configReloads = new client.Counter({
    name: 'stickylb_config_reloads_total',
    help: 'Configuration reloads by result.',
    labelNames: ['result'] as const,
    registers: this.#registers,
  });
  readonly transitions = new client.Counter({
    name: 'stickylb_upstream_transitions_total',
    help: 'Health and operator-state transitions per upstream node, by the state entered.',
    labelNames: ['upstream', 'to'] as const,
    registers: this.#registers,
  });
  readonly http2Sessions = new client.Gauge({
    name: 'stickylb_http2_sessions',
    help: 'HTTP/2 sessions open at the TLS listener.',
    registers: this.#registers,
  });
  readonly http2SessionsClosed = new client.Counter({
    name: 'stickylb_http2_sessions_closed_total',
    help: 'HTTP/2 sessions stickylb closed, by reason: idle (no stream for timeouts.clientIdle), rapid_reset, ping_flood, settings_flood (a budget of the README passed), protocol_error (refused-stream or invalid-frame floods, malformed frames: closed by node:http2).',
    labelNames: ['reason'] as const,
    registers: this.#registers,
  });
  readonly http2StreamResets = new client.Counter({
    name: 'stickylb_http2_client_resets_total',
    help: 'HTTP/2 streams the client reset (RST_STREAM) before they were answered.',
    registers: this.#registers,
  });
  readonly websocketsOverHttp2 = new client.Counter({
    name: 'stickylb_http2_websockets_total',
    help: 'WebSocket handshakes received as HTTP/2 extended CONNECT (RFC 8441).',
    registers: this.#registers,
  });
  readonly contentEjections = new client.Counter({
    name: 'stickylb_content_ejections_total',
    help: "Contents ejected from a node where they failed while the node was fine (rule 13): the node left that content's placement order.",
    labelNames: ['upstream'] as const,
    registers: this.#registers,
  });
  /** Responses the balancer answered itself with no node (503 and friends), by status. */
  readonly #unrouted = new Map<number, number>();
  #pool: NodeTable | undefined;

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({
      name: 'stickylb_build_info',
      // Same value in every cluster process: aggregate with max, not sum.
      aggregator: 'max',
      help: 'Build information; always 1.',
      labelNames: ['version', 'node_version'],
      registers: this.#registers,
    }).set({ version: VERSION, node_version: process.version }, 1);
    registerNodeMetrics(this.registry, () => this.#pool?.nodes ?? [], this.#unrouted);
    const pool = () => this.#pool;
    new client.Gauge({
      name: 'stickylb_contents_ejected',
      help: 'Contents ejected from each node now (rule 13): failing there while the node is fine.',
      labelNames: ['upstream'],
      aggregator: 'max',
      registers: this.#registers,
      collect() {
        this.reset();
        const table = pool();
        if (table === undefined) return;
        const now = Date.now();
        for (const n of table.nodes) {
          const ejected = table.contentHealth.failing(n.name).filter((f) => (f.ejectedUntil ?? 0) > now);
          this.set({ upstream: n.name }, ejected.length);
        }
      },
    });
    this.placements.register(this.registry);
    this.adopted.register(this.registry);
    for (const result of ['success', 'failure']) this.configReloads.inc({ result }, 0);
    for (const result of ['found', 'not_found', 'refused']) this.taskLookups.inc({ result }, 0);
    for (const reason of HTTP2_CLOSE_REASONS) this.http2SessionsClosed.inc({ reason }, 0);
  }

  /**
   * Binds the scrape-time series to `pool`; health-check series start at zero for every node, and the
   * series of a node that leaves the pool are removed.
   */
  attach(pool: NodeTable): void {
    if (this.#pool === pool) return;
    this.#pool = pool;
    pool.on('transition', (t) => this.transitions.inc({ upstream: t.node.name, to: t.to }));
    pool.on('content', (e) => {
      if (e.kind === 'ejected') this.contentEjections.inc({ upstream: e.node });
    });
    pool.on('membership', (removed) => {
      for (const node of removed) if (pool.get(node.name) === undefined) this.#forget(node.name);
      this.#zeroFill(pool);
    });
    this.#zeroFill(pool);
  }

  #zeroFill(pool: NodeTable): void {
    for (const { name: upstream } of pool.nodes) {
      for (const result of ['success', 'failure']) this.healthChecks.inc({ upstream, result }, 0);
      this.contentEjections.inc({ upstream }, 0);
    }
  }

  #forget(upstream: string): void {
    for (const result of ['success', 'failure']) this.healthChecks.remove({ upstream, result });
    this.healthCheckDuration.remove({ upstream });
    for (const to of [...HEALTH_STATES, ...OPERATOR_STATES]) this.transitions.remove({ upstream, to });
    this.contentEjections.remove({ upstream });
  }

  /** Counts one response with `status` from `node` (or from the balancer itself when undefined). */
  countResponse(node: UpstreamNode | undefined, status: number, seconds: number): void {
    if (node === undefined) this.#unrouted.set(status, (this.#unrouted.get(status) ?? 0) + 1);
    else node.stats.record(status, seconds);
  }

  /** Exports `stickylb_state_store_up` (only replicas with a shared store have one). */
  withStateStore(): void {
    this.registry.registerMetric(this.stateStoreUp);
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
