/**
 * Cluster mode (`workers` > 1): the primary runs the control plane once and relays it to the worker
 * processes, which run the data plane and share the listening port. The relay sends each worker its
 * settings and every node transition, answers /api/nodes and /metrics with the workers' numbers
 * summed, replaces a crashed worker, and on SIGTERM lets every worker finish its requests.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { NodeCounters } from '../contract/messages.js';
import type { ReloadOutcome } from '../control/admin/admin-server.js';
import type { NodeView } from '../control/admin/node-view.js';
import { failingContentsOf, nodeView, waitingFor } from '../control/admin/node-view.js';
import { ControlPlane, repinCountsOf } from '../control/control-plane.js';
import type { Logger } from '../logger.js';
import type { Resolver } from '../pool/dns-discovery.js';
import type { Pool } from '../pool/pool.js';
import { BusyNodes } from './busy-nodes.js';
import { WorkerRelay } from './worker-relay.js';

/** A running primary. */
export interface RunningPrimary {
  readonly adminUrl: string;
  /** Resolves with the proxy URL once the first worker listens. */
  readonly proxyUrl: Promise<string>;
  readonly pool: Pool;
  reload(): Promise<ReloadOutcome>;
  close(): Promise<void>;
  /** Ends the workers' shutdownDelay under way (a second signal); false when not stopping. */
  skipDelay(): boolean;
}

/** What tests may replace. */
export interface PrimaryOptions {
  /** Resolver for `dns` upstreams (default: the system resolver). */
  readonly resolver?: Resolver;
  /** Script the workers run (default: the primary's own, as node:cluster does). */
  readonly exec?: string;
  /** The configuration file, watched when `watchConfig` is on. */
  readonly configFile?: string | undefined;
}

/** Starts the control plane and `count` workers. */
export async function startPrimary(
  config: Config,
  count: number,
  logger: Logger,
  loadConfig: (() => Promise<Config>) | undefined,
  options: PrimaryOptions = {},
): Promise<RunningPrimary> {
  if (options.exec !== undefined) cluster.setupPrimary({ exec: options.exec });
  // The relay needs the control plane and the control plane's views need the relay: the views
  // read it once both exist (nothing is asked before `control.start()`).
  let relay: WorkerRelay | undefined;
  const busy = new BusyNodes(
    async () => ({
      asked: relay?.size ?? 0,
      answers: ((await relay?.queryAll('nodes')) ?? []) as NodeCounters[][],
    }),
    () => control.usesDns,
  );
  /** Every process's metrics (the primary's and each worker's), aggregated as Prometheus would see them. */
  const aggregated = async () =>
    AggregatorRegistry.aggregate([
      await control.metrics.registry.getMetricsAsJSON(),
      ...(((await relay?.queryAll('metrics')) ?? []) as never[]),
    ] as never);
  const control: ControlPlane = await ControlPlane.create(config, logger, {
    loadConfig,
    resolver: options.resolver,
    configFile: options.configFile,
    isIdle: (name) => busy.isIdle(name),
    nodes: () => summedNodes(control, relay),
    metricsText: async () => (await aggregated()).metrics(),
    repinCounts: async () => {
      const counter = (await aggregated()).getSingleMetric('stickylb_affinity_repins_total');
      return counter === undefined ? [] : repinCountsOf(counter);
    },
    serving: () => (relay?.listening ?? 0) > 0,
    loads: {
      local: async () => (await relay?.workerLoads()) ?? new Map(),
      apply: (others) => relay?.shareLoads(others),
    },
  });
  const workers = new WorkerRelay(control, logger.child({ component: 'cluster' }));
  relay = workers;
  for (let i = 0; i < count; i++) workers.fork();
  const adminUrl = await control.start();
  let closing: Promise<void> | undefined;
  return {
    adminUrl,
    proxyUrl: workers.proxyUrl,
    pool: control.pool,
    reload: () => control.reload(),
    skipDelay: () => workers.skipDelay(),
    close: () => {
      closing ??= (async () => {
        control.beginShutdown();
        busy.stop();
        await workers.close(control.config.shutdownTimeout, control.config.shutdownDelay);
        await control.close();
      })();
      return closing;
    },
  };
}

/** /api/nodes in cluster mode: the primary's view of each node with the workers' counters summed. */
async function summedNodes(control: ControlPlane, relay: WorkerRelay | undefined): Promise<NodeView[]> {
  const perWorker = ((await relay?.queryAll('nodes')) ?? []) as NodeCounters[][];
  const now = Date.now();
  return control.pool.nodes.map((n) => {
    const contents = new Map<string, number>();
    const view = nodeView(n, now, control.tasks.count(n.name), failingContentsOf(control.pool, n.name));
    for (const list of perWorker) {
      const c = list.find((x) => x.name === n.name);
      if (c === undefined) continue;
      view.inFlight += c.inFlight;
      view.websockets += c.websockets;
      view.requests += c.requests;
      for (const { content, sessions } of c.contents ?? [])
        contents.set(content, (contents.get(content) ?? 0) + sessions);
    }
    view.busiestContents = [...contents]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 5)
      .map(([content, sessions]) => ({ content, sessions }));
    view.waitingFor = waitingFor(
      view.state,
      view.inFlight,
      view.websockets,
      view.openTasks,
      view.connect?.jobs ?? 0,
    );
    view.safeToStop = view.waitingFor.length === 0;
    return view;
  });
}
