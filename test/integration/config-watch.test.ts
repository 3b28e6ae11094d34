/**
 * `watchConfig`: the configuration follows its file with no signal, the way editors and Kubernetes
 * change it (issue 14).
 */
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { affinityToken } from '../../src/affinity/token.js';
import { type BalancerProcess, loopbackConfig, startCliBalancer } from '../helpers/cli-process.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { openSocket, roundTrip } from '../helpers/ws.js';

const tree = (nodes: FakeNode[]) =>
  stringify(
    loopbackConfig(nodes, {
      affinity: { secret: 'watch-secret-0123456789' },
      healthCheck: { interval: '200ms', timeout: '150ms' },
    }),
  );

/** Until a new client lands on `name` (it joined and is up). */
async function servedBy(lb: BalancerProcess, name: string): Promise<void> {
  await expect
    .poll(
      async () => {
        for (let i = 0; i < 6; i++) if ((await new Client(lb.url).get('/')).json.node === name) return true;
        return false;
      },
      { timeout: 10_000, interval: 200 },
    )
    .toBe(true);
}

const reloads = async (lb: BalancerProcess, result: string) =>
  Number(
    new RegExp(`stickylb_config_reloads_total\\{result="${result}"\\} (\\d+)`).exec(
      await (await request(`${lb.adminUrl}/metrics`)).body.text(),
    )?.[1],
  );

describe('watchConfig', () => {
  it('a node added by an atomic rename of the file takes traffic without a signal; an invalid edit is ignored and counted', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const dir = mkdtempSync(join(tmpdir(), 'stickylb-watch-'));
    const file = join(dir, 'stickylb.yaml');
    writeFileSync(file, tree([a]));
    const lb = await startCliBalancer(file);
    // As editors save: write a temporary file beside it, rename it over the original.
    writeFileSync(join(dir, '.stickylb.yaml.swp'), tree([a, b]));
    renameSync(join(dir, '.stickylb.yaml.swp'), file);
    await servedBy(lb, 'b');

    writeFileSync(file, 'upstreams: []\n');
    await expect.poll(() => reloads(lb, 'failure'), { timeout: 10_000 }).toBe(1);
    expect((await new Client(lb.url).get('/')).status).toBe(200);
  });

  it('a ConfigMap update (the ..data symlink swapped atomically) is applied', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    // The layout kubelet writes for a ConfigMap volume mounted as a directory.
    const mount = mkdtempSync(join(tmpdir(), 'stickylb-configmap-'));
    const version = (name: string, text: string) => {
      mkdirSync(join(mount, name));
      writeFileSync(join(mount, name, 'config.yaml'), text);
    };
    version('..2026_11_28_09_00_00.1', tree([a]));
    symlinkSync('..2026_11_28_09_00_00.1', join(mount, '..data'));
    symlinkSync('..data/config.yaml', join(mount, 'config.yaml'));
    const lb = await startCliBalancer(join(mount, 'config.yaml'));

    version('..2026_11_28_09_05_00.2', tree([a, b]));
    symlinkSync('..2026_11_28_09_05_00.2', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    await servedBy(lb, 'b');
    expect(await reloads(lb, 'success')).toBe(1);
  });

  it('a file written in place in two parts 700 ms apart is applied once, whole: the nodes of its second half never leave (issue 22.4)', async () => {
    const [a, b, c] = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const dir = mkdtempSync(join(tmpdir(), 'stickylb-watch-'));
    const file = join(dir, 'stickylb.yaml');
    // upstreams last, so that the first part alone is a valid file listing only a.
    const { upstreams: _, ...rest } = loopbackConfig([], {
      affinity: { secret: 'watch-secret-0123456789' },
      healthCheck: { interval: '200ms', timeout: '150ms' },
    });
    const entry = (n: FakeNode) => `  - name: ${n.name}\n    url: ${n.url}\n`;
    const head = `${stringify(rest)}upstreams:\n${entry(a)}`;
    writeFileSync(file, head + entry(b));
    const lb = await startCliBalancer(file);
    await servedBy(lb, 'b');
    const onB = await openSocket(`${lb.url}/ws`, `stickylb=${affinityToken('watch-secret-0123456789', 'b')}`);
    expect(onB.hello.hello).toBe('b');

    // An editor or script writing in place: the first part, a pause, then the rest.
    writeFileSync(file, head);
    await new Promise((r) => setTimeout(r, 700));
    appendFileSync(file, entry(b) + entry(c));
    await servedBy(lb, 'c');
    expect(await reloads(lb, 'success')).toBe(1);
    expect((await roundTrip(onB.ws, 'still on b')).data.toString()).toContain('still on b');
  });
});
