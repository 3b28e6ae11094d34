/**
 * The contract between the planes: everything the data plane reads, as immutable, serialisable
 * settings. The control plane builds them once per change (config/build-settings.ts) and hands them
 * to the data plane in the same process, or sends them to each worker as one IPC message
 * (contract/messages.ts); the data plane swaps them whole.
 */
import type { AdoptRule } from '../affinity/adopt.js';
import type { HashWords } from '../affinity/rendezvous.js';
import type { ContentCookieParts } from '../affinity/set-cookie.js';
import type { Config, OperatorState } from '../config/schema.js';
import type { ServerTls, UpstreamTls } from '../config/tls-files.js';

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
  /** Connections per node (0: no cap); above it requests queue in the node's pool. */
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
    /** Rule 13: when a content failing on a node leaves its order (`placement.contentEjection`). */
    readonly ejection: { readonly failures: number; readonly baseMs: number; readonly maxMs: number };
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
    /** The outgoing balancer's affinity cookies read during a cutover (rule 14). */
    readonly adopt: readonly AdoptRule[];
  };
  readonly http: {
    /** 0: no limit. */
    readonly maxBodySize: number;
    /** With `upstream.connections` set: longest wait for a connection before a 503 (0: no limit). */
    readonly queueTimeoutMs: number;
    /** Longest silence inside a request body before a 408 (0: none). */
    readonly clientBodyTimeoutMs: number;
    /** Longest time a response may wait for the client to take any of it (0: none). */
    readonly clientSendTimeoutMs: number;
    readonly accessLog: boolean;
  };
  readonly websocket: {
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
  /**
   * Sent with every export (a hosted collector's credentials). The one secret that reaches the
   * workers: they export the spans.
   */
  readonly headers: Readonly<Record<string, string>>;
  readonly sampleRatio: number;
  readonly serviceName: string;
}
