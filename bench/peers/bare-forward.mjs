// The bare forwarder's request listener: node:http's request shape to undici Pool.dispatch, no
// features at all (no affinity, no forwarded headers, no metrics); hop-by-hop and HTTP/2
// pseudo-headers dropped. Shared by undici-bare.mjs (plain HTTP) and undici-bare-tls.mjs (TLS).
import { Pool } from 'undici';

const SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer']);
const skip = (name) => name.charCodeAt(0) === 58 || SKIP.has(name.toLowerCase());

let ids = 0;

/**
 * A request listener forwarding everything to `target`. `withHeaders`: it also adds what stickylb
 * adds for Connect, built the simplest way (the five forwarded headers, a request id and a
 * traceparent on the request, the request id on the answer), to split the cost of those headers
 * from the rest of stickylb's request path (docs/performance.md).
 */
export function bareForwarder(target, withHeaders = false) {
  const pool = new Pool(target, { connections: 128, pipelining: 1 });
  return (req, res) => {
    const headers = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!skip(raw[i])) headers.push(raw[i], raw[i + 1]);
    const id = withHeaders ? `bare-${++ids}` : '';
    if (withHeaders) {
      const host = req.headers.host ?? '';
      headers.push(
        'X-Request-Id',
        id,
        'Traceparent',
        `00-${'0'.repeat(16)}${ids.toString(16).padStart(16, '0')}-${'1'.repeat(16)}-00`,
        'X-Forwarded-For',
        req.socket.remoteAddress ?? '',
        'X-Forwarded-Proto',
        'http',
        'X-Forwarded-Host',
        host,
        'X-Forwarded-Port',
        String(req.socket.localPort ?? ''),
        'X-RSC-Request',
        `http://${host}${req.url}`,
      );
    }
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
          if (withHeaders) out.push('X-Request-Id', id);
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
  };
}
