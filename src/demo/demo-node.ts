/**
 * A built-in demo node for `npm start` without a configuration: Connect-like enough to show
 * stickiness (`/__ping__`, `/__api__/server_settings`, a page that names the node serving it and keeps
 * a WebSocket open that ticks with the node's name).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** A running demo node. */
export interface DemoNode {
  readonly name: string;
  readonly url: string;
  close(): Promise<void>;
}

const PAGE = (
  name: string,
) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>stickylb demo · ${name}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:10vh auto;padding:0 1rem}code{background:#eef;padding:.1rem .3rem}#ws{color:#1f9d55}</style></head>
<body><h1>Served by <code id="node">${name}</code></h1>
<p>Reload: you stay on this node (the <code>stickylb</code> cookie pins you). Drain or stop it from the admin status page and reload to move.</p>
<p>WebSocket: <span id="ws">connecting…</span></p>
<script>
function connect(){
  const ws = new WebSocket((location.protocol==='https:'?'wss://':'ws://')+location.host+'/ws');
  ws.onmessage = (e) => { document.getElementById('ws').textContent = e.data; };
  ws.onclose = () => { document.getElementById('ws').textContent = 'disconnected, reconnecting…'; setTimeout(connect, 1000); };
}
connect();
</script></body></html>`;

/** Starts a demo node called `name` on 127.0.0.1 (port 0 picks a free port). */
export async function startDemoNode(name: string, port = 0): Promise<DemoNode> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/__ping__') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('pong');
    } else if (path === '/__api__/server_settings') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version: 'demo', hostname: name }));
    } else if (req.headers.accept?.includes('application/json')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ node: name, method: req.method, url: req.url, headers: req.headers }));
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE(name));
    }
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    let n = 0;
    const timer = setInterval(() => ws.send(`connected to ${name} · tick ${++n}`), 1000);
    ws.send(`connected to ${name}`);
    ws.on('close', () => clearInterval(timer));
    ws.on('error', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
