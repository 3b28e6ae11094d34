/**
 * The control plane: configuration, DNS discovery, node state (the pool), health checks and Connect
 * awareness, the metrics registry, the admin server, reload and shutdown. It runs once per replica
 * (in the single process, or in the cluster primary) and knows nothing of proxies: what the data
 * plane needs leaves it as `DataSettings`, built once per change and handed to `onSettings`
 * listeners whole.
 */
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { Metric } from 'prom-client';
import { type Config, type OperatorState, restartOnlyChanges } from '../config/schema.js';
import { loadTlsMaterial, type TlsMaterial } from '../config/tls-files.js';
import type { DataSettings } from '../contract/data-settings.js';
import { listen, urlOf } from '../listen.js';
import type { Logger } from '../logger.js';
import { Metrics } from '../metrics/metrics.js';
import { DnsDiscovery, type Resolver, systemResolver } from '../pool/dns-discovery.js';
import { OpenTasks } from '../pool/open-tasks.js';
import { Pool } from '../pool/pool.js';
import type { NodeLoad, UpstreamNode } from '../pool/upstream-node.js';
import type { ReloadOutcome } from './admin/admin-server.js';
import { createAdminServer } from './admin/admin-server.js';
import { History, SAMPLE_MS } from './admin/history.js';
import { type NodeView, nodeView } from './admin/node-view.js';
import { dataSettings } from './build-settings.js';
import { ConfigWatch } from './config-watch.js';
import { ProcsReader } from './health/connect-procs.js';
import { type CheckerOptions, HealthChecker } from './health/health-checker.js';
import { NodeAgents } from './health/node-agents.js';
import { NodeEventLog } from './node-event-log.js';
import { reloadConfig } from './reload.js';
import { LOADS_FRESH_SECONDS } from './shared-fleet.js';
import { SharedStateStore } from './shared-state.js';

/** One series of `stickylb_affinity_repins_total`. */
export interface RepinCount {
  readonly from: string;
  readonly reason: string;
  readonly value: number;
}

/** The re-pin counts of `counter` (a prom-client metric's values, read directly). */
export async function repinCountsOf(counter: Pick<Metric, 'get'>): Promise<RepinCount[]> {
  return (await counter.get()).values.map((v) => ({
    from: String(v.labels.from ?? ''),
    reason: String(v.labels.reason ?? ''),
    value: v.value,
  }));
}

/** How often load counts are shared between replicas and workers (rule 10). */
const LOAD_SHARE_MS = 1000;

/** How a mode adapts the control plane. */
export interface ControlPlaneOptions {
  /** Re-reads the configuration for `POST /api/reload` and SIGHUP. */
  readonly loadConfig?: (() => Promise<Config>) | undefined;
  /** Resolver for `dns` upstreams (default: the system resolver). */
  readonly resolver?: Resolver | undefined;
  /** Start the probe timers (default true; tests drive `checker.checkOnce()`). */
  readonly probing?: boolean | undefined;
  /**
   * Whether a node carries no request or socket, which decides when a node that left DNS is
   * dropped (default: the pool's own counters, right when the data plane shares the pool).
   */
  readonly isIdle?: ((name: string) => boolean) | undefined;
  /** /api/nodes and /metrics as the admin server shows them (default: this process's). */
  readonly nodes?: (() => Promise<NodeView[]>) | undefined;
  readonly metricsText?: (() => Promise<string>) | undefined;
  /**
   * This replica's sessions and requests per node, and where the rest of the fleet's go (rule 10:
   * the bound is the fleet's). Default: the pool's own counters, and the other replicas' loads
   * written on the pool's nodes (right when the data plane shares the pool). A cluster primary
   * sums its workers and hands each the others' load.
   */
  readonly loads?:
    | {
        readonly local: () => Promise<ReadonlyMap<string, NodeLoad>>;
        readonly apply: (otherReplicas: ReadonlyMap<string, NodeLoad>) => void;
      }
    | undefined;
  /** Re-pin counts by origin node and reason, for the status page (default: this process's counter). */
  readonly repinCounts?: (() => Promise<readonly RepinCount[]>) | undefined;
  /** False while nothing serves traffic (no worker yet): readiness fails (default: always true). */
  readonly serving?: (() => boolean) | undefined;
  /** This replica's name in shared operator states (default: the host name). */
  readonly replica?: string | undefined;
  /** How long a start waits for the shared store's first read before reporting ready. */
  readonly storeWaitMs?: number | undefined;
  /** Time between the status page's samples (default 10 s; tests shorten it). */
  readonly historySampleMs?: number | undefined;
  /** The configuration file, watched when `watchConfig` is on (none: nothing to watch). */
  readonly configFile?: string | undefined;
}

interface Current {
  /** The configuration with every upstream resolved to a url. */
  readonly config: Config;
  readonly tls: TlsMaterial;
  readonly settings: DataSettings;
}

/** The control plane of one replica. */
export class ControlPlane {
  readonly pool: Pool;
  readonly metrics = new Metrics();
  readonly checker: HealthChecker;
  /** The last 15 minutes, for the status page. */
  readonly history = new History();
  /** Deploy tasks open on each node, as the data plane reports them (safe to stop). */
  readonly tasks: OpenTasks;
  /** Connect's own processes per node, read with `connect.apiKey` (none without a key). */
  readonly procs: ProcsReader | undefined;
  #sampler: NodeJS.Timeout | undefined;
  #loadTimer: NodeJS.Timeout | undefined;
  #repinsSeen = new Map<string, number>();
  readonly #discovery: DnsDiscovery;
  readonly #options: ControlPlaneOptions;
  readonly #log: Logger;
  readonly #admin: Server;
  readonly #listeners: Array<(settings: DataSettings) => void> = [];
  #current: Current;
  #shuttingDown = false;
  readonly #replica: string;
  readonly #store: SharedStateStore | undefined;
  /** The log lines and status-page events of node transitions, ejections and content list reads. */
  readonly #events: NodeEventLog;
  /** The configuration the process started with: what runs of the keys only a restart applies. */
  readonly #startedWith: Config;
  /** Set once the shared store was read (or waited for) at start: readiness until then fails. */
  #started = false;
  #watch: ConfigWatch | undefined;

  /** Resolves DNS once, reads the configuration's files and builds the control plane (nothing listens yet). */
  static async create(
    config: Config,
    logger: Logger,
    options: ControlPlaneOptions = {},
  ): Promise<ControlPlane> {
    const discovery = new DnsDiscovery(
      config,
      options.resolver ?? systemResolver,
      logger.child({ component: 'dns' }),
    );
    const tls = loadTlsMaterial(config);
    const resolved = await discovery.init();
    return new ControlPlane(discovery, current(resolved, tls), logger, options);
  }

  private constructor(
    discovery: DnsDiscovery,
    initial: Current,
    logger: Logger,
    options: ControlPlaneOptions,
  ) {
    this.#discovery = discovery;
    this.#current = initial;
    this.#startedWith = initial.config;
    this.#options = options;
    this.#log = logger.child({ component: 'balancer' });
    this.#replica = options.replica ?? hostname();
    this.pool = new Pool(initial.settings.nodes, initial.settings.pool);
    this.tasks = new OpenTasks(initial.config.connect.taskTimeout);
    this.metrics.attach(this.pool);
    const shared = initial.config.sharedState;
    if (shared !== undefined) {
      this.metrics.withStateStore();
      this.#store = new SharedStateStore(
        shared.url,
        this.pool,
        this.#replica,
        logger,
        this.metrics,
        this.tasks,
      );
    }
    this.#events = new NodeEventLog(this.#log, this.history, this.pool);
    this.checker = new HealthChecker(
      this.pool,
      checkerOptions(initial.config),
      logger.child({ component: 'health' }),
      this.metrics,
    );
    const connect = initial.config.connect;
    if (connect.apiKey !== undefined) {
      this.procs = new ProcsReader(
        this.pool,
        new NodeAgents(initial.config.healthCheck.timeout),
        connect.apiKey,
        connect.procsInterval,
        Math.max(initial.config.healthCheck.timeout, 2000),
        this.#events.contentList,
      );
    }
    this.#admin = createAdminServer({
      pool: this.pool,
      metrics: this.metrics,
      logger: logger.child({ component: 'admin' }),
      isShuttingDown: () => this.#shuttingDown,
      notReady: () =>
        !this.#started
          ? 'starting: reading the shared operator states'
          : options.serving?.() === false
            ? 'no worker serves yet'
            : undefined,
      changeState: (node, state) => this.setState(node, state),
      clearEjections: async (node) => {
        await this.#store?.fleet.clearEjections(node.name);
        return this.pool.clearEjections(node);
      },
      openTasks: (name) => this.tasks.count(name),
      history: () => this.history.toJSON(),
      access: () => this.#current.config.admin,
      reload: () => this.reload(),
      ...(options.nodes ? { nodes: options.nodes } : {}),
      ...(options.metricsText ? { metricsText: options.metricsText } : {}),
    });
  }

  /** The current data-plane settings. */
  get settings(): DataSettings {
    return this.#current.settings;
  }

  /** The current configuration (every upstream resolved to a url). */
  get config(): Config {
    return this.#current.config;
  }

  /** True while any upstream entry is a DNS name (nodes may come and go on their own). */
  get usesDns(): boolean {
    return this.#discovery.usesDns;
  }

  /** Calls `listener` with the new settings after every applied change (reload, DNS). */
  onSettings(listener: (settings: DataSettings) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Starts the admin listener, the probes and DNS re-resolution, and reads the shared operator states
   * (readiness waits for that read, bounded); returns the admin URL.
   */
  async start(): Promise<string> {
    const { admin } = this.#current.config;
    await listen(this.#admin, admin.port, admin.host);
    await this.#store?.start(this.#options.storeWaitMs);
    this.#started = true;
    this.#sampler = setInterval(() => void this.#sample(), this.#options.historySampleMs ?? SAMPLE_MS);
    this.#sampler.unref();
    // Load counts travel only when there is someone to tell: other replicas, or other workers.
    if (this.#store !== undefined || this.#options.loads !== undefined) this.#shareLoads();
    const file = this.#options.configFile;
    if (file !== undefined && this.#current.config.watchConfig) {
      this.#watch = new ConfigWatch(file, () => this.reload(), this.#log);
    }
    if (this.#options.probing !== false) {
      this.checker.start();
      this.procs?.start();
    }
    const isIdle =
      this.#options.isIdle ??
      ((name: string) => {
        const node = this.pool.get(name);
        return node === undefined || (node.inFlight === 0 && node.websockets === 0);
      });
    this.#discovery.watch(isIdle, (resolved) => {
      try {
        this.#install(resolved, this.#current.tls);
      } catch (err) {
        this.#log.error({ err }, 'could not apply the upstreams found in DNS');
      }
    });
    return urlOf(this.#admin, false);
  }

  /**
   * Applies a new configuration (validated already). Its files are read once, here, and may throw a
   * ConfigError, leaving everything unchanged. Listener addresses are not changed.
   */
  apply(next: Config): void {
    const tls = loadTlsMaterial(next);
    this.#install(this.#discovery.replace(next), tls);
  }

  /**
   * Sets a node's operator state through the API: shared with every replica when a store is
   * configured (throws an error with code STATE_STORE_UNAVAILABLE, changing nothing, when it is
   * unreachable), else kept by this replica across reloads.
   */
  async setState(node: UpstreamNode, state: OperatorState): Promise<void> {
    if (this.#store !== undefined) return this.#store.set(node, state);
    this.pool.setState(node, state, 'admin', { origin: 'api', at: Date.now(), by: this.#replica });
  }

  /** Re-reads the configuration file and applies it; invalid input keeps the running config. */
  async reload(): Promise<ReloadOutcome> {
    const outcome = await reloadConfig(
      this.#options.loadConfig,
      (next) => this.apply(next),
      this.metrics.configReloads,
      this.#log,
    );
    this.history.event(outcome.ok ? 'configuration reloaded' : 'configuration reload rejected');
    return outcome;
  }

  /** One sample for the status page: node traffic, and re-pins since the last one. */
  async #sample(): Promise<void> {
    try {
      const views = this.#options.nodes
        ? await this.#options.nodes()
        : this.pool.nodes.map((n) => nodeView(n));
      this.history.sample(views);
      // The counters themselves, summed over workers in cluster mode: never the Prometheus text.
      const counts = this.#options.repinCounts
        ? await this.#options.repinCounts()
        : await repinCountsOf(this.metrics.repins);
      for (const { from, reason, value } of counts) {
        const key = `${from} ${reason}`;
        const before = this.#repinsSeen.get(key) ?? 0;
        if (value > before) this.history.event(`${value - before} clients re-pinned (${reason})`, from);
        this.#repinsSeen.set(key, value);
      }
    } catch (err) {
      this.#log.debug({ err }, 'status page sample failed');
    }
  }

  /**
   * About once a second, off the request path: this replica's load per node out to the shared
   * store, the other replicas' in, handed to whoever places sessions (rule 10).
   */
  #shareLoads(): void {
    const local =
      this.#options.loads?.local ??
      (async () => new Map(this.pool.nodes.map((n) => [n.name, n.localLoad()])));
    const apply =
      this.#options.loads?.apply ??
      ((others: ReadonlyMap<string, NodeLoad>) => {
        for (const n of this.pool.nodes) {
          const other = others.get(n.name);
          const warm =
            other === undefined || other.contents.length === 0 ? undefined : new Set(other.contents);
          this.pool.setFleetView(n, other?.load ?? 0, warm);
        }
      });
    let others: ReadonlyMap<string, NodeLoad> = new Map();
    let othersAt = 0;
    const tick = async () => {
      try {
        const mine = await local();
        if (this.#store !== undefined) {
          const fleet = this.#store.fleet;
          const ejections = await fleet.exchangeEjections(this.pool.contentHealth.ejections(Date.now()));
          if (ejections !== undefined) this.pool.setSharedEjections(ejections);
          const read = await fleet.exchangeLoads(mine);
          if (read !== undefined) {
            others = read;
            othersAt = performance.now();
          } else if (performance.now() - othersAt > LOADS_FRESH_SECONDS * 1000) {
            // The store cannot say: the other replicas' loads age out as the SQL ages them
            // (issue 32.11), so replicas that have gone stop counting during an outage.
            others = new Map();
          }
        }
        apply(others);
      } catch (err) {
        this.#log.debug({ err }, 'load share failed');
      }
      if (!this.#shuttingDown) {
        this.#loadTimer = setTimeout(() => void tick(), LOAD_SHARE_MS);
        this.#loadTimer.unref();
      }
    };
    void tick();
  }

  /** Readiness fails from now on (shutdown has begun). */
  beginShutdown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#log.info({ timeoutMs: this.#current.config.shutdownTimeout }, 'shutting down');
  }

  /** Stops DNS, probes and the admin listener. */
  async close(): Promise<void> {
    this.beginShutdown();
    clearInterval(this.#sampler);
    clearTimeout(this.#loadTimer);
    this.#discovery.stop();
    this.#watch?.close();
    await this.#store?.close();
    await this.checker.stop();
    await this.procs?.stop();
    this.#admin.closeAllConnections();
    await new Promise<void>((resolve) => this.#admin.close(() => resolve()));
  }

  /** Builds the new state whole, then swaps it in and tells the pool, the checker and the listeners. */
  #install(resolved: Config, tls: TlsMaterial): void {
    const previous = this.#current;
    const next = current(resolved, tls);
    // Compared with what runs (the configuration started with, for these keys), not with the last
    // file: a change left for a restart is said again at every reload until it is undone.
    const needRestart = restartOnlyChanges(this.#startedWith, resolved);
    if (needRestart.length > 0) {
      // Every ignored change says so (the keys are marked once, in the schema).
      this.#log.warn({ keys: needRestart }, 'these changes need a restart; keeping the current values');
    }
    const kept = new Set(next.settings.nodes.map((n) => n.name));
    const removed = previous.settings.nodes.filter((n) => !kept.has(n.name)).map((n) => n.name);
    if (removed.length > 0) {
      // Loud on purpose: a removed node's sockets are cut and its clients re-pinned.
      this.#log.warn({ removed }, 'nodes removed by the configuration change; their clients move');
      for (const name of removed) this.history.event('removed from the configuration', name);
    }
    this.#current = next;
    this.pool.follow(next.settings);
    this.checker.reconfigure(checkerOptions(resolved));
    if (resolved.connect.apiKey !== undefined)
      this.procs?.reconfigure(resolved.connect.apiKey, resolved.connect.procsInterval);
    this.tasks.timeoutMs = resolved.connect.taskTimeout;
    for (const listener of this.#listeners) listener(next.settings);
  }
}

function current(config: Config, tls: TlsMaterial): Current {
  return { config, tls, settings: dataSettings(config, tls) };
}

/** Options for the health checker from `healthCheck.*` and `connect.*`. */
function checkerOptions(config: Config): CheckerOptions {
  const h = config.healthCheck;
  return {
    path: h.path,
    timeoutMs: h.timeout,
    expectStatus: h.expectStatus,
    host: h.host,
    intervalMs: h.interval,
    healthyThreshold: h.healthyThreshold,
    unhealthyThreshold: h.unhealthyThreshold,
    versionCheckIntervalMs: config.connect.versionCheckInterval,
    clockSkewWarningMs: config.connect.clockSkewWarning,
  };
}
