// TLS at the front door, HTTP/1.1 and HTTP/2, side by side (issue 16): stickylb, HAProxy
// (`alpn h2,http/1.1`, cookie insert) and Caddy (Debian `caddy`, `reverse_proxy` with
// `lb_policy cookie`) on the same nginx backends, every request carrying its pin. One load tool for
// both protocols, h2load (Debian `nghttp2-client`): HTTP/1.1 with 50 connections, one request in
// flight on each; HTTP/2 with 10 connections and 5 streams in flight on each (50 requests in flight
// both ways, fewer connections as browsers do). Contenders take turns in rounds like bench/http.mjs;
// CPU per request is read from /proc around each run, ratios are medians of per-round ratios.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './http.mjs';
import { canPin, cpuMs, pin } from './lib/cpu.mjs';
import {
  freePort,
  start,
  startHaproxy,
  startNginxBackends,
  startStickylb,
  waitTls,
  workdir,
} from './lib/servers.mjs';
import { runLoad } from './lib/wrk.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const LOAD_CPU = '0';
const PROXY_CPU = '1';
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 8);
const SECRET = 'bench-secret-0123456789abcdef';

/** A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 (the usual choice for speed). */
export function makeCert() {
  const cert = join(workdir, 'tls-cert.pem');
  const key = join(workdir, 'tls-key.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days',
      '2',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const combined = join(workdir, 'tls-combined.pem');
  spawnSync('sh', ['-c', `cat ${cert} ${key} > ${combined}`]);
  return { cert, key, combined };
}

/** HAProxy terminating TLS with ALPN h2 and http/1.1, cookie insert, one thread. */
async function startHaproxyTls(nodes, tls) {
  const server = await startHaproxy(nodes, 1, [], tls);
  return { ...server, headers: { cookie: server.cookie } };
}

/** Caddy terminating TLS (h1 and h2), cookie load balancing; the pin is read from its first answer. */
export async function startCaddy(nodes, tls) {
  const port = await freePort();
  const file = join(workdir, 'Caddyfile');
  writeFileSync(
    file,
    `{
  admin off
  auto_https off
  default_sni localhost
  servers {
    protocols h1 h2
  }
}
https://127.0.0.1:${port} {
  tls ${tls.cert} ${tls.key}
  reverse_proxy ${nodes.map((n) => new URL(n.url).host).join(' ')} {
    lb_policy cookie lb ${SECRET}
    health_uri /__ping__
    health_interval 2s
  }
}
`,
  );
  const child = start('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], {
    XDG_DATA_HOME: workdir,
    XDG_CONFIG_HOME: workdir,
  });
  await waitTls(port);
  const cookie = await firstCookie(`https://127.0.0.1:${port}/1k`);
  return { url: `https://127.0.0.1:${port}`, child, headers: { cookie } };
}

/** The `name=value` of the first Set-Cookie of an answer from `url`. */
function firstCookie(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      const set = res.headers['set-cookie']?.[0];
      if (set === undefined) reject(new Error(`${url}: no Set-Cookie`));
      else resolve(set.split(';')[0]);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The bare forwarder behind node:http2's secure server (the Node ceiling at a TLS port). */
async function startBareTls(nodes, tls) {
  const port = await freePort();
  const child = start(process.execPath, [here('peers/undici-bare-tls.mjs')], {
    TARGET: nodes[0].url,
    PORT: String(port),
    TLS_CERT: tls.cert,
    TLS_KEY: tls.key,
  });
  await waitTls(port);
  return { url: `https://127.0.0.1:${port}`, child, headers: {} };
}

async function startStickylbTls(nodes, tls, cli = here('../dist/cli.js')) {
  const { affinityToken } = await import(here('../dist/affinity/token.js'));
  const server = await startStickylb(cli, nodes, SECRET, {}, tls);
  return { ...server, headers: { cookie: `stickylb=${affinityToken(SECRET, 'a')}` } };
}

/** Runs h2load; resolves with { rps, meanMs, errors }. */
function h2load(url, { h1, seconds, headers, cpus }) {
  const args = ['-t1', '-D', String(seconds)];
  if (h1) args.push('--h1', '-c50', '-m1');
  else args.push('-c10', '-m5');
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return runLoad('h2load', args, cpus).then((out) => {
    const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
    const req = /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored/.exec(
      out,
    );
    const codes = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    const sum = (m) => (m ? m.slice(1).reduce((a, b) => a + Number(b), 0) : 1);
    const errors = sum(req) + sum(codes);
    const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? '';
    const m = /^([\d.]+)(us|ms|s)$/.exec(mean);
    const meanMs = m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : Number.NaN;
    if (!Number.isFinite(rps)) console.error(out);
    return { rps, meanMs, errors };
  });
}

async function measure(server, protocol, seconds) {
  const load = canPin ? LOAD_CPU : undefined;
  const opts = { h1: protocol === 'HTTP/1.1', headers: server.headers, cpus: load };
  await h2load(`${server.url}/1k`, { ...opts, seconds: WARMUP_SECONDS });
  const before = cpuMs(server.child.pid);
  const r = await h2load(`${server.url}/1k`, { ...opts, seconds });
  const used = cpuMs(server.child.pid) - before;
  return { ...r, cpuUs: (used * 1000) / (r.rps * seconds) };
}

function stop(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGKILL');
  });
}

/** Rows { contender, protocol, rps, meanMs, errors, cpuUsPerRequest, rounds, cpuRounds }. */
export async function tlsBench({ seconds, rounds }) {
  const nodes = await startNginxBackends();
  if (canPin) pin(nodes.child.pid, LOAD_CPU);
  const tls = makeCert();
  const contenders = [
    { name: 'stickylb', start: () => startStickylbTls(nodes, tls) },
    // BENCH_BASELINE=/path/to/another/checkout: its build runs beside this one, paired (bench/http.mjs).
    ...(process.env.BENCH_BASELINE
      ? [
          {
            name: 'stickylb baseline',
            start: () => startStickylbTls(nodes, tls, `${process.env.BENCH_BASELINE}/dist/cli.js`),
          },
        ]
      : []),
    { name: 'bare node:http2 + undici', start: () => startBareTls(nodes, tls) },
    { name: 'HAProxy 2.6, 1 thread', start: () => startHaproxyTls(nodes, tls) },
    { name: 'Caddy 2.6', start: () => startCaddy(nodes, tls) },
  ].filter((c) => new RegExp(process.env.BENCH_TLS_FILTER ?? '').test(c.name));
  const cases = contenders.flatMap((c) => ['HTTP/1.1', 'HTTP/2'].map((protocol) => ({ ...c, protocol })));
  const runs = new Map(cases.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
      const server = await c.start();
      // Caddy (Go) runs several threads: it is held to the one core like the others.
      if (canPin) pin(server.child.pid, PROXY_CPU);
      try {
        runs.get(c).push(await measure(server, c.protocol, seconds));
      } finally {
        await stop(server.child);
      }
    }
  }
  await stop(nodes.child);
  return cases.map((c) => {
    const rs = runs.get(c);
    const row = {
      contender: c.name,
      protocol: c.protocol,
      rps: Math.round(median(rs.map((r) => r.rps))),
      meanMs: median(rs.map((r) => r.meanMs)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      cpuUsPerRequest: Math.round(median(rs.map((r) => r.cpuUs)) * 10) / 10,
      rounds: rs.map((r) => Math.round(r.rps)),
      cpuRounds: rs.map((r) => Math.round(r.cpuUs * 10) / 10),
    };
    console.error(
      `  TLS ${row.protocol} ${row.contender}: ${row.rps} req/s (rounds ${row.rounds.join(', ')}), ${row.cpuUsPerRequest} CPU us/req, mean ${row.meanMs} ms, errors ${row.errors}`,
    );
    return row;
  });
}
