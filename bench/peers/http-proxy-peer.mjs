// The Node peer a user writes first: a sticky proxy on http-proxy 1.18 with a keep-alive agent.
// TARGETS='[{"name":"a","url":"http://127.0.0.1:1"}]' PORT=0 node http-proxy-peer.mjs
import http from 'node:http';
import httpProxy from 'http-proxy';

const targets = JSON.parse(process.env.TARGETS);
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (res.writeHead && !res.headersSent) res.writeHead(502);
  res.end();
});
let next = 0;
const server = http.createServer((req, res) => {
  const m = /(?:^|;\s*)SRV=([^;]+)/.exec(req.headers.cookie ?? '');
  let target = targets.find((t) => t.name === m?.[1]);
  if (!target) {
    target = targets[next++ % targets.length];
    res.setHeader('set-cookie', `SRV=${target.name}; Path=/; HttpOnly`);
  }
  proxy.web(req, res, { target: target.url });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
