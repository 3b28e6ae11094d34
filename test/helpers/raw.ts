/**
 * Sends bytes on a raw TCP connection and collects the answer: until the peer closes, or as soon as
 * every request the payload holds has its complete response (no fixed wait); `waitMs` bounds only a
 * peer that does neither (a HEAD with a length, a body until close, garbage that gets no answer).
 */
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Writes `payload` to `url`'s host:port and returns whatever comes back. */
export function rawExchange(url: string, payload: string | Buffer, waitMs = 2000): Promise<string> {
  const { hostname, port } = new URL(url);
  const expected = requestsIn(payload);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (expected > 0 && completeResponses(Buffer.concat(chunks).toString('latin1')) >= expected) done();
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.write(payload);
  });
}

/** HTTP/1.x request lines in `payload` (pipelined requests each get a response). */
export function requestsIn(payload: string | Buffer): number {
  const text = typeof payload === 'string' ? payload : payload.toString('latin1');
  return text.match(/^[A-Z]+ \S+ HTTP\/1\.[01]\r\n/gm)?.length ?? 0;
}

/**
 * Complete HTTP/1.x responses at the start of `text`: heads with their Content-Length or chunked
 * body, or none for 204/304; a 101 ends the count (what follows is not HTTP); interim 1xx answers
 * are not counted. A body framed by the close is never complete.
 */
export function completeResponses(text: string): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return count;
    const head = text.slice(at, end);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? Number.NaN);
    if (Number.isNaN(status)) return count;
    let next = end + 4;
    if (status === 101) return count + 1;
    if (status >= 100 && status < 200) {
      at = next;
      continue;
    }
    if (status !== 204 && status !== 304) {
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (length !== null) {
        next += Number(length[1]);
        if (text.length < next) return count;
      } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const last = text.indexOf('\r\n0\r\n\r\n', end);
        if (last < 0) return count;
        next = last + 7;
      } else {
        return count;
      }
    }
    count++;
    at = next;
  }
}

/** The JSON body of a raw HTTP/1.1 response with Content-Length or chunked encoding. */
export function rawJsonBody(response: string): Record<string, unknown> {
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  return JSON.parse(body.slice(start, end + 1)) as Record<string, unknown>;
}

/**
 * Sends a PROXY `header` in clear, then `payload` over TLS on the same connection (`ca` trusts the
 * balancer's certificate); resolves with everything read until the server closes. `delayMs` > 0 starts
 * the handshake that much later, so that the hello travels in a packet of its own.
 */
export function proxiedTlsExchange(
  url: string,
  header: string,
  payload: string,
  ca: string,
  delayMs = 0,
): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const raw = connect(Number(port), hostname, () => {
      raw.write(header);
      const handshake = () => {
        const secure = tlsConnect({ socket: raw, ca, servername: 'localhost' }, () => secure.write(payload));
        let out = '';
        secure.on('data', (d: Buffer) => (out += d.toString('latin1')));
        secure.on('close', () => resolve(out));
        secure.on('error', reject);
      };
      // In the same tick the hello joins the header in one read on the balancer's side.
      if (delayMs === 0) handshake();
      else setTimeout(handshake, delayMs);
    });
  });
}
