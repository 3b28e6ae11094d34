/**
 * A closed client connection or HTTP/2 stream lets go of its listeners.
 *
 * On Node 24 (not Node 20) a closed socket or node:http2 stream is kept alive by V8's
 * young-generation collections until a full collection, and with it everything its listeners
 * reach: the exchange, its route and head, the node's request. Those objects were then copied and
 * promoted to the old generation instead of dying young, so each request paid for its own
 * collection twice (docs/performance.md: on HTTP/2, 2.5 KB promoted per request and 13 µs of
 * collector time; on HTTP/1.1 with a connection per request, 1.2 KB). Dropping the listeners at
 * 'close' leaves the closed object nothing of stickylb's to keep.
 */
import type { EventEmitter } from 'node:events';

/**
 * Drops every listener of `emitter`, which has closed, and keeps its errors ignored. Called from a
 * 'close' listener: the later ones of that emit still run (an emit works on a copy of its
 * listeners).
 */
export function release(emitter: EventEmitter): void {
  // A 'removeListener' listener first (node:http2's on a stream counts a session's 'priority' and
  // 'frameError' listeners, which stickylb never adds): without it the rest go in one step, not
  // one event per listener.
  emitter.removeAllListeners('removeListener');
  emitter.removeAllListeners();
  emitter.on('error', ignore);
}

/** The `connection` listener: the socket is released once closed. */
export function releaseOnClose(socket: EventEmitter): void {
  socket.on('close', () => release(socket));
}

function ignore(): void {}
