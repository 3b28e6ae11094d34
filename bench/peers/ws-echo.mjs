// A WebSocket echo backend (and 200 for plain HTTP, so health checks pass). PORT=0 node ws-echo.mjs
import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((_req, res) => res.end('ok'));
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, binary) => ws.send(data, { binary }));
  ws.on('error', () => ws.terminate());
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
