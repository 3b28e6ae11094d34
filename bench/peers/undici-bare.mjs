// The ceiling of a Node forwarding proxy: node:http + undici Pool.dispatch, no features at all
// (bare-forward.mjs). TARGET=http://127.0.0.1:1 PORT=0 node undici-bare.mjs
import http from 'node:http';
import { bareForwarder } from './bare-forward.mjs';

// BARE_HEADERS=1: with the headers stickylb adds for Connect (bare-forward.mjs).
const server = http.createServer(bareForwarder(process.env.TARGET, process.env.BARE_HEADERS === '1'));
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
// An orderly exit on Ctrl-C, so that `--cpu-prof` writes its profile (bench/profile.mjs).
process.once('SIGINT', () => server.close(() => process.exit(0)));
