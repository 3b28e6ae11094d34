/**
 * The client's side of an HTTP exchange: the node's response head, filtered once (hop-by-hop.ts)
 * with the pins' Set-Cookie lines and the request id, then its body chunk by chunk with
 * backpressure. Nothing is buffered: a client that stops reading pauses the node (undici's
 * `resume` waits for 'drain'), and the exchange times that stall (timeouts.clientSend).
 */
import type { ServerResponse } from 'node:http';
import { type AnswerCode, writeAnswer } from '../answers.js';
import type { ClientSide } from '../client-side.js';
import type { ForwardedRequest } from '../forwarded-headers.js';
import { pushNodeHeaders } from '../hop-by-hop.js';
import { type Reply, writeReplyHead } from '../reply.js';
import type { RequestHead } from '../request-head.js';
import { pushSetCookies, type Route } from '../router.js';

/** One response on its way to the client. */
export class ResponseRelay implements ClientSide {
  readonly #req: RequestHead;
  readonly #res: Reply;
  /** The node's status, once its head was written. */
  status = 0;
  /** Body bytes written. */
  bytes = 0;
  /** The chunk that completed the Content-Length was sent with the end. */
  ended = false;
  /** Waiting for 'drain': the client has not taken what was written. */
  blocked = false;
  /** The response's Content-Length (-1: none). */
  #bodyLength = -1;
  #resume: (() => void) | undefined;
  /** The 'drain' listener, made on the first stall only (no closure per request otherwise). */
  #drain: (() => void) | undefined;

  constructor(req: RequestHead, res: Reply) {
    this.#req = req;
    this.#res = res;
  }

  // On the prototype, not fields: nothing more to set up per request.
  get kind(): 'http' {
    return 'http';
  }

  get upgrade(): null {
    return null;
  }

  get headersSent(): boolean {
    return this.#res.headersSent;
  }

  watch(listener: () => void): void {
    // `on`, not `once`: 'close' fires once anyway and `once` allocates a wrapper per request.
    this.#res.on('close', listener);
  }

  /**
   * Writes the node's head (`close`: the connection ends after it); `resume` restarts a node paused
   * by a stall. Throws when node:http refuses a header the node sent (invalid characters).
   */
  head(
    status: number,
    rawHeaders: Buffer[],
    route: Route,
    fwd: ForwardedRequest,
    close: boolean,
    statusText: string,
    resume: () => void,
  ): void {
    const headers: string[] = [];
    this.#bodyLength = pushNodeHeaders(headers, rawHeaders);
    pushSetCookies(headers, route, fwd.secure);
    headers.push('X-Request-Id', fwd.requestId);
    this.status = status;
    this.#resume = resume;
    writeReplyHead(this.#req, this.#res, status, headers, close, statusText);
  }

  /** Writes `chunk`; false when the client has not taken it yet ('drain' resumes the node). */
  write(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes === this.#bodyLength) {
      // The last chunk: sent with the end (over HTTP/2, in the DATA frame that ends the stream,
      // not in a frame of its own).
      this.ended = true;
      this.#res.end(chunk);
      return true;
    }
    if (this.#res.write(chunk)) return true;
    this.blocked = true;
    this.#drain ??= () => {
      this.blocked = false;
      this.#resume?.();
    };
    this.#res.once('drain', this.#drain);
    return false;
  }

  /**
   * The node failed mid-response: the client must see its response cut, never a clean end. A head
   * node:http still holds (HTTP/1.1 sends it with the first body bytes) goes out first and the
   * connection then ends with the body short of its length or last chunk, as HAProxy relays such an
   * answer; otherwise the connection (or the HTTP/2 stream) is reset.
   */
  cut(): void {
    const res = this.#res as ServerResponse;
    if (this.#req.stream === undefined && this.bytes === 0 && res.socket !== null && !res.socket.destroyed) {
      res.flushHeaders();
      res.socket.end();
      return;
    }
    this.#res.destroy();
  }

  /** Ends the response, unless its last chunk did. */
  end(): void {
    if (!this.ended) this.#res.end();
  }

  destroy(): void {
    this.#res.destroy();
  }

  answer(code: AnswerCode, retryAfterSeconds: number, close: boolean, fwd: ForwardedRequest): void {
    writeAnswer(this.#req, this.#res, code, retryAfterSeconds, close, fwd);
  }

  /** Never called: an HTTP exchange dispatches no upgrade (`upgrade` is null). */
  open(): number {
    return 0;
  }
}
