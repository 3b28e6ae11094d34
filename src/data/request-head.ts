/**
 * A client request as the data plane reads it, whatever its protocol: node:http's IncomingMessage
 * for HTTP/1.1, an `Http2Request` for an HTTP/2 stream. node's HTTP/2 compatibility layer would build
 * a request and a response object per stream, with a dozen listeners on the stream; the data plane
 * takes streams from node:http2's core API instead (http2-server.ts) and reads the head once from
 * the header object node hands over.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

/** What the forwarded headers, the router, the answers, spans and the exchange read of a request. */
export interface RequestHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** `[name, value, ...]` as received (HTTP/2: pseudo-headers first, cookies possibly split). */
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
  /** Over HTTP/2: the request's stream (its body, and where its answer is written). */
  readonly stream?: ServerHttp2Stream | undefined;
  /** The whole body has been received (or the request is gone). */
  readonly complete: boolean;
  /** Body bytes received and not read yet. */
  readonly readableLength: number;
}

/** An HTTP/2 request: a stream and its header block, in the shape of `RequestHead`. */
export class Http2Request implements RequestHead {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly stream: ServerHttp2Stream;
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  /** The connection's addresses (http2-server.ts reads them once per session). */
  readonly socket: Socket;
  #body: StreamBody | undefined;

  /**
   * `socket`: the connection's addresses; `method` overrides `:method` (an extended CONNECT is a GET
   * in HTTP/1.1 terms).
   */
  constructor(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    rawHeaders: string[],
    socket: Socket,
    method?: string,
  ) {
    this.stream = stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.method = method ?? (headers[':method'] as string);
    this.url = (headers[':path'] as string | undefined) ?? '/';
    this.socket = socket;
  }

  get complete(): boolean {
    const stream = this.stream;
    return stream.readableEnded || stream.destroyed;
  }

  get readableLength(): number {
    return this.stream.readableLength + (this.#body?.readableLength ?? 0);
  }

  /** The request body, made on first use. */
  get body(): Readable {
    this.#body ??= new StreamBody(this.stream);
    return this.#body;
  }
}

/** The body to stream upstream: the message itself over HTTP/1.1, the stream's body over HTTP/2. */
export function bodyOf(req: RequestHead): Readable {
  return req instanceof Http2Request ? req.body : (req as unknown as Readable);
}

/**
 * The readable side of an HTTP/2 stream as a body of its own. undici destroys a request body once
 * it is written (or failed); the stream itself must outlive that, since the answer is still to be
 * written on it. Destroying this body stops reading: what the client still sends is discarded (its
 * flow-control window keeps opening, RFC 9113 8.1 lets the answer come first).
 */
class StreamBody extends Readable {
  readonly #stream: ServerHttp2Stream;

  constructor(stream: ServerHttp2Stream) {
    super();
    this.#stream = stream;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onClose);
    stream.pause();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.#stream.pause();
  };

  readonly #onEnd = (): void => {
    this.push(null);
  };

  /** The client reset the stream before its body ended. */
  readonly #onClose = (): void => {
    if (!this.readableEnded && !this.destroyed) this.destroy(new Error('request stream closed'));
  };

  override _read(): void {
    this.#stream.resume();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const stream = this.#stream;
    stream.off('data', this.#onData);
    stream.off('end', this.#onEnd);
    stream.off('close', this.#onClose);
    if (!stream.readableEnded) stream.resume();
    callback(err);
  }
}
