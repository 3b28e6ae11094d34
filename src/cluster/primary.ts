/**
 * The cluster primary (`workers` > 1): it runs the health checker and the admin server once, forks
 * the proxy workers (which share the listening port), relays every node transition to them, answers
 * /api/nodes and /metrics with the workers' numbers summed, replaces a crashed worker, and on
 * SIGTERM lets every worker finish its requests before exiting.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import { createAdminServer } from '../admin/admin-server.js';
import { type NodeView, nodeView } from '../admin/node-view.js';
import { type ReloadOutcome, reloadConfig } from '../config/reload.js';
import type { Config } from '../config/schema.js';
import { loadTlsMaterial } from '../config/tls-files.js';
import { HealthChecker } from '../health/health-checker.js';
import type { Logger } from '../logger.js';
import { Metrics } from '../metrics/metrics.js';
import { DnsDiscovery, type Resolver, systemResolver } from '../pool/dns-discovery.js';
import { Pool } from '../pool/pool.js';
import { checkerOptions, poolOptions } from '../settings.js';
import { busyNodes } from './busy-nodes.js';
import {
  isMessage,
  type NodeCounters,
  type NodeSnapshot,
  type ToPrimary,
  type ToWorker,
} from './messages.js';

/** A running primary. */
export interface RunningPrimary {
  readonly adminUrl: string;
  /** Resolves with the proxy URL once the first worker listens. */
  readonly proxyUrl: Promise<string>;
  readonly pool: Pool;
  reload(): Promise<ReloadOutcome>;
  close(): Promise<void>;
}

const QUERY_TIMEOUT_MS = 2000;
/** Environment variable through which a forked worker receives the primary's current configuration. */
export const WORKER_CONFIG_ENV = 'STICKYLB_WORKER_CONFIG';

/** What tests may replace. */
export interface PrimaryOptions {
  /** Resolver for `dns` upstreams (default: the system resolver). */
  readonly resolver?: Resolver;
  /** Script the workers run (default: the primary's own, as node:cluster does). */
  readonly exec?: string;
}

/** How often the primary asks the workers which nodes still carry requests or sockets. */
const BUSY_POLL_MS = 1000;

/** Starts the primary and `count` workers. */
export async function startPrimary(
  initial: Config,
  count: number,
  logger: Logger,
  loadConfig: (() => Promise<Config>) | undefined,
  options: PrimaryOptions = {},
): Promise<RunningPrimary> {
  let shuttingDown = false;
  const log = logger.child({ component: 'cluster' });
  if (options.exec !== undefined) cluster.setupPrimary({ exec: options.exec });
  const discovery = new DnsDiscovery(
    initial,
    options.resolver ?? systemResolver,
    logger.child({ component: 'dns' }),
  );
  // The resolved configuration (every upstream with a url) is what the workers get.
  let config = await discovery.init();
  const tls = loadTlsMaterial(config);
  const pool = new Pool(config.upstreams, poolOptions(config, tls));
  const metrics = new Metrics();
  metrics.attach(pool);
  const checker = new HealthChecker(
    pool,
    checkerOptions(config),
    logger.child({ component: 'health' }),
    metrics,
  );
  const workers = new Set<Worker>();
  /** Workers whose proxy listens (they handle IPC messages from then on). */
  const ready = new WeakSet<Worker>();
  const pending = new Map<number, { resolve: (data: unknown) => void; timer: NodeJS.Timeout }>();
  let nextQuery = 1;
  let resolveProxyUrl: (url: string) => void = () => {};
  const proxyUrl = new Promise<string>((resolve) => {
    resolveProxyUrl = resolve;
  });

  const snapshot = (): NodeSnapshot[] =>
    pool.nodes.map((n) => ({ name: n.name, health: n.health, state: n.state, version: n.version }));
  const broadcast = (message: ToWorker) => {
    for (const w of workers) if (w.isConnected()) w.send(message);
  };

  pool.on('transition', (t) => {
    const fields = { upstream: t.node.name, from: t.from, to: t.to, cause: t.cause };
    if ((t.kind === 'health' && t.to === 'down') || (t.kind === 'state' && t.to === 'maintenance')) {
      log.warn(fields, t.kind === 'health' ? 'node down' : 'node in maintenance');
    } else {
      log.info(fields, t.kind === 'health' && t.to === 'up' ? 'node up' : 'node state changed');
    }
    broadcast({ t: 'snapshot', nodes: snapshot() });
  });

  const query = (worker: Worker, what: 'nodes' | 'metrics'): Promise<unknown> =>
    new Promise((resolve) => {
      const id = nextQuery++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, QUERY_TIMEOUT_MS);
      pending.set(id, { resolve, timer });
      worker.send({ t: 'query', id, what } satisfies ToWorker);
    });
  const queryAll = async (what: 'nodes' | 'metrics') =>
    (await Promise.all([...workers].filter((w) => w.isConnected()).map((w) => query(w, what)))).filter(
      (d) => d !== undefined,
    );

  const fork = (): Worker => {
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    workers.add(worker);
    worker.on('message', (raw: unknown) => {
      if (!isMessage(raw)) return;
      const message = raw as ToPrimary;
      switch (message.t) {
        case 'ready':
          ready.add(worker);
          worker.send({ t: 'snapshot', nodes: snapshot() } satisfies ToWorker);
          resolveProxyUrl(message.proxyUrl);
          break;
        case 'passive-down': {
          const node = pool.get(message.name);
          if (node) pool.setHealth(node, 'down', 'passive');
          break;
        }
        case 'reply': {
          const entry = pending.get(message.id);
          if (entry) {
            clearTimeout(entry.timer);
            pending.delete(message.id);
            entry.resolve(message.data);
          }
          break;
        }
      }
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker);
    if (shuttingDown) return;
    log.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting a new one');
    fork();
  });

  // Let the kernel spread connections across workers: the primary's round-robin hand-off costs more
  // than it balances for short keep-alive connections.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < count; i++) fork();
  checker.start();

  const nodes = async (): Promise<NodeView[]> => {
    const perWorker = (await queryAll('nodes')) as NodeCounters[][];
    return pool.nodes.map((n) => {
      const view = nodeView(n);
      for (const list of perWorker) {
        const c = list.find((x) => x.name === n.name);
        if (c === undefined) continue;
        view.inFlight += c.inFlight;
        view.websockets += c.websockets;
        view.requests += c.requests;
      }
      return view;
    });
  };
  const metricsText = async (): Promise<string> => {
    const all = [await metrics.registry.getMetricsAsJSON(), ...(await queryAll('metrics'))];
    return AggregatorRegistry.aggregate(all as never).metrics();
  };

  function applyResolved(next: Config): void {
    const nextTls = loadTlsMaterial(next);
    pool.reconcile(next.upstreams, poolOptions(next, nextTls));
    metrics.attach(pool);
    checker.reconfigure(checkerOptions(next));
    config = next;
    broadcast({ t: 'config', config: next });
    broadcast({ t: 'snapshot', nodes: snapshot() });
  }

  // Workers hold the connections, so the primary learns which nodes are busy (requests in flight or
  // open WebSockets in any worker) by asking them every second while upstreams come from DNS. An
  // address that left DNS drains until the last answer shows it idle, as in single-process mode.
  let busy = new Set<string>();
  let polling = false;
  const pollBusy = async () => {
    if (polling || !discovery.usesDns) return;
    polling = true;
    try {
      const asked = [...workers].filter((w) => w.isConnected()).length;
      busy = busyNodes(busy, asked, (await queryAll('nodes')) as NodeCounters[][]);
    } finally {
      polling = false;
    }
  };
  const busyPoller = setInterval(() => void pollBusy(), BUSY_POLL_MS);
  busyPoller.unref();
  discovery.watch(
    (name) => !busy.has(name),
    (resolved) => {
      try {
        applyResolved(resolved);
      } catch (err) {
        log.error({ err }, 'could not apply the upstreams found in DNS');
      }
    },
  );

  function reload(): Promise<ReloadOutcome> {
    return reloadConfig(
      loadConfig,
      (written) => {
        loadTlsMaterial(written); // throws on unreadable files before anything changes
        applyResolved(discovery.replace(written));
      },
      metrics.configReloads,
      log,
    );
  }

  const admin = createAdminServer({
    pool,
    metrics,
    logger: logger.child({ component: 'admin' }),
    isShuttingDown: () => shuttingDown || workers.size === 0,
    token: () => config.admin.token,
    reload,
    nodes,
    metricsText,
  });
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(config.admin.port, config.admin.host, () => resolve());
  });
  const addr = admin.address() as AddressInfo;

  async function close(): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ workers: workers.size, timeoutMs: config.shutdownTimeout }, 'shutting down');
    const exited = [...workers].map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
    // A worker still starting may not listen to IPC yet: a signal reaches it either way.
    for (const w of workers) {
      if (ready.has(w) && w.isConnected()) w.send({ t: 'shutdown' } satisfies ToWorker);
      else w.process.kill('SIGTERM');
    }
    const deadline = setTimeout(() => {
      for (const w of workers) w.process.kill('SIGKILL');
    }, config.shutdownTimeout + 5000);
    await Promise.all(exited);
    clearTimeout(deadline);
    discovery.stop();
    clearInterval(busyPoller);
    await checker.stop();
    admin.closeAllConnections();
    await new Promise<void>((resolve) => admin.close(() => resolve()));
  }

  return { adminUrl: `http://${addr.address}:${addr.port}`, proxyUrl, pool, reload, close };
}
