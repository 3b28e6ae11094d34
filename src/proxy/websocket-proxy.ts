/**
 * WebSocket (and any HTTP/1.1 Upgrade) tunnelling. The handshake goes to the client's node by the
 * same sticky decision as HTTP, over a fresh node:http connection (undici's `upgrade()` cannot relay
 * a non-101 answer). After the 101 the two sockets are piped; frames are never parsed.
 *
 * Closing rule: whenever the node's side goes away (node killed, marked down, put in maintenance,
 * balancer shutting down) the client's socket is cut without a WebSocket close frame, so Shiny's
 * reconnect logic runs; a clean 1000/1001 close would tell the Shiny client to stay closed.
 */
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { classifyUpstreamError, codeForFailure, statusForFailure } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Pool } from '../pool/pool.js';
import type { UpstreamNode } from '../pool/upstream-node.js';
import { sendSocketError } from './error-response.js';
import {
  BadRequestError,
  type ForwardContext,
  type ForwardedRequest,
  forwardRequestHeaders,
} from './forwarded-headers.js';
import { isResponseHopByHop } from './hop-by-hop.js';
import type { Route, Router } from './router.js';
import { isWebSocketUpgrade, serveAsPlainHttp } from './upgrade-fallback.js';

/** Settings read per upgrade; replaced as a whole on reload. */
export interface WebSocketSettings extends ForwardContext {
  readonly redispatchAttempts: number;
  readonly retryAfterSeconds: number;
  readonly connectTimeoutMs: number;
  /** Time the node has to answer the handshake. */
  readonly handshakeTimeoutMs: number;
  /** Idle timeout of an open tunnel; 0 for none. */
  readonly idleTimeoutMs: number;
}

/** Everything the WebSocket proxy needs. */
export interface WebSocketDeps {
  readonly pool: Pool;
  readonly router: Router;
  readonly metrics: Metrics;
  readonly logger: Logger;
  settings: WebSocketSettings;
}

interface Tunnel {
  readonly client: Duplex;
  readonly upstream: Duplex;
  readonly node: UpstreamNode;
}

/** Proxies upgrade requests and keeps track of open tunnels per node. */
export class WebSocketProxy {
  readonly deps: WebSocketDeps;
  readonly #tunnels = new Map<UpstreamNode, Set<Tunnel>>();
  /** Handshakes in progress, so shutdown can cut them too. */
  readonly #pending = new Set<ClientRequest>();

  constructor(deps: WebSocketDeps) {
    this.deps = deps;
  }

  /**
   * node:http's connection listener, for upgrades that are not WebSocket handshakes: they are
   * served as plain HTTP (upgrade-fallback.ts).
   */
  #plainHttp: ((socket: Duplex) => void) | undefined;

  /** Sets where non-WebSocket upgrade requests go (the proxy server's own connection listener). */
  serveOtherUpgradesWith(connectionListener: (socket: Duplex) => void): void {
    this.#plainHttp = connectionListener;
  }

  /** The `upgrade` listener for the proxy server. */
  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#plainHttp !== undefined && !isWebSocketUpgrade(req)) {
      serveAsPlainHttp(this.#plainHttp, req, socket, head);
      return;
    }
    // Errors on either socket must never reach the process: a reset client is routine.
    socket.on('error', ignore);
    const settings = this.deps.settings;
    let fwd: ForwardedRequest;
    try {
      fwd = forwardRequestHeaders(req, settings, true);
    } catch (err) {
      sendSocketError(req, socket, 400, err instanceof BadRequestError ? err.code : 'BAD_REQUEST', 0);
      return;
    }
    const route = this.deps.router.route(fwd.affinityValues);
    if (route === undefined) {
      sendSocketError(req, socket, 503, 'NO_AVAILABLE_NODE', settings.retryAfterSeconds);
      this.deps.metrics.countResponse(undefined, 503, 0);
      return;
    }
    this.#attempt(req, socket, head, fwd, route, 0, undefined);
  };

  /** Cuts every tunnel to `node` without a close frame (node down, maintenance, removed). */
  dropNode(node: UpstreamNode): number {
    const set = this.#tunnels.get(node);
    if (set === undefined) return 0;
    const n = set.size;
    for (const t of [...set]) cut(t);
    return n;
  }

  /** Cuts every tunnel and pending handshake (shutdown). */
  dropAll(): number {
    let n = 0;
    for (const node of [...this.#tunnels.keys()]) n += this.dropNode(node);
    for (const r of this.#pending) r.destroy();
    return n;
  }

  #attempt(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    fwd: ForwardedRequest,
    route: Route,
    redispatches: number,
    tried: Set<UpstreamNode> | undefined,
  ): void {
    const deps = this.deps;
    const settings = deps.settings;
    const node = route.node;
    const options = {
      host: node.host,
      port: node.port,
      method: req.method ?? 'GET',
      path: fwd.path,
      headers: fwd.headers,
      setHost: false,
      agent: false as const,
      ...node.tlsOptions,
    };
    const upReq = node.tls ? httpsRequest(options) : httpRequest(options);
    this.#pending.add(upReq);
    // A handshake in progress counts as in-flight work for node selection.
    node.inFlight++;
    let connected = false;
    let settled = false;
    const fail = (code: string, message: string) =>
      upReq.destroy(Object.assign(new Error(message), { code }));
    let timer = setTimeout(
      fail,
      settings.connectTimeoutMs,
      'UND_ERR_CONNECT_TIMEOUT',
      'upstream connect timeout',
    );
    const onClientGone = () => upReq.destroy();
    socket.once('close', onClientGone);
    const settle = () => {
      if (settled) return;
      node.inFlight--;
      settled = true;
      clearTimeout(timer);
      this.#pending.delete(upReq);
      socket.off('close', onClientGone);
    };

    upReq.once('socket', (s: Socket) => {
      s.once('connect', () => {
        connected = true;
        clearTimeout(timer);
        if (!settled) {
          timer = setTimeout(
            fail,
            settings.handshakeTimeoutMs,
            'UND_ERR_HEADERS_TIMEOUT',
            'handshake timeout',
          );
        }
        deps.pool.reportConnected(node);
      });
    });

    upReq.once('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      settle();
      upstream.on('error', ignore);
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      const lines = [`HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}`];
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
      if (route.cookieFor !== undefined) lines.push(`Set-Cookie: ${setCookieFor(route, fwd)}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstream.write(head);
      this.#open({ client: socket, upstream, node }, settings.idleTimeoutMs);
      deps.metrics.websocketsTotal.inc({ upstream: node.name });
      deps.metrics.countResponse(node, 101, 0);
    });

    upReq.once('response', (res: IncomingMessage) => {
      settle();
      // The node refused the upgrade (401, 404, ...): relay its answer and close.
      const lines = [`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`];
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        if (!isResponseHopByHop(raw[i]!)) lines.push(`${raw[i]}: ${raw[i + 1]}`);
      }
      if (route.cookieFor !== undefined) lines.push(`Set-Cookie: ${setCookieFor(route, fwd)}`);
      lines.push('Connection: close');
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      res.on('error', () => socket.destroy());
      res.pipe(socket);
      deps.metrics.countResponse(node, res.statusCode ?? 502, 0);
    });

    upReq.once('error', (err: Error) => {
      if (settled) return;
      settle();
      if (socket.destroyed) return;
      const failure = classifyUpstreamError(err);
      if (failure === 'refused' || (failure === 'connect-timeout' && !connected)) {
        deps.metrics.forNode(node).connectErrors.inc();
        deps.pool.reportConnectFailure(node);
      }
      if (failure === 'refused' && redispatches < settings.redispatchAttempts) {
        const seen = tried ?? new Set<UpstreamNode>();
        seen.add(node);
        const next = deps.router.alternative(seen);
        if (next !== undefined) {
          deps.metrics.forNode(node).retries.inc();
          deps.router.redispatched(route, node, next);
          this.#attempt(req, socket, head, fwd, route, redispatches + 1, seen);
          return;
        }
      }
      const status = failure === 'refused' ? 503 : statusForFailure(failure);
      const code = status === 503 ? 'NO_AVAILABLE_NODE' : codeForFailure(failure);
      deps.logger.warn({ err, upstream: node.name, failure }, 'websocket handshake failed');
      sendSocketError(req, socket, status, code, settings.retryAfterSeconds);
      deps.metrics.countResponse(node, status, 0);
    });

    upReq.end();
  }

  #open(tunnel: Tunnel, idleTimeoutMs: number): void {
    const { client, upstream, node } = tunnel;
    let set = this.#tunnels.get(node);
    if (set === undefined) {
      set = new Set();
      this.#tunnels.set(node, set);
    }
    set.add(tunnel);
    node.websockets++;
    (upstream as Socket).setNoDelay(true);
    (client as Socket).setNoDelay?.(true);
    if (idleTimeoutMs > 0) {
      const onIdle = () => cut(tunnel);
      for (const s of [client, upstream] as Socket[]) {
        s.setTimeout(idleTimeoutMs);
        s.on('timeout', onIdle);
      }
    }
    // Plain `on` rather than `once`: each fires once anyway, and `once` allocates a wrapper per
    // listener; with thousands of idle sockets every object per tunnel counts.
    let closed = false;
    const onClose = () => {
      if (closed) return;
      closed = true;
      node.websockets--;
      const current = this.#tunnels.get(node);
      current?.delete(tunnel);
      if (current?.size === 0) this.#tunnels.delete(node);
      cut(tunnel);
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
    relay(upstream, client);
    relay(client, upstream);
  }
}

/**
 * Copies `from` to `to` with backpressure; the end of `from` ends `to`'s writing (a half-close), and
 * whatever was already written still flushes. Leaner than `pipe()`, which keeps six listeners and
 * their closures per direction: with thousands of idle Shiny sockets that is most of their memory.
 */
function relay(from: Duplex, to: Duplex): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
}

function setCookieFor(route: Route, fwd: ForwardedRequest): string {
  const cookie = route.cookieFor!.cookie;
  return fwd.secure ? cookie.tls : cookie.plain;
}

/** Destroys both sides: the client sees the TCP connection end with no WebSocket close frame. */
function cut(tunnel: Tunnel): void {
  tunnel.upstream.destroy();
  tunnel.client.destroy();
}

function ignore(): void {}
