// The floor of a Node WebSocket proxy: a bare node:net pipe (no HTTP, no affinity), for memory per
// socket next to stickylb. TARGET_PORT=1 PORT=0 node tcp-pipe.mjs
import net from 'node:net';

const target = Number(process.env.TARGET_PORT);
const server = net.createServer((client) => {
  const upstream = net.connect(target, '127.0.0.1');
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
