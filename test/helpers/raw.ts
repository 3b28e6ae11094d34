/** Sends bytes on a raw TCP connection and collects the answer until the peer closes or `waitMs`. */
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Writes `payload` to `url`'s host:port and returns whatever comes back. */
export function rawExchange(url: string, payload: string | Buffer, waitMs = 2000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(payload);
  });
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
