// HTTP throughput, side by side in one run: direct nginx, HAProxy (cookie insert, redispatch),
// the bare node:http + undici forwarder (the Node ceiling), the http-proxy sticky peer, stickylb.
// Every request carries its pin. Load: wrk, keep-alive, 50 connections, one wrk thread.
import { fileURLToPath } from 'node:url';
import { startHaproxy, startNginxBackends, startPeer, startStickylb } from './lib/servers.mjs';
import { wrk } from './lib/wrk.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** Runs the HTTP comparison for each response size; resolves with rows. */
export async function httpBench({ seconds, sizes }) {
  const nodes = await startNginxBackends();
  const secret = 'bench-secret-0123456789abcdef';
  const { affinityToken } = await import(here('../dist/affinity/token.js'));
  const contenders = [
    { name: 'direct (nginx)', ...{ url: nodes[0].url }, headers: {} },
    { name: 'HAProxy 2.6, 1 thread', ...(await startHaproxy(nodes, 1)), headers: { Cookie: 'SERVERID=a' } },
    {
      name: 'bare node:http + undici',
      ...(await startPeer(here('peers/undici-bare.mjs'), { TARGET: nodes[0].url })),
      headers: {},
    },
    {
      name: 'http-proxy sticky peer',
      ...(await startPeer(here('peers/http-proxy-peer.mjs'), { TARGETS: JSON.stringify(nodes) })),
      headers: { Cookie: 'SRV=a' },
    },
    {
      name: '@fastify/http-proxy sticky peer',
      ...(await startPeer(here('peers/fastify-peer.mjs'), { TARGETS: JSON.stringify(nodes) })),
      headers: { Cookie: 'SRV=a' },
    },
    {
      name: 'stickylb',
      ...(await startStickylb(here('../dist/cli.js'), nodes, secret)),
      headers: { Cookie: `stickylb=${affinityToken(secret, 'a')}` },
    },
    { name: 'HAProxy 2.6, 2 threads', ...(await startHaproxy(nodes, 2)), headers: { Cookie: 'SERVERID=a' } },
    {
      name: 'stickylb, 2 workers',
      ...(await startStickylb(here('../dist/cli.js'), nodes, secret, { workers: 2 })),
      headers: { Cookie: `stickylb=${affinityToken(secret, 'a')}` },
    },
  ];
  const rows = [];
  for (const size of sizes) {
    for (const c of contenders) {
      const url = `${c.url}/${size}`;
      await wrk(url, { seconds: 2, headers: c.headers }); // warm-up: JIT, pools
      const r = await wrk(url, { seconds, headers: c.headers });
      rows.push({
        size,
        contender: c.name,
        rps: Math.round(r.rps),
        p50: r.p50,
        p99: r.p99,
        errors: r.errors,
      });
      console.error(
        `  ${size} ${c.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, errors ${r.errors}`,
      );
    }
  }
  return rows;
}
