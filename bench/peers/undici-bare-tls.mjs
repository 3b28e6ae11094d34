// The ceiling of a Node forwarding proxy at a TLS port: the bare forwarder (bare-forward.mjs) behind
// node:http2's secure server with allowHTTP1 (HTTP/2 and HTTP/1.1 by ALPN, the compatibility API),
// as stickylb's TLS listener is built.
// TARGET=http://127.0.0.1:1 PORT=0 TLS_CERT=cert.pem TLS_KEY=key.pem node undici-bare-tls.mjs
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { bareForwarder } from './bare-forward.mjs';

const server = createSecureServer(
  { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY), allowHTTP1: true },
  bareForwarder(process.env.TARGET),
);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
