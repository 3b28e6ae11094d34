/**
 * HTTP/2 and HTTP/1.1 by ALPN on one TLS port (node:http2 with `allowHTTP1`).
 *
 * - Requests are taken from node:http2's core API (the `stream` event) and handed to the forwarder
 *   as streams: node's compatibility layer, which builds a request and a response object per
 *   stream with their listeners, is bypassed (issue 25). HTTP/1.1 connections, their WebSocket
 *   upgrades and parser errors behave as on an https server.
 * - WebSockets over HTTP/2 (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL is advertised, and an
 *   extended CONNECT stream goes to the WebSocket proxy.
 * - Hostile clients meet the limits of http2-budget.ts: concurrent streams, refused-stream and
 *   invalid-frame floods (node:http2's own), header list size (`limits.maxHeaderSize`), and the
 *   per-session budgets of resets, PINGs and SETTINGS counted here. node:http2 emits a stream
 *   before it reads the RST_STREAM that follows its HEADERS: streams are handed over at the end of
 *   the loop turn's reads, so one reset in the same read is never routed (the rapid-reset pattern
 *   costs the nodes nothing), and the budget closes the session.
 * - A session with no open stream for `timeouts.clientIdle` is closed with GOAWAY; one with open
 *   streams (a quiet WebSocket, a long poll) is left to the streams' own timeouts.
 * - node:http2's server has no `closeAllConnections`: sessions and HTTP/1.1 sockets are tracked
 *   here to give it one, and `closeSessions` sends GOAWAY at shutdown.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  constants,
  createSecureServer,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../clock.js';
import type { DataSettings } from '../contract/data-settings.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { type BudgetedFrame, HTTP2_LIMITS, SessionBudget } from './http2-budget.js';
import { SessionIdle } from './http2-idle.js';
import type { Lifecycle } from './lifecycle.js';
import { release } from './release.js';

/** What the HTTP/2 server is built from. */
export interface Http2ServerParts {
  /** The request listener for HTTP/1.1 connections (ALPN `http/1.1`, or none). */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Takes an HTTP/2 request stream. */
  readonly handleStream: StreamHandler;
  /** Takes an extended CONNECT stream (RFC 8441). */
  readonly handleConnectStream: StreamHandler;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  /** The budgets' and idle timer's time (tests move it by hand). */
  readonly clock?: Clock;
}

/** Takes a stream with its header block and its connection's addresses (`peer`, read once per session). */
export type StreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: string[],
  peer: Socket,
) => void;

type StreamListener = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

/** A session's bookkeeping. */
interface SessionState {
  readonly budget: SessionBudget;
  /**
   * The connection's addresses, read once: node:http2 hands out its socket as a guarded proxy, a
   * trap per property read on every request otherwise.
   */
  readonly peer: Socket;
  /** Its open streams and idle timer. */
  readonly idle: SessionIdle;
}

/** Creates (does not start) the HTTP/2 + HTTP/1.1 TLS server for `settings`. */
export function createHttp2Server(settings: DataSettings, parts: Http2ServerParts): Server {
  const server = createSecureServer(
    {
      ...settings.tls!,
      allowHTTP1: true,
      maxSessionInvalidFrames: HTTP2_LIMITS.maxInvalidFrames,
      maxSessionRejectedStreams: HTTP2_LIMITS.maxRejectedStreams,
      settings: {
        maxConcurrentStreams: HTTP2_LIMITS.maxConcurrentStreams,
        maxHeaderListSize: settings.server.maxHeaderSize,
        enableConnectProtocol: true,
      },
    },
    parts.handle as unknown as Parameters<typeof createSecureServer>[1],
  );
  const sessions = new Http2Sessions(parts, settings.server.clientIdleMs);
  server.on('session', sessions.open);
  // No compatibility layer: its stream listener goes, streams come here.
  server.removeAllListeners('stream');
  server.on('stream', sessions.stream as StreamListener);
  const sockets = new Set<Duplex>();
  server.on('secureConnection', (socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const adapted = server as unknown as Server & { closeSessions?: () => void };
  adapted.closeAllConnections = () => {
    sessions.destroyAll();
    for (const s of sockets) s.destroy();
  };
  adapted.closeSessions = () => sessions.goAway();
  return adapted;
}

/** The open sessions, their budgets and idle policy, and the streams they hand over. */
class Http2Sessions {
  readonly #parts: Http2ServerParts;
  readonly #idleMs: number;
  readonly #sessions = new Map<Http2Session, SessionState>();
  readonly #closedByBudget = new WeakSet<Http2Session>();
  readonly #clock: Clock;
  /** Streams waiting for `#handOver`, flat: stream, headers, raw headers, peer. */
  #pending: unknown[] = [];

  constructor(parts: Http2ServerParts, idleMs: number) {
    this.#parts = parts;
    this.#idleMs = idleMs;
    this.#clock = parts.clock ?? systemClock;
  }

  /** The `session` listener: bookkeeping, budgets of PINGs and SETTINGS, the idle timeout. */
  readonly open = (session: Http2Session): void => {
    const { metrics, logger } = this.#parts;
    const state: SessionState = {
      budget: new SessionBudget(this.#clock.now()),
      peer: addressesOf(session),
      idle: new SessionIdle(this.#clock, this.#idleMs, () => this.#close(session, 'idle')),
    };
    this.#sessions.set(session, state);
    metrics.http2Sessions.inc();
    session.on('close', () => {
      state.idle.stop();
      this.#sessions.delete(session);
      metrics.http2Sessions.dec();
    });
    session.on('error', (err: Error) => {
      if (this.#closedByBudget.has(session)) return;
      metrics.http2SessionsClosed.inc({ reason: 'protocol_error' });
      logger.debug({ err, peer: session.socket?.remoteAddress }, 'HTTP/2 session error');
    });
    session.on('ping', () => this.#spend(session, state, 'pings'));
    // The preface's SETTINGS counts too: the budget is far above what any client sends.
    session.on('remoteSettings', () => this.#spend(session, state, 'settings'));
  };

  /** The `stream` listener: counts the stream and its reset, and queues it for its handler. */
  readonly stream = (
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    _flags: number,
    rawHeaders: string[],
  ): void => {
    const parts = this.#parts;
    const session = stream.session;
    const state = session === undefined ? undefined : this.#sessions.get(session);
    if (state === undefined || session === undefined) {
      stream.destroy();
      return;
    }
    state.idle.opened();
    // A stream's errors (a reset while its answer is written) end at its 'close'; never the process's.
    stream.on('error', ignore);
    // Stopping: a session opened since the GOAWAY went out gets its own after this stream, which
    // is served; the client's next request opens a connection to another replica.
    if (parts.lifecycle.closing && !session.closed) session.close();
    // One listener per stream (each costs on every request). A stream cut before its answer began
    // was reset by the client: stickylb's own resets (a tunnel cut, a failed body) come after the
    // response headers, or with the whole session.
    stream.on('close', () => {
      state.idle.closed();
      if (stream.aborted && !stream.headersSent && !session.destroyed) {
        parts.metrics.http2StreamResets.inc();
        this.#spend(session, state, 'resets');
      }
      // Nothing of the request stays reachable from the closed stream (release.ts).
      release(stream);
    });
    const pending = this.#pending;
    if (pending.length === 0) setImmediate(this.#handOver);
    pending.push(stream, headers, rawHeaders, state.peer);
  };

  /**
   * Hands the streams of the reads just processed to their handlers, after node:http2 has read the
   * frames behind their HEADERS: a stream the client reset in the same read (the rapid-reset
   * pattern) is never routed, so it costs no node a request. One immediate for all the streams of
   * a loop turn; they wait for no more than the rest of that turn's reads.
   */
  readonly #handOver = (): void => {
    const pending = this.#pending;
    this.#pending = [];
    const parts = this.#parts;
    for (let i = 0; i < pending.length; i += 4) {
      const stream = pending[i] as ServerHttp2Stream;
      if (stream.destroyed || stream.closed) continue;
      const headers = pending[i + 1] as IncomingHttpHeaders;
      let handler = parts.handleStream;
      if (headers[':method'] === 'CONNECT') {
        handler = parts.handleConnectStream;
        if (String(headers[':protocol']).toLowerCase() === 'websocket')
          parts.metrics.websocketsOverHttp2.inc();
      }
      handler(stream, headers, pending[i + 2] as string[], pending[i + 3] as Socket);
    }
  };

  /** GOAWAY to every session (shutdown): their streams finish, no new one starts. */
  goAway(): void {
    for (const s of this.#sessions.keys()) s.close();
  }

  destroyAll(): void {
    for (const s of this.#sessions.keys()) s.destroy();
  }

  #spend(session: Http2Session, state: SessionState, frame: BudgetedFrame): void {
    this.#close(session, state.budget.count(frame, this.#clock.now()));
  }

  #close(session: Http2Session, reason: 'idle' | ReturnType<SessionBudget['count']>): void {
    if (session.destroyed || session.closed || reason === undefined) return;
    const { metrics, logger } = this.#parts;
    metrics.http2SessionsClosed.inc({ reason });
    if (reason === 'idle') {
      session.close();
      return;
    }
    logger.warn({ peer: session.socket?.remoteAddress, reason }, 'HTTP/2 session closed: budget passed');
    // With an error: `destroy(undefined, code)` would send NO_ERROR (its error defaults to 0). The
    // session's 'error' listener knows this one.
    this.#closedByBudget.add(session);
    session.destroy(new Error(`HTTP/2 budget passed: ${reason}`), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

function ignore(): void {}

/** What the forwarded headers read of a session's connection, as a plain object. */
function addressesOf(session: Http2Session): Socket {
  const socket = session.socket;
  return {
    remoteAddress: socket?.remoteAddress,
    remotePort: socket?.remotePort,
    localAddress: socket?.localAddress,
    localPort: socket?.localPort,
    encrypted: true,
  } as unknown as Socket;
}
