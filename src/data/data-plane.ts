/**
 * The data plane: listeners, HTTP forwarding and WebSocket tunnels over a pool of nodes it reads
 * (shared with the control plane in one process, a mirror in a cluster worker). It owns the one
 * policy for a lost node: when the pool reports a node down, in maintenance or removed, its
 * tunnels, pending handshakes and upstream connections are cut without a clean close, so clients
 * reconnect and are re-pinned. New settings arrive whole (`apply`): the table follows them and a new
 * runtime is swapped in with one assignment.
 */

import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import { RepinRecorder } from '../affinity/repin-recorder.js';
import { systemClock } from '../clock.js';
import type { DataSettings } from '../contract/data-settings.js';
import { listen, urlOf } from '../listen.js';
import type { Logger } from '../logger.js';
import type { AdoptCounts } from '../metrics/adopt-counts.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PlacementCounts } from '../metrics/placement-counts.js';
import { isLost, type NodeTable, type Transition } from '../pool/node-table.js';
import type { TaskReports } from '../pool/open-tasks.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { Answers } from './answers.js';
import { UpstreamClients } from './exchange/upstream-clients.js';
import { HttpForwarder } from './http/http-forwarder.js';
import { TaskLookupBudget } from './http/task-lookup.js';
import { Lifecycle } from './lifecycle.js';
import { applyServerSettings, createProxyServer, createRedirectServer } from './listeners.js';
import { buildRuntime, type Runtime } from './runtime.js';
import { Tracing } from './tracing/spans.js';
import { WebSocketProxy } from './websocket/websocket-proxy.js';

/** Where a started data plane listens. */
export interface DataPlaneUrls {
  /** `http(s)://host:port` of the proxy listener. */
  readonly proxyUrl: string;
  /** `http://host:port` of the HTTP-to-HTTPS redirect listener, when configured. */
  readonly redirectUrl: string | undefined;
}

/** One data plane (per process that serves traffic). */
export class DataPlane {
  readonly #pool: NodeTable;
  readonly #logger: Logger;
  readonly #repins: RepinRecorder;
  readonly #clients: UpstreamClients;
  readonly #websockets: WebSocketProxy;
  readonly #proxy: Server;
  readonly #redirect: Server | undefined;
  readonly #tracing: Tracing;
  readonly #lifecycle = new Lifecycle();
  readonly #placements: PlacementCounts;
  readonly #adopted: AdoptCounts;
  #runtime: Runtime;

  /** `tasks` hears of deploy tasks starting and finishing (the control plane's tracker, or a relay to it). */
  constructor(settings: DataSettings, pool: NodeTable, metrics: Metrics, logger: Logger, tasks: TaskReports) {
    this.#pool = pool;
    this.#placements = metrics.placements;
    this.#logger = logger.child({ component: 'proxy' });
    this.#repins = new RepinRecorder(metrics.repins, logger.child({ component: 'affinity' }));
    this.#adopted = metrics.adopted;
    this.#runtime = buildRuntime(settings, pool, this.#repins, metrics.placements, metrics.adopted);
    this.#clients = new UpstreamClients(settings.upstream);
    const runtime = () => this.#runtime;
    this.#tracing = new Tracing(this.#logger);
    const tracing = this.#tracing;
    const answers = new Answers(
      { metrics, tracing, logger: this.#logger },
      () => this.#runtime.settings.http.accessLog,
    );
    const taskLookups = new TaskLookupBudget();
    const lifecycle = this.#lifecycle;
    const ctx = {
      pool,
      clients: this.#clients,
      metrics,
      logger: this.#logger,
      tracing,
      taskLookups,
      lifecycle,
      tasks,
      clock: systemClock,
    };
    const forwarder = new HttpForwarder(ctx, answers, runtime);
    this.#websockets = new WebSocketProxy({ ...ctx, table: pool, answers }, runtime);
    this.#proxy = createProxyServer(settings, {
      forwarder,
      websockets: this.#websockets,
      metrics,
      logger: this.#logger,
      settings: () => this.#runtime.settings,
      lifecycle,
    });
    this.#redirect =
      settings.listen.redirectPort > 0 ? createRedirectServer(settings.listen.host, this.#proxy) : undefined;
    pool.on('transition', this.#onTransition);
    pool.on('membership', this.#onMembership);
  }

  /** Starts the listeners. */
  async listen(): Promise<DataPlaneUrls> {
    const { listen: where, tls, tracing } = this.#runtime.settings;
    await this.#tracing.configure(tracing);
    await listen(this.#proxy, where.port, where.host);
    if (this.#redirect) await listen(this.#redirect, where.redirectPort, where.host);
    return {
      proxyUrl: urlOf(this.#proxy, tls !== undefined),
      redirectUrl: this.#redirect ? urlOf(this.#redirect, false) : undefined,
    };
  }

  /** The settings in use. */
  get settings(): DataSettings {
    return this.#runtime.settings;
  }

  /**
   * A reload, in one direction: the node table follows the new membership (a removed node's
   * sockets are cut and its connection pool closes once its requests end), then the new runtime
   * (this data plane's generation: settings, router, trusted proxies) is built whole and swapped in
   * with one assignment; requests in flight finish on the one they started with. The upstream
   * connection pools, the listeners' timeouts and certificate, and the trace exporter take the
   * new settings after it.
   */
  apply(next: DataSettings): void {
    const previous = this.#runtime.settings;
    this.#pool.follow(next);
    this.#runtime = buildRuntime(next, this.#pool, this.#repins, this.#placements, this.#adopted);
    // A node keeps its connection pool unless its own TLS options changed (not when the list is
    // merely reordered).
    const tlsBefore = new Map(previous.nodes.map((n) => [n.name, JSON.stringify(n.tls)]));
    const tlsChanged = new Set(
      next.nodes.filter((n) => tlsBefore.get(n.name) !== JSON.stringify(n.tls)).map((n) => n.name),
    );
    this.#clients.reconfigure(next.upstream, tlsChanged);
    const certChanged = next.tls?.cert !== previous.tls?.cert || next.tls?.key !== previous.tls?.key;
    applyServerSettings(this.#proxy, certChanged ? next : { ...next, tls: undefined });
    void this.#tracing.configure(next.tracing);
  }

  /**
   * Graceful stop, in two phases (lifecycle.ts). First, for `shutdownDelay`, everything keeps
   * serving while every response says `Connection: close` and HTTP/2 sessions get GOAWAY (the
   * admin server already says unready). Then the listeners stop accepting; open connections are not cut: for a short window
   * (and as long as requests are in flight, up to `shutdownTimeoutMs`) every response says
   * `Connection: close`, so a busy keep-alive client learns to stop reusing its connection instead
   * of having it closed under a request it is sending. Tunnels and pending handshakes are cut at
   * once (clients reconnect through another replica); what is left is closed at the end.
   */
  async close(): Promise<void> {
    const proxy = this.#proxy;
    // HTTP/2 sessions get a GOAWAY: their streams finish, no new one starts (new sessions get
    // theirs after their first stream, http2-server.ts).
    const leaving = this.#lifecycle.leave(this.#runtime.settings.shutdownDelayMs);
    (proxy as Server & { closeSessions?: () => void }).closeSessions?.();
    if (this.#runtime.settings.shutdownDelayMs > 0) {
      this.#logger.info(
        { ms: this.#runtime.settings.shutdownDelayMs },
        'shutdownDelay: still serving, unready, with Connection: close',
      );
    }
    await leaving;
    // net.Server's close: http.Server's would also close idle keep-alive connections right now.
    netClose.call(proxy);
    this.#redirect?.close();
    this.#redirect?.closeAllConnections();
    this.#websockets.cutAll();
    const { shutdownTimeoutMs } = this.#runtime.settings;
    const drained = await drain(proxy, this.#pool, shutdownTimeoutMs);
    if (!drained) this.#logger.warn({}, 'shutdown timeout reached with requests in flight; closing them');
    proxy.closeAllConnections();
    proxy.close();
    this.#repins.flush();
    this.#pool.off('transition', this.#onTransition);
    this.#pool.off('membership', this.#onMembership);
    await this.#clients.destroy();
    await this.#tracing.close();
  }

  /** Ends the shutdownDelay under way now (a second signal); false when none is. */
  skipDelay(): boolean {
    return this.#lifecycle.skip();
  }

  readonly #onTransition = (t: Transition): void => {
    if (isLost(t)) this.#cut(t.node, 'lost');
  };

  readonly #onMembership = (removed: readonly UpstreamNode[]): void => {
    for (const node of removed) this.#cut(node, 'removed');
  };

  /** The lost-node policy: sockets and streams cut without a clean close, so clients reconnect (rule 4). */
  #cut(node: UpstreamNode, why: 'lost' | 'removed'): void {
    const sockets = this.#websockets.cutNode(node);
    if (why === 'lost') this.#clients.reset(node);
    else this.#clients.retire(node);
    if (sockets > 0)
      this.#logger.info({ upstream: node.name, websocketsDropped: sockets }, 'node sockets cut');
  }
}

/** How long open connections get, at least, to receive a `Connection: close` before they are closed. */
const DRAIN_WINDOW_MS = 250;
const netClose = NetServer.prototype.close;

/**
 * Waits until no request is in flight and either no connection is left or the drain window passed;
 * false when `timeoutMs` ran out with requests in flight.
 */
async function drain(server: Server, pool: NodeTable, timeoutMs: number): Promise<boolean> {
  const started = Date.now();
  const window = Math.min(DRAIN_WINDOW_MS, timeoutMs);
  for (;;) {
    const busy = pool.nodes.some((n) => n.inFlight > 0);
    const elapsed = Date.now() - started;
    if (busy && elapsed >= timeoutMs) return false;
    if (!busy && (elapsed >= window || (await connections(server)) === 0)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function connections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((_err, n) => resolve(n ?? 0)));
}
