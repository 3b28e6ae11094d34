/** What a finished span carries and where it goes (the one interface both sides of the lazy import share). */

/** A finished request or WebSocket session. */
export interface FinishedSpan {
  readonly kind: 'http' | 'websocket';
  readonly method: string;
  /** The request target as received (the query is not exported). */
  readonly target: string;
  readonly status: number;
  /** The node that answered, if any. */
  readonly node: string | undefined;
  /** Why the client was moved to another node (re-pin reason), if it was. */
  readonly repin: string | undefined;
  /** Attempts beyond the first. */
  readonly retries: number;
  /** Bytes to the client (HTTP: the response body; WebSocket: from the node). */
  readonly bytesOut: number;
  /** WebSocket: bytes from the client to the node. */
  readonly bytesIn: number;
  /** Epoch milliseconds (fractional). */
  readonly startMs: number;
  readonly endMs: number;
  /** The `traceparent` sent to the node: this span's trace and span ids. */
  readonly traceparent: string;
  /** The client's `traceparent` as received (the parent when it was continued). */
  readonly parent: string | undefined;
  readonly requestId: string;
}

/** Where finished spans go. */
export interface SpanSink {
  record(span: FinishedSpan): void;
  /** Exports what is queued and stops. */
  shutdown(): Promise<void>;
}
