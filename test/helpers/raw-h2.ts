/**
 * A raw HTTP/2 client that writes frames as a hostile client would (no flow control, no limits of
 * its own), for the hostile-HTTP/2 table: it reads the frames the server sends back and decodes only
 * what the tests check (GOAWAY and RST_STREAM codes, which streams got HEADERS).
 */
import { connect, type TLSSocket } from 'node:tls';
import { onTestFinished } from 'vitest';

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** One frame as bytes. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/**
 * HEADERS for GET `path` at `authority` (HPACK: indexed :method GET and :scheme https, literal
 * :path and :authority without indexing, and `extra` literal headers), ending the stream when
 * `end`.
 */
export function headers(
  stream: number,
  authority: string,
  path = '/',
  end = true,
  extra: Array<[string, string]> = [],
): Buffer {
  const parts = [Buffer.from([0x82, 0x87]), literal(4, path), literal(1, authority)];
  for (const [name, value] of extra) parts.push(literalNew(name, value));
  return frame(FRAME.HEADERS, 0x4 | (end ? 0x1 : 0), stream, Buffer.concat(parts));
}

export const rstStream = (stream: number, code = 8) => frame(FRAME.RST_STREAM, 0, stream, u32(code));
export const ping = (n: number) => frame(FRAME.PING, 0, 0, Buffer.concat([u32(0), u32(n)]));
export const settings = () => frame(FRAME.SETTINGS, 0, 0);

/** What the server sent on a raw connection. */
export interface RawH2 {
  readonly socket: TLSSocket;
  write(data: Buffer | Buffer[]): void;
  /** Resolves once the connection is closed, with everything the server sent. */
  readonly ended: Promise<ServerFrames>;
  /** What arrived so far. */
  readonly frames: ServerFrames;
}

export interface ServerFrames {
  goaway: number | undefined;
  /** RST_STREAM codes by stream. */
  resets: Map<number, number>;
  /** Streams that got a HEADERS frame. */
  answered: Set<number>;
}

/** Connects to `port` with ALPN h2 and sends the preface with empty SETTINGS. */
export function rawH2(port: number, ca: string | Buffer): Promise<RawH2> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
    onTestFinished(() => {
      socket.destroy();
    });
    const frames: ServerFrames = { goaway: undefined, resets: new Map(), answered: new Set() };
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const len = pending.readUIntBE(0, 3);
        if (pending.length < 9 + len) break;
        const type = pending[3]!;
        const flags = pending[4]!;
        const id = pending.readUInt32BE(5) & 0x7fffffff;
        const payload = pending.subarray(9, 9 + len);
        pending = pending.subarray(9 + len);
        if (type === FRAME.GOAWAY) frames.goaway = payload.readUInt32BE(4);
        else if (type === FRAME.RST_STREAM) frames.resets.set(id, payload.readUInt32BE(0));
        else if (type === FRAME.HEADERS) frames.answered.add(id);
        // Acknowledge the server's SETTINGS, as any client must.
        else if (type === FRAME.SETTINGS && (flags & 1) === 0) socket.write(frame(FRAME.SETTINGS, 1, 0));
      }
    });
    socket.on('error', () => {});
    const ended = new Promise<ServerFrames>((r) => socket.once('close', () => r(frames)));
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') {
        reject(new Error(`ALPN gave ${socket.alpnProtocol}`));
        return;
      }
      socket.write(Buffer.concat([PREFACE, settings()]));
      resolve({
        socket,
        frames,
        ended,
        write: (data) => socket.write(Array.isArray(data) ? Buffer.concat(data) : data),
      });
    });
    socket.once('error', reject);
  });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A literal header field without indexing, its name from the static table at `index`. */
function literal(index: number, value: string): Buffer {
  return Buffer.concat([Buffer.from([index]), hpackString(value)]);
}

/** A literal header field without indexing, with a new name. */
function literalNew(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0]), hpackString(name), hpackString(value)]);
}

/** An HPACK string, not Huffman-coded (7-bit prefixed length). */
function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s);
  const len: number[] = [];
  if (bytes.length < 127) len.push(bytes.length);
  else {
    len.push(127);
    let rest = bytes.length - 127;
    while (rest >= 128) {
      len.push((rest % 128) + 128);
      rest = Math.floor(rest / 128);
    }
    len.push(rest);
  }
  return Buffer.concat([Buffer.from(len), bytes]);
}
