/** Sends bytes on a raw TCP connection and collects the answer until the peer closes or `waitMs`. */
import { connect } from 'node:net';

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
