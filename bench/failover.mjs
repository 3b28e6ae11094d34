// Failover: a pinned client sends a GET every 10 ms; its node is SIGKILLed. Measured: time from the
// kill to the client's first success on another node, and failed requests in the 3 s after the
// kill. stickylb (defaults: checks every 2s, timeout 1s, fall 3) vs HAProxy with the same check
// timing, cookie insert and `option redispatch`, in one run.
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { start, startHaproxy, startStickylb } from './lib/servers.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const FIXTURE = here('../test/fixtures/fake-connect.mjs');

async function fakeNode(name) {
  const child = start(process.execPath, [FIXTURE, '--name', name]);
  const port = await new Promise((resolve) => {
    child.stdout.on('data', function onData() {
      const line = child.output.split('\n')[0];
      if (child.output.includes('\n')) {
        child.stdout.off('data', onData);
        resolve(JSON.parse(line).port);
      }
    });
  });
  return { name, url: `http://127.0.0.1:${port}`, child };
}

async function measure(url, cookie, victim) {
  const agent = new Agent({ connections: 1 });
  const get = async () => {
    try {
      const res = await request(`${url}/`, {
        dispatcher: agent,
        headers: { cookie, accept: 'application/json' },
      });
      const body = await res.body.text();
      return res.statusCode === 200 ? JSON.parse(body).node : null;
    } catch {
      return null;
    }
  };
  for (let i = 0; i < 20; i++)
    if ((await get()) !== victim.name) throw new Error('client not pinned to the victim');
  const killedAt = performance.now();
  victim.child.kill('SIGKILL');
  let firstSuccess;
  let failed = 0;
  let total = 0;
  while (performance.now() - killedAt < 3000) {
    const node = await get();
    total++;
    if (node === null) failed++;
    else if (firstSuccess === undefined && node !== victim.name) firstSuccess = performance.now() - killedAt;
    await new Promise((r) => setTimeout(r, 10));
  }
  await agent.destroy();
  return { msToFirstSuccess: firstSuccess === undefined ? null : Math.round(firstSuccess), failed, total };
}

/** Runs the failover comparison. */
export async function failoverBench() {
  const rows = [];
  {
    const nodes = [await fakeNode('a'), await fakeNode('b')];
    const haproxy = await startHaproxy(nodes, 1, [
      'timeout check 1s',
      'default-server inter 2s fall 3 rise 2',
    ]);
    rows.push({
      contender: 'HAProxy 2.6 (redispatch)',
      ...(await measure(haproxy.url, 'SERVERID=a', nodes[0])),
    });
  }
  {
    // HAProxy tuned as far as its documentation allows: redispatch on the first retry, retries on
    // every retryable error (these are GETs), and a short connect timeout (the turn-around before a
    // retry).
    const nodes = [await fakeNode('a'), await fakeNode('b')];
    const haproxy = await startHaproxy(nodes, 1, [
      'timeout check 1s',
      'default-server inter 2s fall 3 rise 2',
      'option redispatch 1',
      'retry-on all-retryable-errors',
      'timeout connect 100ms',
    ]);
    rows.push({
      contender: 'HAProxy 2.6 (redispatch 1, retry-on all-retryable-errors, connect 100ms)',
      ...(await measure(haproxy.url, 'SERVERID=a', nodes[0])),
    });
  }
  {
    const nodes = [await fakeNode('a'), await fakeNode('b')];
    const secret = 'bench-secret-0123456789abcdef';
    const { affinityToken } = await import(here('../dist/affinity/token.js'));
    const lb = await startStickylb(here('../dist/cli.js'), nodes, secret);
    rows.push({
      contender: 'stickylb',
      ...(await measure(lb.url, `stickylb=${affinityToken(secret, 'a')}`, nodes[0])),
    });
  }
  for (const r of rows) console.error(`  failover ${r.contender}: ${JSON.stringify(r)}`);
  return rows;
}
