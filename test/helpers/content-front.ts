/**
 * Connect's content routing in miniature, for end-to-end tests: a front on its own port that serves
 * `/content/{guid}/...` from an app listening at `/...` (as Connect serves each content under its
 * GUID), and any other path from the app as it is. HTTP requests and WebSocket upgrades alike; a
 * real Shiny app's relative URLs (its scripts, its WebSocket) then stay under the content's path,
 * where the browser sends the content's pin.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { onTestFinished } from 'vitest';

/** A running front: its URL, and `close()` which also drops every open connection. */
export interface ContentFront {
  readonly url: string;
  readonly port: number;
  close(): void;
}

const CONTENT = /^\/content\/[0-9a-fA-F-]{36}(\/.*)?$/;

function appPath(url: string | undefined): string {
  const m = CONTENT.exec(url ?? '/');
  return m === null ? (url ?? '/') : (m[1] ?? '/');
}

/** Starts a front for the app at `target` (`http://host:port`); closed after the test. */
export async function startContentFront(target: string, port = 0): Promise<ContentFront> {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const upstream = httpRequest(
      { hostname, port: targetPort, path: appPath(req.url), method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => {});
    const upstream = httpRequest({
      hostname,
      port: targetPort,
      path: appPath(req.url),
      headers: req.headers,
    });
    upstream.on('upgrade', (answer, socket: Socket, upHead: Buffer) => {
      const lines = [`HTTP/1.1 101 ${answer.statusMessage ?? 'Switching Protocols'}`];
      for (let i = 0; i < answer.rawHeaders.length; i += 2)
        lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
      client.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upHead.length > 0) client.write(upHead);
      if (head.length > 0) socket.write(head);
      socket.on('error', () => client.destroy());
      socket.pipe(client).pipe(socket);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    upstream.on('response', () => client.destroy());
    upstream.on('error', () => client.destroy());
    upstream.end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  const close = () => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  onTestFinished(close);
  return { url: `http://127.0.0.1:${actual}`, port: actual, close };
}
