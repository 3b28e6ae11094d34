/**
 * The per-node series, computed at scrape time from the pool: gauges from node state, traffic
 * counters and the duration histogram from each node's RequestStats (plain numbers on the request
 * path, no label lookup per request). A node that leaves the pool leaves these series with it.
 * `aggregator` says how cluster processes combine: node state is the same in every process (max),
 * per-process work adds up (sum).
 */
import client, { type Registry } from 'prom-client';
import type { RequestStats } from '../pool/request-stats.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { RequestDurationMetric } from './request-duration.js';

/** Health values, for one-hot gauges and for removing a node's transition series. */
export const HEALTH_STATES = ['unknown', 'up', 'down'] as const;
/** Operator states, likewise. */
export const OPERATOR_STATES = ['active', 'draining', 'maintenance'] as const;

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
  [
    'bodyTimeouts',
    'stickylb_client_body_timeouts_total',
    'Requests whose body stopped arriving for timeouts.clientBody: answered 408, the node connection released.',
  ],
  [
    'sendTimeouts',
    'stickylb_client_send_timeouts_total',
    'Responses cut because the client read none of them for timeouts.clientSend: the node connection released.',
  ],
];

/**
 * Registers every per-node series on `registry`, read from `nodes()` at scrape time; `unrouted`
 * holds the responses the balancer answered with no node, by status.
 */
export function registerNodeMetrics(
  registry: Registry,
  nodes: () => readonly UpstreamNode[],
  unrouted: ReadonlyMap<number, number>,
): void {
  registerNodeGauges(registry, nodes);
  const nodeStats = () => nodes().map((n): [string, RequestStats] => [n.name, n.stats]);
  const registers = [registry];
  new client.Counter({
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
  registry.registerMetric(new RequestDurationMetric(nodeStats) as never);
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
}

/** A gauge read from each node at scrape time: `sample` calls `set` once per series. */
interface NodeGauge {
  readonly name: string;
  readonly help: string;
  readonly aggregator: 'max' | 'sum';
  /** A second label (one-hot gauges, the version), beside `upstream`. */
  readonly label?: string;
  readonly sample: (node: UpstreamNode, set: (value: number, label?: string) => void) => void;
}

const NODE_GAUGES: readonly NodeGauge[] = [
  {
    name: 'stickylb_upstream_up',
    help: '1 when the upstream node is healthy, 0 otherwise.',
    aggregator: 'max',
    sample: (n, set) => set(n.health === 'up' ? 1 : 0),
  },
  {
    name: 'stickylb_upstream_health',
    help: 'Health of each upstream node: 1 for its current health value.',
    aggregator: 'max',
    label: 'health',
    sample: (n, set) => {
      for (const h of HEALTH_STATES) set(n.health === h ? 1 : 0, h);
    },
  },
  {
    name: 'stickylb_upstream_unlicensed',
    help: "1 when the upstream node is down because Connect's licence expired (/__ping__ answers 402).",
    aggregator: 'max',
    sample: (n, set) => set(n.unlicensed ? 1 : 0),
  },
  {
    name: 'stickylb_upstream_state',
    help: 'Operator state of each upstream node: 1 for its current state.',
    aggregator: 'max',
    label: 'state',
    sample: (n, set) => {
      for (const st of OPERATOR_STATES) set(n.state === st ? 1 : 0, st);
    },
  },
  {
    name: 'stickylb_upstream_in_flight',
    help: 'Requests being proxied to each upstream node.',
    aggregator: 'sum',
    sample: (n, set) => set(n.inFlight),
  },
  {
    name: 'stickylb_active_websockets',
    help: 'Open upgraded (WebSocket) connections per upstream node.',
    aggregator: 'sum',
    sample: (n, set) => set(n.websockets),
  },
  {
    name: 'stickylb_upstream_clock_skew_seconds',
    help: "Upstream node's clock minus the balancer's, from the Date header of health probes.",
    aggregator: 'max',
    sample: (n, set) => {
      if (n.clockSkewMs !== undefined) set(n.clockSkewMs / 1000);
    },
  },
  {
    name: 'stickylb_upstream_info',
    help: 'Connect version reported by each upstream node; always 1.',
    aggregator: 'max',
    label: 'version',
    sample: (n, set) => {
      if (n.version !== undefined) set(1, n.version);
    },
  },
];

function registerNodeGauges(registry: Registry, nodes: () => readonly UpstreamNode[]): void {
  for (const { name, help, aggregator, label, sample } of NODE_GAUGES) {
    new client.Gauge({
      name,
      help,
      aggregator,
      labelNames: label === undefined ? ['upstream'] : ['upstream', label],
      registers: [registry],
      collect() {
        this.reset();
        for (const n of nodes()) {
          sample(n, (value, extra) =>
            this.set(
              label === undefined ? { upstream: n.name } : { upstream: n.name, [label]: extra ?? '' },
              value,
            ),
          );
        }
      },
    });
  }
}
