/**
 * The client's side of a WebSocket handshake (client-side.ts): the exchange carries the handshake to
 * a node like any request (one lifecycle, exchange/exchange.ts); this side is what the client sees.
 * Over HTTP/1.1 the client holds a raw socket node:http has let go of; over HTTP/2 (RFC 8441) an
 * extended CONNECT stream. Either way the node sees an ordinary HTTP/1.1 upgrade (undici writes its
 * `Connection: upgrade` and `Upgrade: websocket`), and:
 * - a refusal (401, 404, a 5xx) is relayed like any answer, head then body, and the connection (or
 *   stream) ends after it;
 * - an acceptance becomes a `101` over HTTP/1.1 (the node's head, hop-by-hop headers aside) or a
 *   `200` over HTTP/2 (the node's end-to-end headers, without `Sec-WebSocket-Accept`, which answers
 *   the HTTP/1.1 key stickylb made), and the client's socket or stream becomes the client side of a
 *   tunnel (tunnels.ts): frames pass unchanged both ways.
 *
 * While the node has not answered, the client is read: its FIN or reset is seen at once (the
 * exchange then aborts the node's side), and bytes it sends early are kept for the node, within a
 * small cap.
 */
import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { type AnswerCode, writeAnswer, writeSocketAnswer } from '../answers.js';
import type { ClientSide } from '../client-side.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import { pushNodeHeaders } from '../hop-by-hop.js';
import { rawHead, respondHttp2 } from '../reply.js';
import type { RequestHead } from '../request-head.js';
import { pushSetCookies, type Route } from '../router.js';
import type { Tunnels } from './tunnels.js';

/** Bytes a client may send before the answer (it should send none); more closes the connection. */
const EARLY_BYTES_LIMIT = 64 * 1024;

/** Where handshakes are kept: open tunnels, and handshakes not answered yet (cut at shutdown). */
export interface UpgradeRegistry {
  readonly tunnels: Tunnels;
  readonly pending: Set<UpgradeSide>;
}

/** A WebSocket handshake's client; see the file comment. */
export abstract class UpgradeSide implements ClientSide {
  readonly kind = 'websocket';
  readonly upgrade = 'websocket';
  status = 0;
  bytes = 0;
  ended = false;
  blocked = false;
  headersSent = false;
  readonly req: RequestHead;
  protected readonly duplex: Duplex;
  readonly #registry: UpgradeRegistry;
  readonly #idleTimeoutMs: number;
  /** The content GUID of the session, for the node's count of content sessions. */
  readonly #content: string | undefined;
  #early: Buffer[];
  #earlyBytes: number;
  #gone: (() => void) | undefined;
  #resume: (() => void) | undefined;
  #drain: (() => void) | undefined;

  constructor(
    req: RequestHead,
    duplex: Duplex,
    head: Buffer,
    registry: UpgradeRegistry,
    idleTimeoutMs: number,
    content: string | undefined,
  ) {
    this.req = req;
    this.duplex = duplex;
    this.#early = head.length > 0 ? [head] : [];
    this.#earlyBytes = head.length;
    this.#registry = registry;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#content = content;
    registry.pending.add(this);
  }

  watch(listener: () => void): void {
    this.#gone = listener;
    const d = this.duplex;
    d.on('data', this.#onEarlyData);
    d.on('end', this.#onEnd);
    d.on('close', this.#onClose);
  }

  head(
    status: number,
    rawHeaders: Buffer[],
    route: Route,
    fwd: ForwardedRequest,
    _close: boolean,
    statusText: string,
    resume: () => void,
  ): void {
    this.#stopReading();
    const headers: string[] = [];
    pushNodeHeaders(headers, rawHeaders);
    pushSetCookies(headers, route, fwd.secure);
    headers.push('X-Request-Id', fwd.requestId);
    this.#resume = resume;
    this.refusalHead(status, statusText, headers);
    this.status = status;
    this.headersSent = true;
  }

  write(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.duplex.write(chunk)) return true;
    this.blocked = true;
    this.#drain ??= () => {
      this.blocked = false;
      this.#resume?.();
    };
    this.duplex.once('drain', this.#drain);
    return false;
  }

  end(): void {
    this.ended = true;
    this.duplex.end();
  }

  cut(): void {
    this.duplex.destroy();
  }

  destroy(): void {
    this.duplex.destroy();
  }

  open(
    rawHeaders: Buffer[],
    socket: Duplex,
    node: UpstreamNode,
    route: Route,
    fwd: ForwardedRequest,
    onClosed: () => void,
  ): number {
    this.#stopReading();
    this.#registry.pending.delete(this);
    if (this.duplex.destroyed) return 0;
    const extra = ['X-Request-Id', fwd.requestId];
    pushSetCookies(extra, route, fwd.secure);
    const status = this.accept(rawHeaders, extra);
    if (status === 0) return 0;
    this.status = status;
    this.headersSent = true;
    for (const chunk of this.#early) socket.write(chunk);
    this.#early = [];
    this.#registry.tunnels.open(this.duplex, socket, node, this.#idleTimeoutMs, onClosed, this.#content);
    return status;
  }

  abstract answer(code: AnswerCode, retryAfterSeconds: number, close: boolean, fwd: ForwardedRequest): void;

  /** Writes a refusal's head (`headers` flat, filtered); the connection or stream ends after its body. */
  protected abstract refusalHead(status: number, statusText: string, headers: string[]): void;

  /** Tells the client the node accepted (its head `raw`, plus `extra`); the status sent, or 0 when refused. */
  protected abstract accept(raw: Buffer[], extra: readonly string[]): number;

  #stopReading(): void {
    const d = this.duplex;
    d.off('data', this.#onEarlyData);
    d.off('end', this.#onEnd);
  }

  readonly #onEarlyData = (chunk: Buffer): void => {
    this.#earlyBytes += chunk.length;
    if (this.#earlyBytes > EARLY_BYTES_LIMIT) {
      this.duplex.destroy();
      return;
    }
    this.#early.push(chunk);
  };

  /** The client ended its side before the node answered: the handshake is over. */
  readonly #onEnd = (): void => {
    this.duplex.destroy();
  };

  readonly #onClose = (): void => {
    this.#registry.pending.delete(this);
    const gone = this.#gone;
    this.#gone = undefined;
    gone?.();
  };
}

/** A handshake on an HTTP/1.1 connection: node:http has handed over the socket. */
export class Http1UpgradeSide extends UpgradeSide {
  answer(code: AnswerCode, retryAfterSeconds: number, _close: boolean, fwd: ForwardedRequest): void {
    writeSocketAnswer(this.req, this.duplex, code, retryAfterSeconds, fwd);
  }

  protected refusalHead(status: number, statusText: string, headers: string[]): void {
    this.duplex.write(rawHead(status, statusText, headers, true));
  }

  protected accept(raw: Buffer[], extra: readonly string[]): number {
    const headers: string[] = [];
    pushNodeHeaders(headers, raw, true);
    headers.push(...extra);
    this.duplex.write(rawHead(101, 'Switching Protocols', headers, false));
    return 101;
  }
}

/** A handshake on an HTTP/2 stream (RFC 8441 extended CONNECT). */
export class Http2UpgradeSide extends UpgradeSide {
  answer(code: AnswerCode, retryAfterSeconds: number, _close: boolean, fwd: ForwardedRequest): void {
    writeAnswer(this.req, this.duplex as ServerHttp2Stream, code, retryAfterSeconds, false, fwd);
  }

  protected refusalHead(status: number, _statusText: string, headers: string[]): void {
    respondHttp2(this.duplex as ServerHttp2Stream, status, headers);
  }

  protected accept(raw: Buffer[], extra: readonly string[]): number {
    const stream = this.duplex as ServerHttp2Stream;
    if (stream.closed || stream.headersSent) return 0;
    const relayed: string[] = [];
    pushNodeHeaders(relayed, raw);
    const headers: string[] = [];
    for (let i = 0; i < relayed.length; i += 2) {
      // The accept key answers the HTTP/1.1 handshake stickylb made, not the client's.
      if (relayed[i]!.toLowerCase() !== 'sec-websocket-accept') headers.push(relayed[i]!, relayed[i + 1]!);
    }
    headers.push(...extra);
    try {
      respondHttp2(stream, 200, headers);
      return 200;
    } catch {
      // A head node:http2 will not send (invalid characters): the stream is reset, never a throw.
      stream.destroy();
      return 0;
    }
  }
}
