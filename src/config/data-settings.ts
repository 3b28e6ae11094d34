/**
 * What the data plane is told: the configuration (with `dns` entries resolved and its files read)
 * turned into immutable, serialisable settings. Built once per change by the control plane, handed
 * to the data plane in the same process or sent to each worker as one IPC message; the data plane
 * swaps them whole. Secrets stay behind: nodes carry their finished cookie lines, not the key.
 */
import { type HashWords, rendezvousSeed } from '../affinity/rendezvous.js';
import { type ContentCookieParts, contentCookieParts, setCookieLines } from '../affinity/set-cookie.js';
import { affinityToken, derivedSecret } from '../affinity/token.js';
import type { Config, OperatorState } from './schema.js';
import { type ServerTls, type TlsMaterial, type UpstreamTls, upstreamTls } from './tls-files.js';

/** Per-node Set-Cookie lines, precomputed so the request path only picks one. */
export interface NodeCookie {
  readonly token: string;
  readonly plain: string;
  readonly tls: string;
  /** The content pin's Set-Cookie around its path (rule 11): `before + path + after`. */
  readonly content: ContentCookieParts;
}

/** What the control plane decides about a node's identity: the pool is reconciled to a list of these. */
export interface NodeSpec {
  readonly name: string;
  readonly url: string;
  readonly weight: number;
  /** Operator state written in the configuration. */
  readonly state: OperatorState;
  readonly cookie: NodeCookie;
  /** Rendezvous seed (an HMAC of the name under the affinity key) for clients without cookies. */
  readonly seed: HashWords;
  /** TLS options for an https:// node (CA, verification); undefined for defaults. */
  readonly tls?: UpstreamTls | undefined;
}

/** Connection settings shared by every node's keep-alive pool. */
export interface UpstreamClientOptions {
  /** Connections per node; 0 for no cap. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** Time to wait for response headers (0: none). */
  readonly headersTimeoutMs: number;
  /** Max silence within a response body (0: none). */
  readonly bodyTimeoutMs: number;
}

/** Everything the data plane reads; one object per configuration change. */
export interface DataSettings {
  /** The nodes (every node table follows these: NodeTable.follow). */
  readonly nodes: readonly NodeSpec[];
  readonly pool: {
    readonly passiveFailures: number;
    readonly requireSameVersion: boolean;
    readonly slowStartMs: number;
  };
  /** Fixed at start: a change is logged as needing a restart. */
  readonly listen: {
    readonly host: string;
    readonly port: number;
    readonly redirectPort: number;
    readonly proxyProtocol: boolean;
    /** With TLS: HTTP/2 by ALPN beside HTTP/1.1. */
    readonly http2: boolean;
  };
  /** Certificate and key of the TLS listener (rotated on reload), undefined for plain HTTP. */
  readonly tls: ServerTls | undefined;
  readonly server: {
    readonly maxHeaderSize: number;
    readonly clientIdleMs: number;
    readonly clientHeadersMs: number;
    /** 0: no limit. */
    readonly maxConnections: number;
  };
  readonly routing: {
    readonly cookieName: string;
    readonly trustedProxies: readonly string[];
    readonly redispatchAttempts: number;
    readonly retryAfterSeconds: number;
    readonly whenAllDown: 'fail' | 'tryPinned';
    /** Credential headers (lower case) that pin a client without a cookie (rule 8). */
    readonly hashHeaders: readonly string[];
    /** Deploy task polls that a node answers 404 are asked of the other nodes (rule 9). */
    readonly taskLookup: boolean;
    /** `content`: rules 10-11 (placement by content, pins per content); `leastLoad`: rule 1 only. */
    readonly placement: 'content' | 'leastLoad';
    readonly balanceFactor: number;
    /** The content pin's cookie name (the affinity cookie's, with `_content`). */
    readonly contentCookieName: string;
  };
  readonly http: {
    /** 0: no limit. */
    readonly maxBodySize: number;
    /** Connections per node (0: no cap); above it requests queue in the node's pool. */
    readonly upstreamConnections: number;
    /** Longest wait in that queue before a 503 (0: no limit). */
    readonly queueTimeoutMs: number;
    /** Longest silence inside a request body before a 408 (0: none). */
    readonly clientBodyTimeoutMs: number;
    /** Longest time a response may wait for the client to take any of it (0: none). */
    readonly clientSendTimeoutMs: number;
    readonly accessLog: boolean;
  };
  readonly websocket: {
    readonly connectTimeoutMs: number;
    /** Time the node has to answer a handshake once connected. */
    readonly handshakeTimeoutMs: number;
    /** Idle timeout of an open tunnel; 0 for none. */
    readonly idleTimeoutMs: number;
  };
  readonly upstream: UpstreamClientOptions;
  /** OTLP span export, undefined when off. */
  readonly tracing: TracingSettings | undefined;
  readonly shutdownTimeoutMs: number;
  /** How long a stopping replica keeps serving, unready, before it stops accepting (0: none). */
  readonly shutdownDelayMs: number;
  /** pino level of the processes that run the data plane alone (cluster workers). */
  readonly logLevel: Config['logging']['level'];
}

/** Where and how spans are exported. */
export interface TracingSettings {
  readonly endpoint: string;
  readonly sampleRatio: number;
  readonly serviceName: string;
}

/** The data-plane settings for `config` (every upstream resolved to a url) and its files. */
export function dataSettings(config: Config, tls: TlsMaterial): DataSettings {
  const { timeouts, limits } = config;
  return {
    nodes: nodeSpecs(config, tls),
    pool: {
      passiveFailures: config.healthCheck.passiveFailures,
      requireSameVersion: config.connect.requireSameVersion,
      slowStartMs: config.healthCheck.slowStart,
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
    },
    http: {
      maxBodySize: limits.maxBodySize,
      upstreamConnections: limits.upstreamConnections,
      queueTimeoutMs: timeouts.queue,
      clientBodyTimeoutMs: timeouts.clientBody,
      clientSendTimeoutMs: timeouts.clientSend,
      accessLog: config.logging.access,
    },
    websocket: {
      connectTimeoutMs: timeouts.connect,
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
