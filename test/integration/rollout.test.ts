/**
 * Rolling the balancer (issue 24): two replicas behind an L4 balancer that takes a replica out when
 * its /readyz fails and never retries a connection elsewhere (HAProxy in TCP mode, `retries 0`, as
 * kube-proxy behaves). One replica gets SIGTERM under load from new and keep-alive connections:
 * with `shutdownDelay` no request fails, and WebSockets through the stopped replica reconnect
 * through the other to the same node.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startCliBalancer, writeConfig } from '../helpers/cli-process.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { freePort } from '../helpers/ports.js';
import { closed, openSocket } from '../helpers/ws.js';

const SECRET = 'rollout-secret-0123456789';
const hasHaproxy = spawnSync('haproxy', ['-v']).status === 0;

function getStatus(url: string, agent: Agent): Promise<number> {
  return new Promise((resolve) => {
    get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    }).on('error', () => resolve(0));
  });
}

async function startHaproxy(port: number, replicas: Array<{ port: number; admin: number }>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'stickylb-l4-'));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    [
      'global',
      '  maxconn 2000',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  retries 0',
      'frontend l4',
      `  bind 127.0.0.1:${port}`,
      '  default_backend replicas',
      'backend replicas',
      '  balance roundrobin',
      '  option httpchk GET /readyz',
      ...replicas.map(
        (r, i) => `  server r${i} 127.0.0.1:${r.port} check port ${r.admin} inter 300 fall 1 rise 1`,
      ),
      '',
    ].join('\n'),
  );
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: 'ignore' });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  await expect
    .poll(async () => {
      try {
        const res = await request(`http://127.0.0.1:${port}/__ping__`);
        await res.body.dump();
        return res.statusCode;
      } catch {
        return 0;
      }
    })
    .toBe(200);
}

describe.runIf(hasHaproxy || process.env.STICKYLB_REQUIRE_E2E === '1')('rolling the balancer', () => {
  it('SIGTERM to one of two replicas behind an L4 balancer under load: 0 failed requests; its WebSockets reconnect to the same node', async () => {
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const ports = await Promise.all(
      [0, 1].map(async () => ({ port: await freePort(), admin: await freePort() })),
    );
    const replicas = await Promise.all(
      ports.map((p) =>
        startCliBalancer(
          writeConfig({
            listen: { host: '127.0.0.1', port: p.port },
            admin: { host: '127.0.0.1', port: p.admin },
            affinity: { secret: SECRET },
            healthCheck: { interval: '200ms', timeout: '150ms' },
            upstreams: nodes.map((n) => ({ name: n.name, url: n.url })),
            shutdownDelay: '2s',
          }),
        ),
      ),
    );
    const l4 = await freePort();
    await startHaproxy(l4, ports);
    const front = `http://127.0.0.1:${l4}`;

    // Four WebSockets pinned to a and b, spread over both replicas by the L4 balancer.
    const pins = ['a', 'b', 'a', 'b'];
    const sockets = await Promise.all(
      pins.map((n) => openSocket(`${front}/ws`, `stickylb=${affinityToken(SECRET, n)}`)),
    );
    expect(sockets.map((s) => s.hello.hello)).toEqual(pins);

    let stop = false;
    let failed = 0;
    let served = 0;
    let servedWhileStopping = 0;
    let stopping = false;
    const count = (code: number) => {
      if (code === 200) {
        served++;
        if (stopping) servedWhileStopping++;
      } else failed++;
    };
    const fresh = async () => {
      while (!stop) count(await getStatus(`${front}/`, new Agent({ keepAlive: false })));
    };
    const keepAlive = async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (!stop) count(await getStatus(`${front}/`, agent));
      agent.destroy();
    };
    const load = [fresh(), fresh(), keepAlive(), keepAlive()];
    await expect.poll(() => served).toBeGreaterThan(100);

    stopping = true;
    const stopped = replicas[0]!;
    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toBe(0);
    stopping = false;
    await expect.poll(() => served).toBeGreaterThan(served + 100);
    stop = true;
    await Promise.all(load);
    console.log(
      `rollout: ${served} requests served, ${servedWhileStopping} while the replica stopped, ${failed} failed`,
    );
    expect(failed).toBe(0);
    expect(servedWhileStopping).toBeGreaterThan(0);

    // The stopped replica's WebSockets were cut (not closed cleanly); reconnected through the
    // L4 balancer, each lands on its node again.
    const cut: number[] = [];
    for (const [i, s] of sockets.entries()) if (s.ws.readyState !== s.ws.OPEN) cut.push(i);
    expect(cut.length).toBeGreaterThan(0);
    for (const i of cut) {
      expect(await closed(sockets[i]!.ws)).not.toBe(1000);
      const again = await openSocket(`${front}/ws`, `stickylb=${affinityToken(SECRET, pins[i]!)}`);
      expect(again.hello.hello).toBe(pins[i]);
    }
  }, 60_000);
});
