/**
 * The control plane's side of the data plane's settings (contract/data-settings.ts): the
 * configuration, with `dns` entries resolved and its files read, built once per change into the
 * immutable settings the data plane swaps whole. Secrets stay behind: nodes carry their finished
 * cookie lines, not the key.
 */

import type { AdoptKind } from '../affinity/adopt.js';
import { rendezvousSeed } from '../affinity/rendezvous.js';
import { contentCookieParts, setCookieLines } from '../affinity/set-cookie.js';
import { affinityToken, derivedSecret } from '../affinity/token.js';
import type { Config } from '../config/schema.js';
import { type TlsMaterial, upstreamTls } from '../config/tls-files.js';
import type { DataSettings, NodeSpec } from '../contract/data-settings.js';

/** The data-plane settings for `config` (every upstream resolved to a url) and its files. */
export function dataSettings(config: Config, tls: TlsMaterial): DataSettings {
  const { timeouts, limits } = config;
  return {
    nodes: nodeSpecs(config, tls),
    pool: {
      passiveFailures: config.healthCheck.passiveFailures,
      requireSameVersion: config.connect.requireSameVersion,
      slowStartMs: config.healthCheck.slowStart,
      ejection: {
        failures: config.placement.contentEjection.failures,
        baseMs: config.placement.contentEjection.baseTime,
        maxMs: Math.max(config.placement.contentEjection.maxTime, config.placement.contentEjection.baseTime),
      },
    },
    listen: {
      host: config.listen.host,
      port: config.listen.port,
      redirectPort: config.listen.redirectPort,
      proxyProtocol: config.listen.proxyProtocol,
      http2: config.listen.http2,
    },
    tls: tls.server,
    server: {
      maxHeaderSize: limits.maxHeaderSize,
      clientIdleMs: timeouts.clientIdle,
      clientHeadersMs: timeouts.clientHeaders,
      maxConnections: limits.maxConnections,
    },
    routing: {
      cookieName: config.affinity.cookie,
      trustedProxies: config.trustedProxies,
      redispatchAttempts: config.failover.redispatchAttempts,
      retryAfterSeconds: Math.max(1, Math.round(config.failover.retryAfter / 1000)),
      whenAllDown: config.failover.whenAllDown,
      hashHeaders: config.affinity.hashHeaders.map((h) => h.toLowerCase()),
      taskLookup: config.connect.taskLookup,
      placement: config.placement.strategy,
      balanceFactor: config.placement.balanceFactor,
      contentCookieName: contentCookieName(config.affinity.cookie),
      adopt: config.affinity.adopt.map((r) => ({
        cookie: r.cookie,
        kind: r.kind as AdoptKind,
        values: r.values,
        backend: r.backend,
      })),
    },
    http: {
      maxBodySize: limits.maxBodySize,
      queueTimeoutMs: timeouts.queue,
      clientBodyTimeoutMs: timeouts.clientBody,
      clientSendTimeoutMs: timeouts.clientSend,
      accessLog: config.logging.access,
    },
    websocket: {
      handshakeTimeoutMs: timeouts.websocketHandshake,
      idleTimeoutMs: timeouts.websocketIdle,
    },
    upstream: {
      connections: limits.upstreamConnections,
      connectTimeoutMs: timeouts.connect,
      headersTimeoutMs: timeouts.response,
      bodyTimeoutMs: timeouts.upstreamIdle,
    },
    tracing:
      config.tracing.otlp === undefined
        ? undefined
        : {
            endpoint: config.tracing.otlp.endpoint,
            headers: config.tracing.otlp.headers ?? {},
            sampleRatio: config.tracing.sampleRatio,
            serviceName: config.tracing.serviceName,
          },
    shutdownTimeoutMs: config.shutdownTimeout,
    shutdownDelayMs: config.shutdownDelay,
    logLevel: config.logging.level,
  };
}

/**
 * The nodes of `config` with their cookies. A node's token depends on its name and the secret only
 * (without `affinity.secret`, on its own name and address), never on the other nodes: adding,
 * removing or re-addressing one node moves no other node's clients.
 */
export function nodeSpecs(config: Config, tls: TlsMaterial): NodeSpec[] {
  const a = config.affinity;
  const attrs = {
    name: a.cookie,
    contentName: contentCookieName(a.cookie),
    sameSite: a.sameSite,
    secure: a.secure,
    maxAgeMs: a.maxAge,
  };
  const specs: NodeSpec[] = [];
  for (const u of config.upstreams) {
    // `dns` entries reach the pool only through their resolved addresses (dns-discovery.ts).
    if (u.url === undefined) continue;
    const key = a.secret ?? derivedSecret([{ name: u.name, url: u.url }]);
    const token = affinityToken(key, u.name);
    specs.push({
      name: u.name,
      url: u.url,
      weight: u.weight,
      state: u.state,
      cookie: { token, ...setCookieLines(token, attrs), content: contentCookieParts(token, attrs) },
      seed: rendezvousSeed(key, u.name),
      tls: upstreamTls(u, tls),
    });
  }
  return specs;
}

/** The content pin's cookie name for the affinity cookie `name` (rule 11). */
export function contentCookieName(name: string): string {
  return `${name}_content`;
}
