/**
 * A WebSocket client over an HTTP/2 stream (RFC 8441), as browsers open one: an extended CONNECT
 * with `:protocol websocket`, then WebSocket frames in DATA frames. Text frames only, enough for the
 * fake node's hello and echo; frames the client sends are masked as RFC 6455 requires.
 */
import { randomBytes } from 'node:crypto';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';

/** An extended CONNECT stream and what came back on it. */
export interface H2Socket {
  readonly stream: ClientHttp2Stream;
  readonly headers: IncomingHttpHeaders;
  /** The response body when the handshake was refused (status not 200). */
  readonly body: Promise<string>;
  /** The next text message. */
  next(): Promise<string>;
  send(text: string): void;
  /** Resolves with the RST_STREAM code (0 for a clean end) once the stream closes. */
  readonly closed: Promise<number>;
}

/** Waits for the server's SETTINGS and checks it advertises extended CONNECT. */
export function connectProtocolEnabled(session: ClientHttp2Session): Promise<boolean> {
  return new Promise((resolve) => {
    if (session.remoteSettings.enableConnectProtocol !== undefined && session.connecting === false) {
      resolve(session.remoteSettings.enableConnectProtocol === true);
      return;
    }
    session.once('remoteSettings', (s) => resolve(s.enableConnectProtocol === true));
  });
}

/** Opens a WebSocket at `path` over `session`; resolves once the response headers arrive. */
export function openH2Socket(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
  protocol = 'websocket',
): Promise<H2Socket> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ':method': 'CONNECT',
        ':protocol': protocol,
        ':path': path,
        ':scheme': 'https',
        'sec-websocket-version': '13',
        ...headers,
      },
      { endStream: false },
    );
    let pending = Buffer.alloc(0);
    const messages: string[] = [];
    const waiters: Array<(m: string) => void> = [];
    const closed = new Promise<number>((r) => stream.once('close', () => r(stream.rstCode ?? 0)));
    let bodyText = '';
    const body = new Promise<string>((r) => stream.once('end', () => r(bodyText)));
    stream.on('error', () => {});
    stream.once('response', (h) => {
      const ok = h[':status'] === 200;
      stream.on('data', (chunk: Buffer) => {
        if (!ok) {
          bodyText += chunk.toString();
          return;
        }
        pending = Buffer.concat([pending, chunk]);
        for (let frame = parseFrame(pending); frame !== undefined; frame = parseFrame(pending)) {
          pending = pending.subarray(frame.size);
          const waiter = waiters.shift();
          if (waiter) waiter(frame.text);
          else messages.push(frame.text);
        }
      });
      resolve({
        stream,
        headers: h,
        body,
        closed,
        next: () =>
          new Promise<string>((r) => {
            const m = messages.shift();
            if (m !== undefined) r(m);
            else waiters.push(r);
          }),
        send: (text) => stream.write(maskedTextFrame(text)),
      });
    });
    stream.once('close', () => reject(new Error(`stream closed before a response (${stream.rstCode})`)));
  });
}

function parseFrame(buf: Buffer): { text: string; size: number } | undefined {
  if (buf.length < 2) return undefined;
  let len = buf[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  if (buf.length < offset + len) return undefined;
  return { text: buf.subarray(offset, offset + len).toString(), size: offset + len };
}

function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const head =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}
