// The ceiling of a Node forwarding proxy at a TLS port: the bare forwarder of undici-bare.mjs behind
// node:http2's secure server with allowHTTP1 (HTTP/2 and HTTP/1.1 by ALPN, the compatibility API),
// as stickylb's TLS listener is built. No features at all.
// TARGET=http://127.0.0.1:1 PORT=0 TLS_CERT=cert.pem TLS_KEY=key.pem node undici-bare-tls.mjs
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { Pool } from 'undici';

const pool = new Pool(process.env.TARGET, { connections: 128, pipelining: 1 });
const SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer']);
const skip = (name) => name.charCodeAt(0) === 58 || SKIP.has(name.toLowerCase());
const server = createSecureServer(
  { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY), allowHTTP1: true },
  (req, res) => {
    const headers = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!skip(raw[i])) headers.push(raw[i], raw[i + 1]);
    pool.dispatch(
      {
        path: req.url,
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
      },
      {
        onConnect() {},
        onHeaders(status, rawHeaders, resume) {
          const out = [];
          for (let i = 0; i < rawHeaders.length; i += 2) {
            const k = rawHeaders[i].toString('latin1');
            if (!skip(k)) out.push(k, rawHeaders[i + 1].toString('latin1'));
          }
          res.writeHead(status, out);
          res.on('drain', resume);
          return true;
        },
        onData(chunk) {
          return res.write(chunk);
        },
        onComplete() {
          res.end();
        },
        onError() {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        },
      },
    );
  },
);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
