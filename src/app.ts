/**
 * The composition root: builds the pool, health checker, proxy server and admin server from a
 * Config, wires the pool's transitions to logs and socket drops, and offers reload and shutdown.
 * Nothing here exits the process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAdminServer } from './admin/admin-server.js';
import { RepinRecorder } from './affinity/repin-recorder.js';
import { type ReloadOutcome, reloadConfig } from './config/reload.js';
import type { Config } from './config/schema.js';
import { loadTlsMaterial, type TlsMaterial } from './config/tls-files.js';
import { HealthChecker } from './health/health-checker.js';
import type { Logger } from './logger.js';
import { Metrics } from './metrics/metrics.js';
import { DnsDiscovery, type Resolver, systemResolver } from './pool/dns-discovery.js';
import { Pool, type Transition } from './pool/pool.js';
import { answerClientError } from './proxy/client-errors.js';
import { HttpForwarder } from './proxy/http-forwarder.js';
import { acceptProxyProtocol } from './proxy/proxy-protocol.js';
import { Router } from './proxy/router.js';
import { UpstreamClients } from './proxy/upstream-clients.js';
import { WebSocketProxy } from './proxy/websocket-proxy.js';
import {
  checkerOptions,
  clientOptions,
  forwarderSettings,
  poolOptions,
  webSocketSettings,
} from './settings.js';

/** A running balancer. */
export interface RunningApp {
  readonly pool: Pool;
  readonly checker: HealthChecker;
  readonly metrics: Metrics;
  /** `http(s)://host:port` of the proxy listener. */
  readonly proxyUrl: string;
  /** `http://host:port` of the HTTP-to-HTTPS redirect listener, when configured. */
  readonly redirectUrl: string | undefined;
  /** `http://host:port` of the admin listener ('' when it is not served here). */
  readonly adminUrl: string;
  readonly config: () => Config;
  /**
   * Applies a new configuration (validated already; its files are read here and may throw a
   * ConfigError, leaving everything unchanged). Listener addresses are not changed.
   */
  apply(next: Config): void;
  /** Re-reads the configuration file and applies it; invalid input keeps the running config. */
  reload(): Promise<ReloadOutcome>;
  /** Graceful shutdown: readiness fails, listeners close, in-flight requests finish (bounded). */
  close(): Promise<void>;
}

/** Options for `startApp`. */
export interface StartOptions {
  /** Re-reads the configuration for `POST /api/reload` and SIGHUP. */
  readonly loadConfig?: () => Promise<Config>;
  /** Do not start the probe timers (tests drive `checker.checkOnce()`; cluster workers get health from the primary). */
  readonly manualHealth?: boolean;
  /** Serve the admin listener (default true; cluster workers leave it to the primary). */
  readonly admin?: boolean;
  /** Resolver for `dns` upstreams (tests inject one; default the system resolver). */
  readonly resolver?: Resolver;
}

/** Builds and starts everything for `config`. */
export async function startApp(
  initial: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningApp> {
  // `config` is the resolved configuration (every upstream has a url); `dns` entries live in discovery.
  const discovery = new DnsDiscovery(
    initial,
    options.resolver ?? systemResolver,
    logger.child({ component: 'dns' }),
  );
  let config = await discovery.init();
  let tls = loadTlsMaterial(config);
  let shuttingDown = false;
  const log = logger.child({ component: 'balancer' });

  const pool = new Pool(config.upstreams, poolOptions(config, tls));
  const metrics = new Metrics();
  metrics.attach(pool);
  const repins = new RepinRecorder(metrics.repins, logger.child({ component: 'affinity' }));
  const router = new Router(pool, repins, config.failover.whenAllDown);
  const clients = new UpstreamClients(clientOptions(config));
  const proxyLogger = logger.child({ component: 'proxy' });
  const forwarder = new HttpForwarder({
    pool,
    router,
    clients,
    metrics,
    logger: proxyLogger,
    settings: forwarderSettings(config),
  });
  const websockets = new WebSocketProxy({
    pool,
    router,
    metrics,
    logger: proxyLogger,
    settings: webSocketSettings(config),
  });
  const checker = new HealthChecker(
    pool,
    checkerOptions(config),
    logger.child({ component: 'health' }),
    metrics,
  );

  pool.on('transition', (t: Transition) => onTransition(t));
  function onTransition(t: Transition): void {
    const lost = (t.kind === 'health' && t.to === 'down') || (t.kind === 'state' && t.to === 'maintenance');
    const fields = { upstream: t.node.name, from: t.from, to: t.to, cause: t.cause };
    // In a cluster worker, transitions relayed by the primary were already logged there.
    const level = t.cause === 'primary' ? 'debug' : lost ? 'warn' : 'info';
    if (lost) {
      // Cut the node's sockets and streams without a clean close, so clients reconnect (rule 4).
      const sockets = websockets.dropNode(t.node);
      clients.reset(t.node);
      log[level](
        { ...fields, websocketsDropped: sockets },
        t.kind === 'health' ? 'node down' : 'node in maintenance',
      );
    } else {
      log[level](fields, t.kind === 'health' && t.to === 'up' ? 'node up' : 'node state changed');
    }
  }

  const proxy = createProxyServer(config, tls, forwarder, websockets);
  proxy.on('clientError', (err: Error, socket: Duplex) => {
    const reason = answerClientError(err, socket);
    metrics.clientErrors.inc({ reason });
    proxyLogger.debug({ err, reason }, 'client connection refused by the HTTP parser');
  });
  if (config.listen.proxyProtocol) {
    acceptProxyProtocol(
      proxy,
      () => config.timeouts.clientHeaders,
      (err, socket) => {
        metrics.proxyProtocolErrors.inc();
        proxyLogger.debug({ err, peer: socket.remoteAddress }, 'connection without a valid PROXY header');
      },
    );
  }
  const redirect =
    config.listen.redirectPort > 0
      ? createServer(
          redirectToHttps(
            () => config,
            () => proxy,
          ),
        )
      : undefined;
  const admin = createAdminServer({
    pool,
    metrics,
    logger: logger.child({ component: 'admin' }),
    isShuttingDown: () => shuttingDown,
    token: () => config.admin.token,
    reload,
  });

  await listen(proxy, config.listen.port, config.listen.host);
  if (redirect) await listen(redirect, config.listen.redirectPort, config.listen.host);
  const withAdmin = options.admin !== false;
  if (withAdmin) await listen(admin, config.admin.port, config.admin.host);
  if (!options.manualHealth) checker.start();
  discovery.watch(
    (name) => {
      const node = pool.get(name);
      return node === undefined || (node.inFlight === 0 && node.websockets === 0);
    },
    (resolved) => {
      try {
        applyResolved(resolved);
      } catch (err) {
        log.error({ err }, 'could not apply the upstreams found in DNS');
      }
    },
  );

  const proxyUrl = urlOf(proxy, tls.server !== undefined);
  const adminUrl = withAdmin ? urlOf(admin, false) : '';

  function apply(next: Config): void {
    loadTlsMaterial(next); // throws on unreadable files before anything changes
    applyResolved(discovery.replace(next));
  }

  function applyResolved(next: Config): void {
    const nextTls = loadTlsMaterial(next);
    const tlsChanged = JSON.stringify([...nextTls.upstreams]) !== JSON.stringify([...tls.upstreams]);
    if (nextTls.server && 'setSecureContext' in proxy) {
      (proxy as import('node:https').Server).setSecureContext(nextTls.server);
    } else if ((nextTls.server === undefined) !== (tls.server === undefined)) {
      log.warn(
        {},
        'switching the listener between HTTP and HTTPS needs a restart; keeping the current listener',
      );
    }
    tls = nextTls;
    const removed = pool.reconcile(next.upstreams, poolOptions(next, nextTls));
    for (const node of removed) {
      websockets.dropNode(node);
      clients.retire(node);
    }
    metrics.attach(pool);
    router.whenAllDown = next.failover.whenAllDown;
    forwarder.deps.settings = forwarderSettings(next);
    websockets.deps.settings = webSocketSettings(next);
    clients.reconfigure(clientOptions(next), tlsChanged);
    checker.reconfigure(checkerOptions(next));
    applyServerTimeouts(proxy, next);
    if (
      next.listen.port !== config.listen.port ||
      next.listen.host !== config.listen.host ||
      next.listen.proxyProtocol !== config.listen.proxyProtocol
    ) {
      log.warn({}, 'listen address and PROXY protocol changes need a restart; keeping the current listener');
    }
    config = next;
  }

  function reload(): Promise<ReloadOutcome> {
    return reloadConfig(options.loadConfig, apply, metrics.configReloads, log);
  }

  async function close(): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info({ timeoutMs: config.shutdownTimeout }, 'shutting down');
    proxy.close();
    proxy.closeIdleConnections();
    redirect?.close();
    redirect?.closeAllConnections();
    // Upgraded sockets are cut without a close frame: clients reconnect through another replica.
    websockets.dropAll();
    const drained = await waitForIdle(pool, config.shutdownTimeout);
    if (!drained) log.warn({}, 'shutdown timeout reached with requests in flight; closing them');
    proxy.closeAllConnections();
    repins.flush();
    discovery.stop();
    await checker.stop();
    await clients.destroy();
    if (withAdmin) {
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
  }

  return {
    pool,
    checker,
    metrics,
    proxyUrl,
    redirectUrl: redirect ? urlOf(redirect, false) : undefined,
    adminUrl,
    config: () => config,
    apply,
    reload,
    close,
  };
}

function createProxyServer(
  config: Config,
  tls: TlsMaterial,
  forwarder: HttpForwarder,
  websockets: WebSocketProxy,
): Server {
  const options = {
    maxHeaderSize: config.limits.maxHeaderSize,
    noDelay: true,
    // Long uploads (bundles) and long polls must not be cut by a whole-request timeout.
    requestTimeout: 0,
    // node:http enforces headersTimeout only when it sweeps connections (every 30 s by default),
    // which would let a slowloris client hold a socket far longer than timeouts.clientHeaders.
    connectionsCheckingInterval: Math.max(250, Math.min(1000, Math.floor(config.timeouts.clientHeaders / 2))),
  };
  const server: Server = tls.server
    ? createTlsServer({ ...options, ...tls.server }, forwarder.handle)
    : createServer(options, forwarder.handle);
  server.on('upgrade', websockets.handle);
  // node:http's own connection listener, taken before acceptProxyProtocol wraps `connection`.
  const [httpConnection] = server.listeners(tls.server ? 'secureConnection' : 'connection') as Array<
    (this: Server, socket: Duplex) => void
  >;
  if (httpConnection !== undefined) {
    websockets.serveOtherUpgradesWith((socket) => httpConnection.call(server, socket));
  }
  server.on('connect', forwarder.refuseConnect);
  applyServerTimeouts(server, config);
  return server;
}

function applyServerTimeouts(server: Server, config: Config): void {
  server.keepAliveTimeout = config.timeouts.clientIdle;
  server.headersTimeout = config.timeouts.clientHeaders;
  server.maxConnections =
    config.limits.maxConnections > 0 ? config.limits.maxConnections : Number.POSITIVE_INFINITY;
}

/** The `request` listener of the redirect port: 308 to the same host and path over HTTPS. */
function redirectToHttps(config: () => Config, proxy: () => Server) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const raw = req.headers.host ?? '';
    const host = /^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:.]+\]$/.test(raw.replace(/:\d+$/, ''))
      ? raw.replace(/:\d+$/, '')
      : config().listen.host;
    const port = (proxy().address() as AddressInfo | null)?.port ?? config().listen.port;
    const path = req.url?.startsWith('/') ? req.url : '/';
    res.writeHead(308, {
      location: `https://${host}${port === 443 ? '' : `:${port}`}${path}`,
      'content-length': 0,
    });
    res.end();
  };
}

async function waitForIdle(pool: Pool, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pool.nodes.some((n) => n.inFlight > 0)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlOf(server: Server, secure: boolean): string {
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `${secure ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${addr.port}`;
}
