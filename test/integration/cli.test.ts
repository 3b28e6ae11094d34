import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { CLI, loopbackConfig, runCli, startCliBalancer, writeConfig } from '../helpers/cli-process.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { closed, openSocket } from '../helpers/ws.js';

describe('command line', () => {
  it('--check exits 0 for a valid file', () => {
    const file = writeConfig({ upstreams: [{ name: 'a', url: 'http://127.0.0.1:3939' }] });
    const r = runCli(['--config', file, '--check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid');
  });

  it('--check prints one path: problem line per problem and no stack trace', () => {
    const file = writeConfig({
      upstreams: [
        { name: 'a', url: 'nope' },
        { name: 'a', url: 'http://x', weight: 0 },
      ],
      healthCheck: { interval: 'soon' },
      extra: true,
    });
    const r = runCli(['--config', file, '--check']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'extra: unknown key',
        expect.stringMatching(/^upstreams\[0\]\.url: /),
        expect.stringMatching(/^upstreams\[1\]\.weight: /),
        expect.stringMatching(/^healthCheck\.interval: /),
      ]),
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reads STICKYLB_CONFIG and ${VAR} from the environment', () => {
    const file = writeConfig(
      'upstreams:\n  - name: a\n    url: ${NODE_A_URL}\naffinity:\n  secret: ${SECRET}\n',
    );
    expect(
      runCli(['--check'], {
        STICKYLB_CONFIG: file,
        NODE_A_URL: 'http://10.1.1.1:3939',
        SECRET: 'x'.repeat(20),
      }).code,
    ).toBe(0);
    const missing = runCli(['--check'], {
      STICKYLB_CONFIG: file,
      NODE_A_URL: 'http://10.1.1.1:3939',
      SECRET: '',
    });
    expect(missing.stderr).toContain('affinity.secret: environment variable SECRET is not set');
  });

  it('reports unreadable files and invalid YAML without a stack', () => {
    expect(runCli(['--config', '/nonexistent.yaml', '--check']).stderr).toContain(
      '/nonexistent.yaml: cannot read (ENOENT)',
    );
    const r = runCli(['--config', writeConfig('upstreams: [\n'), '--check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^yaml \(line \d+, column \d+\)/);
  });

  it('--help, --version and unknown flags', () => {
    expect(runCli(['--help']).stdout).toContain('--config FILE');
    expect(runCli(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(runCli(['--bogus']).code).toBe(2);
  });

  it('streams a 256 MB upload intact with balancer RSS growth under 64 MB', async () => {
    const node = await startFakeNode('a');
    const lb = await startCliBalancer(
      writeConfig(loopbackConfig([node], { affinity: { secret: 'cli-test-secret-0123456789' } })),
    );
    await (await request(`${lb.url}/`)).body.dump();
    // A first upload grows the heap and socket buffers to their working size, so that the baseline
    // is taken from a warm process and the growth measured is what the big body itself costs.
    const warm = await request(`${lb.url}/upload`, { method: 'POST', body: Buffer.alloc(32 * 1024 * 1024) });
    expect(((await warm.body.json()) as { bytes: number }).bytes).toBe(32 * 1024 * 1024);
    const baseline = lb.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, lb.rss());
    }, 25);
    const total = 256 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = (i * 7919) & 0xff;
    const hash = createHash('sha256');
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= total) {
          this.push(null);
          return;
        }
        block[0] = sent / block.length;
        const chunk = Buffer.from(block);
        hash.update(chunk);
        sent += chunk.length;
        this.push(chunk);
      },
    });
    const res = await request(`${lb.url}/upload`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const result = (await res.body.json()) as { bytes: number; sha256: string };
    clearInterval(sampler);
    expect(result.bytes).toBe(total);
    expect(result.sha256).toBe(hash.digest('hex'));
    expect(peak - baseline).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);

  it('a second SIGTERM exits at once, without waiting for in-flight requests', async () => {
    const node = await startFakeNode('a');
    const lb = await startCliBalancer(writeConfig(loopbackConfig([node])));
    const slow = request(`${lb.url}/slow?ms=20000`).catch(() => 'cut');
    await node.serving(1);
    lb.child.kill('SIGTERM');
    // The first signal is being handled once readiness fails.
    await expect
      .poll(async () => (await request(`${lb.adminUrl}/readyz`).catch(() => ({ statusCode: 0 }))).statusCode)
      .toBe(503);
    lb.child.kill('SIGTERM');
    expect(await lb.exited).toBe(1);
    expect(await slow).toBe('cut');
  });

  it('two replica processes with the same config agree on every cookie', async () => {
    const [a, b, c] = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const file = writeConfig(
      loopbackConfig([a, b, c], { affinity: { secret: 'replica-secret-0123456789' } }),
    );
    const [one, two] = await Promise.all([startCliBalancer(file), startCliBalancer(file)]);
    for (let i = 0; i < 6; i++) {
      const first = await request(`${one.url}/`, { headers: { accept: 'application/json' } });
      const cookie = String(first.headers['set-cookie']).split(';')[0]!;
      const node = ((await first.body.json()) as { node: string }).node;
      const other = await request(`${two.url}/`, { headers: { accept: 'application/json', cookie } });
      expect(((await other.body.json()) as { node: string }).node).toBe(node);
      expect(other.headers['set-cookie']).toBeUndefined();
    }
  });

  it('SIGTERM lets a slow request finish, cuts WebSockets, exits 0', async () => {
    const node = await startFakeNode('a');
    const lb = await startCliBalancer(writeConfig(loopbackConfig([node])));
    const sock = await openSocket(`${lb.url}/ws`);
    const code = closed(sock.ws);
    const slow = request(`${lb.url}/slow?ms=700`);
    await node.serving(1);
    lb.child.kill('SIGTERM');
    expect(await code).toBe(1006);
    const res = await slow;
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { slow: boolean }).slow).toBe(true);
    expect(await lb.exited).toBe(0);
  });
});

describe('stickylb adopted', () => {
  it("names the node another balancer's cookie sends a client to, from the configuration alone", () => {
    const file = writeConfig({
      upstreams: [
        { name: 'connect1', url: 'http://10.0.0.1:3939' },
        { name: 'connect2', url: 'http://10.0.0.2:3939' },
      ],
      affinity: {
        adopt: [
          { cookie: 'SRV', kind: 'haproxy' },
          { cookie: 'posit-connect', kind: 'ingress-nginx', backend: 'posit-connect-80' },
        ],
      },
    });
    const haproxy = runCli(['adopted', '--config', file, '--cookie', 'other=1; SRV=connect2']);
    expect(haproxy.code).toBe(0);
    expect(haproxy.stdout).toBe(
      'SRV=connect2 (haproxy): connect2 (http://10.0.0.2:3939), while it takes new clients\n',
    );
    // md5("posit-connect-80" + "10.0.0.1:3939"), as ingress-nginx writes it before its `|`.
    const key = createHash('md5').update('posit-connect-8010.0.0.1:3939').digest('hex');
    const nginx = runCli(['adopted', '--config', file, '--cookie', `posit-connect=${key}|x`]);
    expect(nginx.stdout).toContain(': connect1 (http://10.0.0.1:3939)');
    const none = runCli(['adopted', '--config', file, '--cookie', 'SRV=gone']);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('names no node');
    expect(runCli(['adopted', '--config', file]).code).toBe(2);
  });
});

describe('stickylb drain', () => {
  /** Runs `stickylb drain ...` as a process; resolves with its exit code and output. */
  const drain = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'drain', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.stderr.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.on('exit', (code) => resolve({ code, out }));
    });

  it('--wait exits 0 once the node holds no WebSocket, 3 at the deadline while it still holds one', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const token = 'drain-admin-token-0123456789';
    const lb = await startCliBalancer(
      writeConfig(
        loopbackConfig([a, b], {
          admin: { host: '127.0.0.1', port: 0, token },
          affinity: { secret: 'drain-secret-0123456789' },
        }),
      ),
    );
    const pin = `stickylb=${affinityToken('drain-secret-0123456789', 'a')}`;
    const sock = await openSocket(`${lb.url}/ws`, pin);
    const common = ['a', '--admin', lb.adminUrl, '--token', token, '--wait'];
    const late = await drain([...common, '--timeout', '1500ms']);
    expect(late.code).toBe(3);
    expect(late.out).toContain('still holds 1 WebSocket at the deadline');
    const waiting = drain([...common, '--timeout', '20s']);
    sock.ws.close();
    const done = await waiting;
    expect(done.code).toBe(0);
    expect(done.out).toContain('a: safe to stop');
    expect((await drain(['a', '--admin', lb.adminUrl, '--token', 'wrong-token-0123456789'])).code).toBe(1);
  });

  it('--timeout bounds the whole command when the admin API stops answering (issue 32.12)', async () => {
    // An admin API that accepts and never answers: the POST, or a poll, hangs.
    const held: Socket[] = [];
    const silent = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    onTestFinished(() => {
      for (const s of held) s.destroy();
      silent.close();
    });
    const admin = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const hung = await drain(['a', '--admin', admin, '--wait', '--timeout', '1s']);
    expect(hung.code).toBe(1);
    expect(hung.out).toContain('no answer within 1s');
  });
});
