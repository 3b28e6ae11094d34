// Starts the processes a benchmark compares: nginx backends, HAProxy, Node peers, stickylb.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const workdir = mkdtempSync(join(tmpdir(), 'stickylb-bench-'));
const children = new Set();

/** Kills every process started here. */
export function stopAll() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}
process.on('exit', stopAll);

/** A free loopback port. */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Installs Debian packages that are missing (root, apt-get). */
export function ensureDebian(binaries) {
  const missing = Object.entries(binaries).filter(
    ([bin]) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0,
  );
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg);
  console.error(`bench: installing ${pkgs.join(' ')}`);
  spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
  const r = spawnSync('apt-get', ['install', '-y', '-q', ...pkgs], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) throw new Error(`cannot install ${pkgs.join(' ')}`);
}

/** Spawns a process and keeps track of it. */
export function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(child);
  child.output = '';
  child.stdout.on('data', (c) => (child.output += c));
  child.stderr.on('data', (c) => (child.output += c));
  return child;
}

/** Waits until `url` answers (any status). */
export async function waitHttp(url, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not answer`);
}

/** Two nginx "Connect nodes" serving /1k, /64k and /__ping__, one worker process. */
/** A content GUID whose files the nginx nodes serve at `/content/{guid}/1k` and `/64k`. */
export const BENCH_CONTENT = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';

export async function startNginxBackends() {
  const ports = [await freePort(), await freePort()];
  const root = join(workdir, 'www');
  spawnSync('mkdir', ['-p', root]);
  writeFileSync(join(root, '1k'), 'x'.repeat(1024));
  writeFileSync(join(root, '64k'), 'y'.repeat(64 * 1024));
  writeFileSync(join(root, '__ping__'), 'ok');
  // The same files under a content's path (bench/http.mjs's content-path row).
  const content = join(root, 'content', BENCH_CONTENT);
  spawnSync('mkdir', ['-p', content]);
  writeFileSync(join(content, '1k'), 'x'.repeat(1024));
  writeFileSync(join(content, '64k'), 'y'.repeat(64 * 1024));
  const servers = ports
    .map(
      (p) =>
        `server { listen 127.0.0.1:${p}; root ${root}; access_log off; keepalive_requests 1000000; keepalive_timeout 300s; location / { } }`,
    )
    .join('\n');
  // master_process off: one process, so stopping it leaves no orphaned workers behind.
  const conf = `master_process off; worker_processes 1; daemon off; pid ${workdir}/nginx.pid; error_log ${workdir}/nginx.err warn; user root;
events { worker_connections 4096; }
http { default_type text/plain; sendfile on; tcp_nodelay on; client_body_temp_path ${workdir}; proxy_temp_path ${workdir}; fastcgi_temp_path ${workdir}; uwsgi_temp_path ${workdir}; scgi_temp_path ${workdir};
${servers} }`;
  writeFileSync(join(workdir, 'nginx.conf'), conf);
  const child = start('nginx', ['-c', join(workdir, 'nginx.conf'), '-p', workdir]);
  for (const p of ports) await waitHttp(`http://127.0.0.1:${p}/__ping__`);
  const nodes = ports.map((p, i) => ({ name: i === 0 ? 'a' : 'b', url: `http://127.0.0.1:${p}` }));
  // Not an element: JSON.stringify(nodes) still lists only the nodes.
  nodes.child = child;
  return nodes;
}

/**
 * HAProxy with cookie insert and option redispatch, `threads` threads; with `tls` ({ combined }:
 * certificate and key in one PEM) it terminates TLS with ALPN h2 and http/1.1.
 */
export async function startHaproxy(
  nodes,
  threads = 1,
  defaultsExtra = [],
  tls = undefined,
  balance = ['balance leastconn'],
) {
  const port = await freePort();
  const cfg = `global
  nbthread ${threads}
  maxconn 9900
defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 300s
  option http-keep-alive
  option forwardfor
  option redispatch
  retries 2
${defaultsExtra.map((l) => `  ${l}`).join('\n')}
frontend fe
  bind 127.0.0.1:${port}${tls ? ` ssl crt ${tls.combined} alpn h2,http/1.1` : ''}
  default_backend be
backend be
${balance.map((l) => `  ${l}`).join('\n')}
  cookie SERVERID insert indirect nocache httponly${tls ? ' secure' : ''}
  http-reuse always
  option httpchk GET /__ping__
${nodes.map((n) => `  server ${n.name} ${new URL(n.url).host} cookie ${n.name} check inter 2s`).join('\n')}
`;
  const file = join(workdir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const child = start('haproxy', ['-f', file, '-db']);
  if (tls) await waitTls(port);
  else await waitHttp(`http://127.0.0.1:${port}/__ping__`);
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, cookie: 'SERVERID=a', child };
}

/** A Node peer from bench/peers, given its env (and node flags, such as `--cpu-prof`). */
export async function startPeer(script, env, nodeArgs = []) {
  const port = await freePort();
  const child = start(process.execPath, [...nodeArgs, script], { ...env, PORT: String(port) });
  await waitHttp(`http://127.0.0.1:${port}/__ping__`);
  return { url: `http://127.0.0.1:${port}`, child };
}

/**
 * stickylb from dist/, with every default feature on (affinity, forwarded headers, metrics, logs).
 * `tls` ({ cert, key, http2 }) serves HTTPS (HTTP/2, unless `http2` is false, and HTTP/1.1 by ALPN)
 * instead of plain HTTP.
 */
export async function startStickylb(cli, nodes, secret, extra = {}, tls = undefined, nodeArgs = []) {
  const port = await freePort();
  const admin = await freePort();
  const file = join(workdir, `stickylb-${port}.yaml`);
  const listen = tls
    ? `listen: { host: 127.0.0.1, port: ${port}, http2: ${tls.http2 ?? true}, tls: { cert: "${tls.cert}", key: "${tls.key}" } }`
    : `listen: { host: 127.0.0.1, port: ${port} }`;
  const yaml = [
    listen,
    `admin: { host: 127.0.0.1, port: ${admin} }`,
    `affinity: { secret: ${secret} }`,
    'upstreams:',
    ...nodes.map((n) => `  - { name: ${n.name}, url: "${n.url}" }`),
    ...Object.entries(extra).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ].join('\n');
  writeFileSync(file, yaml);
  const child = start(process.execPath, [...nodeArgs, cli, '--config', file]);
  await waitHttp(`http://127.0.0.1:${admin}/healthz`);
  // Wait for the first probes so every node is up.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${admin}/readyz`);
    await res.arrayBuffer();
    if (res.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const scheme = tls ? 'https' : 'http';
  // With workers the primary may answer before every worker listens.
  if (tls) await waitTls(port);
  else await waitHttp(`http://127.0.0.1:${port}/__ping__`);
  return { url: `${scheme}://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${admin}`, child };
}

/** Waits until a TLS listener on `port` completes a handshake. */
export async function waitTls(port, timeoutMs = 10_000) {
  const { connect } = await import('node:tls');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`TLS on ${port} did not answer`);
}
