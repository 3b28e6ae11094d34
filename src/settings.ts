/**
 * Derived runtime settings: the config turned into the option objects each component takes. Kept in
 * one place so start-up and reload build them the same way.
 */

import { derivedSecret } from './affinity/token.js';
import { type Config, trustedProxyList } from './config/schema.js';
import type { TlsMaterial } from './config/tls-files.js';
import type { CheckerOptions } from './health/health-checker.js';
import type { PoolOptions } from './pool/pool.js';
import type { ForwarderSettings } from './proxy/http-forwarder.js';
import type { UpstreamClientOptions } from './proxy/upstream-clients.js';
import type { WebSocketSettings } from './proxy/websocket-proxy.js';

/** Options for the pool (cookie attributes, secret, passive threshold, upstream TLS). */
export function poolOptions(config: Config, tls?: TlsMaterial): PoolOptions {
  const a = config.affinity;
  return {
    ...(tls ? { upstreamTls: tls.upstreams } : {}),
    secret: a.secret ?? derivedSecret(config.upstreams),
    cookie: { name: a.cookie, sameSite: a.sameSite, secure: a.secure, maxAgeMs: a.maxAge },
    passiveFailures: config.healthCheck.passiveFailures,
    requireSameVersion: config.connect.requireSameVersion,
  };
}

/** Options for the health checker. */
export function checkerOptions(config: Config): CheckerOptions {
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

/** Options for the upstream connection pools. */
export function clientOptions(config: Config): UpstreamClientOptions {
  return {
    connections: config.limits.upstreamConnections,
    connectTimeoutMs: config.timeouts.connect,
    headersTimeoutMs: config.timeouts.response,
    bodyTimeoutMs: config.timeouts.upstreamIdle,
  };
}

/** What HTTP forwarding and WebSocket upgrades share: affinity cookie, trusted peers, failover. */
function routingSettings(config: Config) {
  return {
    cookieName: config.affinity.cookie,
    trusted: trustedProxyList(config.trustedProxies),
    redispatchAttempts: config.failover.redispatchAttempts,
    retryAfterSeconds: Math.max(1, Math.round(config.failover.retryAfter / 1000)),
  };
}

/** Per-request settings of the HTTP forwarder. */
export function forwarderSettings(config: Config): ForwarderSettings {
  return {
    ...routingSettings(config),
    maxBodySize: config.limits.maxBodySize,
    upstreamConnections: config.limits.upstreamConnections,
    queueTimeoutMs: config.timeouts.queue,
    accessLog: config.logging.access,
  };
}

/** Per-upgrade settings of the WebSocket proxy. */
export function webSocketSettings(config: Config): WebSocketSettings {
  return {
    ...routingSettings(config),
    connectTimeoutMs: config.timeouts.connect,
    handshakeTimeoutMs: config.timeouts.response || 2 ** 31 - 1,
    idleTimeoutMs: config.timeouts.websocketIdle,
  };
}
