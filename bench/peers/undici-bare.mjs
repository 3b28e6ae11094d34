// The ceiling of a Node forwarding proxy: node:http + undici Pool.dispatch, no features at all
// (no affinity, no forwarded headers, no metrics). TARGET=http://127.0.0.1:1 PORT=0 node undici-bare.mjs
import http from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.env.TARGET, { connections: 128, pipelining: 1 });
const SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer']);
const server = http.createServer((req, res) => {
  const headers = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2)
    if (!SKIP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
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
          if (!SKIP.has(k.toLowerCase())) out.push(k, rawHeaders[i + 1].toString('latin1'));
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
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
