/**
 * Upgrade requests other than a WebSocket handshake are served as plain HTTP/1.1, the Upgrade header
 * ignored, as RFC 9110 section 7.8 allows. The common one is h2c: `curl --http2` and Java's
 * HttpClient send `Upgrade: h2c` on plain-HTTP requests, POSTs with bodies included. Tunnelling it
 * would take every later request on the connection past the sticky decision, and Connect does not
 * speak h2c anyway.
 *
 * node:http gives every upgrade request to the `upgrade` listener with its body unread and the socket
 * detached from its parser. The request head is rebuilt without the upgrade, put back in front of
 * the bytes already read, and the socket handed to node:http's own connection listener (the
 * documented way to inject a connection), which parses it as an ordinary request; the connection
 * then stays keep-alive like any other.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** True for a WebSocket handshake (RFC 6455: a GET whose Upgrade names `websocket`). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const upgrade = req.headers.upgrade;
  return upgrade?.split(',').some((t) => t.trim().toLowerCase() === 'websocket') === true;
}

/**
 * The request head of `req` as received, minus `Upgrade` and the `upgrade` token of `Connection`
 * (a `Connection` left with no token is dropped), so that it no longer parses as an upgrade.
 */
export function headWithoutUpgrade(req: IncomingMessage): Buffer {
  const raw = req.rawHeaders;
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade') continue;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && t.toLowerCase() !== 'upgrade')
        .join(', ');
      if (value === '') continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  // node:http decodes header bytes as latin1: this gives back the bytes the client sent.
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/**
 * Hands `socket` back to node:http as a fresh connection whose first request is `req` without its
 * upgrade. `connectionListener` is node:http's own (`connection` on an http.Server,
 * `secureConnection` on an https.Server), taken before anything wrapped it.
 */
export function serveAsPlainHttp(
  connectionListener: (socket: Duplex) => void,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  socket.unshift(
    head.length === 0 ? headWithoutUpgrade(req) : Buffer.concat([headWithoutUpgrade(req), head]),
  );
  connectionListener(socket);
}
