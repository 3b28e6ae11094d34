/**
 * The data plane's servers: the proxy listener (HTTP/1.1 or HTTPS, with its request, upgrade,
 * CONNECT, parser-error and PROXY-protocol handling) and the HTTP-to-HTTPS redirect listener.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { DataSettings } from '../contract/data-settings.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { answerClientError, CLIENT_ERROR_REASONS } from './client-errors.js';
import type { HttpForwarder } from './http/http-forwarder.js';
import { createHttp2Server } from './http2-server.js';
import type { Lifecycle } from './lifecycle.js';
import { acceptProxyProtocol } from './proxy-protocol.js';
import { releaseOnClose } from './release.js';
import { writeReplyHead } from './reply.js';
import type { WebSocketProxy } from './websocket/websocket-proxy.js';

/** What the proxy listener is built from. */
export interface ProxyServerParts {
  readonly forwarder: HttpForwarder;
  readonly websockets: WebSocketProxy;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Current settings (the PROXY header deadline follows reloads). */
  readonly settings: () => DataSettings;
  readonly lifecycle: Lifecycle;
}

/** Creates (does not start) the proxy server for `settings`. */
export function createProxyServer(settings: DataSettings, parts: ProxyServerParts): Server {
  const options = {
    maxHeaderSize: settings.server.maxHeaderSize,
    noDelay: true,
    // Long uploads (bundles) and long polls must not be cut by a whole-request timeout.
    requestTimeout: 0,
    // node:http enforces headersTimeout only when it sweeps connections (every 30 s by default),
    // which would let a slowloris client hold a socket far longer than timeouts.clientHeaders.
    connectionsCheckingInterval: Math.max(
      250,
      Math.min(1000, Math.floor(settings.server.clientHeadersMs / 2)),
    ),
  };
  const { forwarder, websockets, metrics, logger } = parts;
  const server: Server = settings.tls
    ? settings.listen.http2
      ? createHttp2Server(settings, {
          handle: forwarder.handle,
          handleStream: forwarder.handleStream,
          handleConnectStream: websockets.handleStream,
          metrics,
          logger,
          lifecycle: parts.lifecycle,
        })
      : createTlsServer({ ...options, ...settings.tls }, forwarder.handle)
    : createServer(options, forwarder.handle);
  server.on('upgrade', websockets.handle);
  // node:http's own connection listener, taken before acceptProxyProtocol wraps `connection`.
  const [httpConnection] = server.listeners(settings.tls ? 'secureConnection' : 'connection') as Array<
    (this: Server, socket: Duplex) => void
  >;
  if (httpConnection !== undefined) {
    websockets.serveOtherUpgradesWith((socket) => httpConnection.call(server, socket));
  }
  // A closed connection keeps nothing of its requests reachable (release.ts).
  server.on(settings.tls ? 'secureConnection' : 'connection', releaseOnClose);
  server.on('connect', forwarder.refuseConnect);
  server.on('checkContinue', forwarder.handleExpectContinue);
  for (const reason of CLIENT_ERROR_REASONS) metrics.clientErrors.inc({ reason }, 0);
  server.on('clientError', (err: Error, socket: Duplex) => {
    const reason = answerClientError(err, socket);
    metrics.clientErrors.inc({ reason });
    logger.debug({ err, reason }, 'client connection refused by the HTTP parser');
  });
  if (settings.listen.proxyProtocol) {
    acceptProxyProtocol(
      server,
      () => parts.settings().server.clientHeadersMs,
      (err, socket) => {
        metrics.proxyProtocolErrors.inc();
        logger.debug({ err, peer: socket.remoteAddress }, 'connection without a valid PROXY header');
      },
    );
  }
  applyServerSettings(server, settings);
  return server;
}

/** Applies the reloadable parts of `settings` to a running proxy server (timeouts, limits, certificate). */
export function applyServerSettings(server: Server, settings: DataSettings): void {
  server.keepAliveTimeout = settings.server.clientIdleMs;
  server.headersTimeout = settings.server.clientHeadersMs;
  server.maxConnections =
    settings.server.maxConnections > 0 ? settings.server.maxConnections : Number.POSITIVE_INFINITY;
  if (settings.tls && 'setSecureContext' in server) (server as HttpsServer).setSecureContext(settings.tls);
}

/** The redirect listener: 308 to the same host and path over HTTPS on the proxy's port. */
export function createRedirectServer(fallbackHost: string, proxy: Server): Server {
  return createServer((req: IncomingMessage, res: ServerResponse): void => {
    const raw = req.headers.host ?? '';
    const bare = raw.replace(/:\d+$/, '');
    const host = /^[A-Za-z0-9.-]+$|^\[[0-9a-fA-F:.]+\]$/.test(bare) ? bare : fallbackHost;
    const port = (proxy.address() as AddressInfo | null)?.port ?? 443;
    const path = req.url?.startsWith('/') ? req.url : '/';
    const location = `https://${host}${port === 443 ? '' : `:${port}`}${path}`;
    writeReplyHead(req, res, 308, ['Location', location, 'Content-Length', '0'], false);
    res.end();
  });
}
