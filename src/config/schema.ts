/**
 * The configuration schema: types, defaults and rules in one place. Every default is a named value
 * beside its field; `config/stickylb.example.yaml` mirrors this file key by key.
 */
import { isIP } from 'node:net';
import { parse as parsePostgresUrl } from 'pg-connection-string';
import { z } from 'zod';
import { ADOPT_KINDS, type AdoptKind } from '../affinity/adopt.js';
import { parseDuration, parseSize } from './units.js';

/**
 * The longest a timer waits: node's timers hold a signed 32-bit count of milliseconds (about 24.8
 * days) and fire after 1 ms beyond it (issue 32.9).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration in the YAML (`500ms`, `2s`, `1m`, or `0` for disabled), parsed to milliseconds; at most
 * `max` (a timer's bound, unless the value is no timer: a cookie's Max-Age, an age compared with).
 */
const duration = (fallback: string, max = MAX_TIMER_MS) =>
  z
    .unknown()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (typeof ms === 'string') {
        ctx.addIssue({ code: 'custom', message: ms });
        return z.NEVER;
      }
      if (ms > max) {
        ctx.addIssue({
          code: 'custom',
          message: `"${String(value)}" is longer than a timer can wait; use at most 596h (about 24.8 days), or 0 to turn it off`,
        });
        return z.NEVER;
      }
      return ms;
    });

/** A byte size (`65536`, `64KiB`, `0` for no limit), parsed to bytes. */
const size = (fallback: string | number) =>
  z
    .unknown()
    .default(fallback)
    .transform((value, ctx) => {
      const bytes = parseSize(value);
      if (typeof bytes === 'string') {
        ctx.addIssue({ code: 'custom', message: bytes });
        return z.NEVER;
      }
      return bytes;
    });

/** Integers may arrive as strings through `${VAR}`; accept both. */
const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );

const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

const port = int(0, 65535);

/** Node names appear in metrics labels, admin URLs and logs: keep them short and plain. */
const nodeName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    'must be 1-63 characters of letters, digits, ".", "_" or "-", starting with a letter or digit',
  );

const upstreamUrl = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL; write e.g. http://10.0.0.5:3939` });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `must be http:// or https://, got ${url.protocol}` });
    return z.NEVER;
  }
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== '/' && url.pathname !== '')
  ) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an origin only (scheme, host, port), without path, query or credentials',
    });
    return z.NEVER;
  }
  return url.origin;
});

/** A token (RFC 9110 5.6.2): a header name, a cookie name. */
const HTTP_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Headers sent with every span export: a hosted collector's credentials (`Authorization`,
 * `x-honeycomb-team`...), best given as `${VAR}` so they stay out of the file. Names are HTTP tokens
 * and values printable; the exporter's own framing headers are its own.
 */
const EXPORTER_OWNED = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'host',
  'connection',
]);
const exportHeaders = z
  .record(
    z.string(),
    z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'must be a header value without control characters'),
  )
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (!HTTP_TOKEN.test(name))
        ctx.addIssue({ code: 'custom', path: [name], message: 'is not a header name' });
      else if (EXPORTER_OWNED.has(name.toLowerCase()))
        ctx.addIssue({ code: 'custom', path: [name], message: 'is set by the exporter itself' });
    }
  })
  .optional();

const operatorState = z.enum(['active', 'draining', 'maintenance']);

const upstream = z.strictObject({
  name: nodeName,
  /** The node's origin, e.g. http://10.0.0.5:3939 (or `dns` instead). */
  url: upstreamUrl.optional(),
  /**
   * `host:port` re-resolved every `resolveInterval` (e.g. a headless Service); each address becomes
   * a node named `<name>-<address>`, so its cookie token is stable while the address exists.
   */
  dns: z
    .string()
    .regex(
      /^[A-Za-z0-9.-]+:\d{1,5}$/,
      'must be host:port, e.g. connect-headless.posit.svc.cluster.local:3939',
    )
    .optional(),
  /** Scheme for nodes found through `dns` (default http). */
  scheme: z.enum(['http', 'https']).default('http'),
  /** How often `dns` is resolved again (default 10s). */
  resolveInterval: duration('10s'),
  /** Share of new clients relative to the other nodes (default 1). */
  weight: int(1, 1000).default(1),
  /** Operator overlay at start: active, draining (keeps its clients) or maintenance (default active). */
  state: operatorState.default('active'),
  /** TLS to an https:// node: a CA bundle for self-signed Connect certificates, or no verification. */
  tls: z
    .strictObject({
      /** PEM file with the CA(s) that signed the node's certificate (default: the system CAs). */
      ca: z.string().min(1).optional(),
      /** Accept any certificate (default false; only for tests and closed networks). */
      insecureSkipVerify: bool.default(false),
    })
    .optional(),
});

const cidr = z.string().refine(
  (value) => {
    const [addr, bits] = value.split('/');
    const family = isIP(addr ?? '');
    if (family === 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
  },
  { message: 'must be an IP address or CIDR, e.g. 10.0.0.0/8 or ::1' },
);

/** The cookie name is sent in every request; RFC 6265 token characters only. */
const cookieName = z
  .string()
  .max(64, 'must be a cookie token (RFC 6265)')
  .regex(HTTP_TOKEN, 'must be a cookie token (RFC 6265)');

/** One outgoing balancer's cookie (`affinity.adopt[]`, rule 14; src/affinity/adopt.ts). */
const adoptRule = z
  .strictObject({
    /** Its cookie name, e.g. SRV (HAProxy), posit-connect (ingress-nginx), RSC-SESSION-COOKIE (Traefik). */
    cookie: cookieName,
    /** Which balancer wrote it. */
    kind: z.string().refine((k): k is AdoptKind => (ADOPT_KINDS as readonly string[]).includes(k), {
      message: `must be one of ${ADOPT_KINDS.join(', ')}: haproxy reads the server lines' cookie values, traefik and ingress-nginx the value each derives from a node's address`,
    }),
    /** Node name -> the value naming it (default: the node's name for haproxy, derived for the others). */
    values: z.record(z.string(), z.string().min(1).max(256)).default({}),
    /** ingress-nginx: the backend's name, `namespace-service-port`, which salts its hash. */
    backend: z.string().min(1).max(253).optional(),
  })
  .superRefine((rule, ctx) => {
    if (
      rule.kind === 'ingress-nginx' &&
      rule.backend === undefined &&
      Object.keys(rule.values).length === 0
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['backend'],
        message:
          'ingress-nginx salts its cookie with the backend name: set backend to namespace-service-port (e.g. connect-rstudio-connect-80), or give values by hand',
      });
    }
  });

export const configSchema = z
  .strictObject({
    listen: z
      .strictObject({
        /** Address the proxy listens on (default 0.0.0.0: every interface). */
        host: z.string().min(1).default('0.0.0.0'),
        /** Proxy port (default 8080). */
        port: port.default(8080),
        /** Terminate TLS here: PEM certificate chain and key files, re-read on reload (default: plain HTTP). */
        tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
        /** With tls: a plain-HTTP port on the same host that redirects to HTTPS (default 0: none). */
        redirectPort: port.default(0),
        /**
         * With tls: offer HTTP/2 by ALPN beside HTTP/1.1 on the same port (default true), with
         * WebSockets over HTTP/2 streams (RFC 8441 extended CONNECT is advertised).
         */
        http2: bool.default(true),
        /**
         * Every connection starts with a PROXY protocol header (v1 or v2) from an L4 balancer, whose
         * client address is used (default false). Enable only when nothing else can reach the port.
         */
        proxyProtocol: bool.default(false),
      })
      .prefault({}),
    admin: z
      .strictObject({
        /** Admin server address (default 127.0.0.1: not reachable from outside unless chosen). */
        host: z.string().min(1).default('127.0.0.1'),
        /** Admin port for /metrics, /healthz, /readyz, /api (default 9090). */
        port: port.default(9090),
        /** Bearer token for mutating admin calls; without one they are refused (default none). */
        token: z.string().min(16, 'must be at least 16 characters').optional(),
        /** Bearer token required for /metrics and /api/nodes (default none: open, as on 127.0.0.1). */
        readToken: z.string().min(16, 'must be at least 16 characters').optional(),
        /**
         * Host names the admin server answers besides IP literals and localhost (default none):
         * other Host values get 421, which stops DNS-rebinding pages reading it from a browser.
         */
        allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name')).default([]),
      })
      .prefault({}),
    upstreams: z.array(upstream).min(1, 'at least one upstream is required'),
    affinity: z
      .strictObject({
        /** Affinity cookie name (default stickylb). */
        cookie: cookieName.default('stickylb'),
        /** HMAC key for cookie tokens; every replica must share it (default: derived from the upstreams). */
        secret: z.string().min(16, 'must be at least 16 characters').optional(),
        /** SameSite attribute: Lax (default), Strict, or None (for iframes; forces Secure). */
        sameSite: z.enum(['Lax', 'Strict', 'None']).default('Lax'),
        /** Secure attribute: auto (when the client connection is TLS or X-Forwarded-Proto is https from a trusted proxy), true, false. */
        secure: z.union([z.literal('auto'), bool]).default('auto'),
        /** Max-Age of the cookie; 0 (default) makes it a session cookie. */
        maxAge: duration('0', Number.MAX_SAFE_INTEGER),
        /**
         * Headers whose value pins a client that sends no affinity cookie, by rendezvous hashing
         * (default [authorization]: Connect API keys; [] turns it off).
         */
        hashHeaders: z
          .array(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'))
          .default(['authorization']),
        /**
         * The outgoing balancer's affinity cookies, read during a cutover (rule 14): a client with no
         * valid stickylb pin whose old cookie names an available node goes there (default: none).
         */
        adopt: z.array(adoptRule).max(8, 'at most 8 cookies').default([]),
      })
      .prefault({}),
    placement: z
      .strictObject({
        /**
         * Where a new session goes (default content): `content` sends a content's sessions to the
         * node where it already runs, within a load bound, pinned per content (rules 10-11);
         * `leastLoad` picks the least loaded node and pins the client once for everything (rule 1).
         */
        strategy: z.enum(['content', 'leastLoad']).default('content'),
        /**
         * How far above an even share a node may go before a content's sessions spill to the next
         * node in its order (default 1.25: 25% above the mean; 1 balances perfectly, higher keeps
         * more sessions where their content runs).
         */
        balanceFactor: z.number().min(1, 'must be at least 1').max(10, 'must be at most 10').default(1.25),
        /**
         * Rule 13: an app that fails on one node while the node is fine leaves that node's place in
         * the app's order; other apps keep the node.
         */
        contentEjection: z
          .strictObject({
            /** Consecutive failed page loads or handshakes of an app on a node that eject it (default 3; 0: never). */
            failures: int(0, 100).default(3),
            /** First ejection time; the n-th in a row lasts n times it (default 30s). */
            baseTime: duration('30s'),
            /** Longest ejection time (default 10m); then one trial session. */
            maxTime: duration('10m'),
          })
          .prefault({}),
      })
      .prefault({}),
    healthCheck: z
      .strictObject({
        /** Probe path (default /__ping__, Connect's unauthenticated readiness endpoint). */
        path: z.string().startsWith('/', 'must start with /').default('/__ping__'),
        /** Time between probes of one node, with up to 10% jitter (default 2s). */
        interval: duration('2s'),
        /** Probe timeout (default 1s). */
        timeout: duration('1s'),
        /** Consecutive successes that bring a down node up (default 2). */
        healthyThreshold: int(1, 100).default(2),
        /** Consecutive failures that take an up node down (default 3). */
        unhealthyThreshold: int(1, 100).default(3),
        /** Statuses that count as healthy (default: any 2xx). */
        expectStatus: z.array(int(100, 599)).min(1).optional(),
        /** Host header for probes (default: the upstream's host). */
        host: z.string().min(1).optional(),
        /** Consecutive connection failures of real traffic that take a node down (default 3; 0 disables). */
        passiveFailures: int(0, 100).default(3),
        /**
         * A node that becomes available again (up after down, active after draining or maintenance)
         * takes a share of new clients growing to its full weight over this time (default 30s; 0: off).
         */
        slowStart: duration('30s'),
      })
      .prefault({}),
    connect: z
      .strictObject({
        /** How often to read each node's Connect version from /__api__/server_settings (default 0: off). */
        versionCheckInterval: duration('0'),
        /** Keep nodes older than the newest version out of rotation for new clients (default false). */
        requireSameVersion: bool.default(false),
        /** Warn when a node's clock differs from the balancer's by more than this (default 1s). */
        clockSkewWarning: duration('1s'),
        /** Ask the other nodes for a deploy task its node answers 404 (default true). */
        taskLookup: bool.default(true),
        /**
         * A deploy task seen to start on a node counts as open (the node is not safe to stop)
         * until a poll through the balancer reads it finished, or for this long without a poll
         * (default 30m).
         */
        taskTimeout: duration('30m', Number.MAX_SAFE_INTEGER),
        /**
         * An administrator's API key (use `${CONNECT_API_KEY}`): lets the balancer ask each node what
         * Connect runs there (`/__api__/metrics/procs`, directly, never through the balancer), so
         * placement prefers nodes already running an app and "safe to stop" waits for renders,
         * builds and jobs. Sent only to the nodes; never logged or exported (default: none).
         */
        apiKey: z.string().min(1).optional(),
        /** How often each node's processes are read with `apiKey` (default 5s). */
        procsInterval: duration('5s'),
      })
      .prefault({}),
    failover: z
      .strictObject({
        /** Other nodes tried when a node refuses the connection (default 2). */
        redispatchAttempts: int(0, 10).default(2),
        /** With every node down: fail with 503 (default) or tryPinned, sending pinned clients to their node anyway. */
        whenAllDown: z.enum(['fail', 'tryPinned']).default('fail'),
        /** Retry-After sent with a 503 (default 5s). */
        retryAfter: duration('5s'),
      })
      .prefault({}),
    timeouts: z
      .strictObject({
        /** Upstream TCP connect timeout (default 5s). */
        connect: duration('5s'),
        /** Upstream response headers timeout; long for deploy calls (default 300s). */
        response: duration('300s'),
        /** Max silence inside an upstream response body; 0 (default) for long-polls and streams. */
        upstreamIdle: duration('0'),
        /** Client keep-alive idle timeout (default 75s; above the 60s of most fronting balancers). */
        clientIdle: duration('75s'),
        /** Time a client has to send complete request headers (default 30s; slowloris guard). */
        clientHeaders: duration('30s'),
        /**
         * Longest silence inside a request body before the request is answered 408 and its node's
         * connection released (default 60s, like nginx's client_body_timeout; 0: none).
         */
        clientBody: duration('60s'),
        /**
         * Longest time a client may take none of a response while stickylb holds more for it
         * (a full socket or HTTP/2 window) before the response is cut and its node's connection
         * released (default 60s, like nginx's send_timeout; 0: none). Never applies to an open
         * WebSocket tunnel.
         */
        clientSend: duration('60s'),
        /**
         * With `limits.upstreamConnections` set: how long a request may wait for a free connection
         * to its node before it gets 503 (default 30s; 0: no limit).
         */
        queue: duration('30s'),
        /**
         * Time a node has to answer a WebSocket handshake once connected (default 10s; 0: none). Its
         * own timeout, not `response`: a handshake left hanging on a stopped node splits a session.
         */
        websocketHandshake: duration('10s'),
        /** Idle timeout of upgraded WebSocket connections; 0 (default) means none. */
        websocketIdle: duration('0'),
      })
      .prefault({}),
    limits: z
      .strictObject({
        /** Max request header size; larger gets 431 (default 64KiB). */
        maxHeaderSize: size('64KiB').pipe(
          z
            .number()
            .min(1024, 'must be at least 1KiB')
            .max(1024 * 1024, 'must be at most 1MiB'),
        ),
        /** Max request body; larger gets 413 (default 0: no limit, bundles can be large). */
        maxBodySize: size(0),
        /** Max concurrent client connections (default 0: no limit). */
        maxConnections: int(0, 10_000_000).default(0),
        /**
         * Connections per upstream node (default 0: as many as requests need). A cap queues requests
         * once reached (for at most `timeouts.queue`), and SockJS streaming fallbacks each hold a
         * connection for their lifetime.
         */
        upstreamConnections: int(0, 100_000).default(0),
      })
      .prefault({}),
    /** Peers whose X-Forwarded-* headers are trusted and extended (default none). */
    trustedProxies: z.array(cidr).default([]),
    logging: z
      .strictObject({
        /** pino level: trace, debug, info (default), warn, error, fatal, silent. */
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /** One line per proxied request (default false). */
        access: bool.default(false),
      })
      .prefault({}),
    /**
     * OpenTelemetry traces (default off): one span per request and per WebSocket session, with the
     * ids of the `traceparent` sent to the node, exported in batches over OTLP/HTTP.
     */
    tracing: z
      .strictObject({
        otlp: z
          .strictObject({
            /** The collector's OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces. */
            endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
            headers: exportHeaders,
          })
          .optional(),
        /** Share of new traces recorded, 0 to 1 (default 1); a client's sampled flag is followed. */
        sampleRatio: z.number().min(0).max(1).default(1),
        /** `service.name` of the spans (default stickylb). */
        serviceName: z.string().min(1).default('stickylb'),
      })
      .prefault({}),
    /**
     * Operator states shared by every replica through PostgreSQL (default none: each replica keeps
     * its own). `url` is a libpq connection URL (`postgres://user:pass@host/db?sslmode=require`).
     */
    sharedState: z
      .strictObject({
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
          .refine(isUsablePostgresUrl, 'must be a postgres:// URL with a host (it does not parse)'),
      })
      .optional(),
    /**
     * Reload when the configuration file changes, Kubernetes ConfigMap updates included (default
     * true; SIGHUP and POST /api/reload work either way).
     */
    watchConfig: bool.default(true),
    /** Time in-flight requests get to finish on SIGTERM (default 30s). */
    shutdownTimeout: duration('30s'),
    /**
     * After SIGTERM, keep accepting and serving this long while /readyz says 503 (default 0), so
     * that the balancer in front (kube-proxy, an L4 balancer) stops sending new connections before
     * the port closes; responses meanwhile say `Connection: close`. A second signal skips it.
     */
    shutdownDelay: duration('0'),
    /** Proxy processes: 1 (default), a number, or auto (one per core); health checks run once, in the primary. */
    workers: z.union([z.literal('auto'), int(1, 256)]).default(1),
  })
  .superRefine((config, ctx) => {
    const names = new Map<string, number>();
    const urls = new Map<string, number>();
    config.upstreams.forEach((u, i) => {
      if ((u.url === undefined) === (u.dns === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['upstreams', i], message: 'needs exactly one of url or dns' });
      }
      if (u.dns !== undefined && u.resolveInterval === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'resolveInterval'],
          message: 'must be greater than 0',
        });
      }
      const lower = u.name.toLowerCase();
      if (names.has(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'name'],
          message: `duplicate name "${u.name}" (also upstreams[${names.get(lower)}])`,
        });
      } else names.set(lower, i);
      if (u.url === undefined) return;
      if (urls.has(u.url)) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'url'],
          message: `duplicate url ${u.url} (also upstreams[${urls.get(u.url)}])`,
        });
      } else urls.set(u.url, i);
    });
    config.affinity.adopt.forEach((rule, i) => {
      if (rule.cookie === config.affinity.cookie || rule.cookie === `${config.affinity.cookie}_content`) {
        ctx.addIssue({
          code: 'custom',
          path: ['affinity', 'adopt', i, 'cookie'],
          message: "is stickylb's own cookie: adopt the outgoing balancer's",
        });
      }
      const known = new Set(config.upstreams.map((u) => u.name));
      const dynamic = config.upstreams.some((u) => u.dns !== undefined);
      for (const name of Object.keys(rule.values)) {
        if (!known.has(name) && !dynamic) {
          ctx.addIssue({
            code: 'custom',
            path: ['affinity', 'adopt', i, 'values', name],
            message: `names no upstream (${[...known].join(', ')})`,
          });
        }
      }
    });
    if (config.affinity.sameSite === 'None' && config.affinity.secure === false) {
      ctx.addIssue({
        code: 'custom',
        path: ['affinity', 'secure'],
        message: 'SameSite=None requires Secure; browsers reject the cookie otherwise',
      });
    }
    if (config.healthCheck.timeout >= config.healthCheck.interval && config.healthCheck.interval > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['healthCheck', 'timeout'],
        message: 'must be shorter than healthCheck.interval',
      });
    }
    if (config.listen.redirectPort > 0 && config.listen.tls === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['listen', 'redirectPort'],
        message: 'needs listen.tls (it redirects to HTTPS)',
      });
    }
    config.upstreams.forEach((u, i) => {
      if (u.tls !== undefined && (u.url === undefined ? u.scheme !== 'https' : !u.url.startsWith('https:'))) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'tls'],
          message: 'only applies to https:// upstreams',
        });
      }
    });
    if (config.healthCheck.interval === 0) {
      ctx.addIssue({ code: 'custom', path: ['healthCheck', 'interval'], message: 'must be greater than 0' });
    }
  });

/**
 * The keys a reload cannot apply, marked here once: a change to one is logged as a warning and
 * waits for a restart (the listeners, the admin server, the processes and the store are built at
 * start). `presence`: only turning the key on or off needs a restart (a new certificate is applied
 * by a reload). The README's configuration table says the same, checked by test/unit/docs.test.ts.
 */
export const RESTART_ONLY: Readonly<Record<string, 'value' | 'presence'>> = {
  'listen.host': 'value',
  'listen.port': 'value',
  'listen.redirectPort': 'value',
  'listen.proxyProtocol': 'value',
  'listen.http2': 'value',
  'listen.tls': 'presence',
  'admin.host': 'value',
  'admin.port': 'value',
  'limits.maxHeaderSize': 'value',
  'logging.level': 'value',
  workers: 'value',
  watchConfig: 'value',
  sharedState: 'value',
  'connect.apiKey': 'presence',
};

/** The restart-only keys whose value differs between `before` and `after` (changes a reload keeps out). */
export function restartOnlyChanges(before: Config, after: Config): string[] {
  const at = (config: Config, path: string): unknown =>
    path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], config);
  return Object.entries(RESTART_ONLY)
    .filter(([path, kind]) => {
      const [a, b] = [at(before, path), at(after, path)];
      return kind === 'presence'
        ? (a === undefined) !== (b === undefined)
        : JSON.stringify(a) !== JSON.stringify(b);
    })
    .map(([path]) => path);
}

/** A validated, defaulted configuration. */
export type Config = z.output<typeof configSchema>;
/** One upstream entry. */
export type UpstreamConfig = Config['upstreams'][number];
/** An upstream with a concrete URL: a `url` entry, or one address of a `dns` entry. */
export type ResolvedUpstream = UpstreamConfig & { readonly url: string };
/** Operator overlay on a node. */
export type OperatorState = z.output<typeof operatorState>;

/**
 * Whether the PostgreSQL client can use `url` (issue 22.9: one it cannot parse passed --check and
 * failed only at start, never retried). The URL itself is never echoed: it may hold a password.
 */
function isUsablePostgresUrl(url: string): boolean {
  try {
    const parsed = parsePostgresUrl(url);
    return typeof parsed.host === 'string' && parsed.host.length > 0;
  } catch {
    return false;
  }
}
