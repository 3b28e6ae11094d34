/** Starting a node:http server and naming where it listens; used by both planes. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts `server` on `port` and `host`. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** `http(s)://host:port` of a listening server (a wildcard address as its loopback). */
export function urlOf(server: Server, secure: boolean): string {
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `${secure ? 'https' : 'http'}://${shown}:${addr.port}`;
}
