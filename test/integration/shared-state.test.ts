/**
 * Operator states that survive reloads, and that a fleet shares through a real PostgreSQL
 * (issue 14): a drain through any replica reaches every replica, survives restarts, and a store
 * that goes away stops no traffic and refuses changes rather than letting replicas diverge.
 */
import pg from 'pg';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { GUARDED_WRITE } from '../../src/control/shared-state.js';
import { startBalancer, type TestBalancer, testConfig, waitFor } from '../helpers/balancer.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';
import { Client } from '../helpers/http.js';
import { postgresBin, startPostgres } from '../helpers/postgres.js';

const TOKEN = 'test-admin-token-0123456789';

async function post(lb: TestBalancer, path: string) {
  const res = await request(`${lb.adminUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** Where six new clients land through `lb`. */
async function newClients(lb: TestBalancer): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) seen.push((await new Client(lb.url).get('/')).json.node as string);
  return [...new Set(seen)].sort();
}

const storeUp = async (lb: TestBalancer) => /^stickylb_state_store_up 1$/m.test(await lb.app.metrics.text());

describe('operator state across reloads', () => {
  it('a reload after an API drain keeps the drain; a YAML change of that node state wins', async () => {
    const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b'), startFakeNode('c')]);
    const tree = (states: Record<string, string> = {}) =>
      testConfig(nodes, {
        upstreams: nodes.map((n) => ({ name: n.name, url: n.url, state: states[n.name] ?? 'active' })),
      });
    const lb = await startBalancer(nodes);
    expect((await post(lb, '/api/nodes/a/drain')).status).toBe(200);
    // A reload that changes something else (c's state) keeps a's drain.
    lb.app.apply(parseConfig(tree({ c: 'draining' })));
    const a = lb.app.pool.get('a')!;
    expect(a.state).toBe('draining');
    expect(a.stateSource.origin).toBe('api');
    expect(lb.app.pool.get('c')!.state).toBe('draining');
    // The YAML now says something new for a: it wins.
    lb.app.apply(parseConfig(tree({ a: 'maintenance', c: 'draining' })));
    expect(a.state).toBe('maintenance');
    expect(a.stateSource.origin).toBe('config');
    const view = (await (await request(`${lb.adminUrl}/api/nodes/a`)).body.json()) as {
      stateSource: { origin: string };
      safeToStop: boolean;
    };
    expect(view.stateSource.origin).toBe('config');
    expect(view.safeToStop).toBe(true);
  });
});

describe.runIf(postgresBin() !== undefined || process.env.STICKYLB_REQUIRE_E2E === '1')(
  'operator state shared through PostgreSQL',
  () => {
    it('a drain through one replica reaches the other, survives its restart, and activate flows back', async () => {
      const pg = await startPostgres();
      const nodes: FakeNode[] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
      // Slow start off: an activated node takes its full share of new clients at once.
      const shared = { sharedState: { url: pg.url }, healthCheck: { slowStart: 0 } };
      const one = await startBalancer(nodes, shared);
      let two = await startBalancer(nodes, shared, { persistent: true });
      const a2 = () => two.app.pool.get('a')!;

      const drainedAt = Date.now();
      expect((await post(one, '/api/nodes/a/drain')).status).toBe(200);
      await waitFor(() => a2().state === 'draining', 3000, 'the drain reaches replica two');
      console.log(`drain reached the other replica after ${Date.now() - drainedAt} ms`);
      expect(a2().stateSource).toMatchObject({ origin: 'api' });
      expect(await newClients(two)).toEqual(['b']);

      // Restarted, replica two reads the shared states before it is ready.
      await two.close();
      two = await startBalancer(nodes, shared, { persistent: true });
      expect(a2().state).toBe('draining');

      expect((await post(two, '/api/nodes/a/activate')).status).toBe(200);
      await waitFor(() => one.app.pool.get('a')!.state === 'active', 3000, 'activate reaches replica one');
      expect(await newClients(one)).toEqual(['a', 'b']);
      await two.close();
    });

    it('PostgreSQL stopped: replicas keep serving with the last states and refuse changes; back: changes flow again', async () => {
      const pg = await startPostgres();
      const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
      const shared = { sharedState: { url: pg.url } };
      const [one, two] = [await startBalancer(nodes, shared), await startBalancer(nodes, shared)];
      expect((await post(one, '/api/nodes/b/drain')).status).toBe(200);
      await waitFor(() => two.app.pool.get('b')!.state === 'draining', 3000, 'drain shared');

      // Traffic through both replicas the whole time PostgreSQL is away and back.
      let failures = 0;
      let served = 0;
      let stop = false;
      const traffic = [one, two].map(async (lb) => {
        while (!stop) {
          const res = await new Client(lb.url).get('/').catch(() => ({ status: 0 }));
          if (res.status === 200) served++;
          else failures++;
        }
      });
      pg.stop();
      const refused = await post(two, '/api/nodes/a/maintenance');
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('STATE_STORE_UNAVAILABLE');
      for (const lb of [one, two]) {
        expect(lb.app.pool.get('a')!.state).toBe('active');
        expect(lb.app.pool.get('b')!.state).toBe('draining');
        expect(await newClients(lb)).toEqual(['a']);
      }
      await expect.poll(() => storeUp(one), { timeout: 15_000 }).toBe(false);

      pg.start();
      await expect.poll(() => storeUp(one), { timeout: 20_000 }).toBe(true);
      await expect.poll(() => storeUp(two), { timeout: 20_000 }).toBe(true);
      expect((await post(two, '/api/nodes/b/activate')).status).toBe(200);
      await waitFor(
        () => one.app.pool.get('b')!.state === 'active',
        3000,
        'activate after the store returned',
      );
      stop = true;
      await Promise.all(traffic);
      console.log(`requests while PostgreSQL stopped and restarted: ${served} served, ${failures} failed`);
      expect(served).toBeGreaterThan(50);
      expect(failures).toBe(0);
    }, 60_000);

    it('PostgreSQL hung (SIGSTOP, issue 22.1): a change answers 503 and marks the store down; resumed, it was applied nowhere', async () => {
      const pg = await startPostgres();
      const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
      const shared = { sharedState: { url: pg.url } };
      const [one, two] = [await startBalancer(nodes, shared), await startBalancer(nodes, shared)];
      await expect.poll(() => storeUp(one)).toBe(true);

      pg.pause();
      const refused = await post(one, '/api/nodes/a/maintenance');
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('STATE_STORE_UNAVAILABLE');
      // The operation that missed its deadline reported the store down at once.
      expect(await storeUp(one)).toBe(false);
      // The other replica notices through its own deadlined re-read.
      await expect.poll(() => storeUp(two), { timeout: 15_000 }).toBe(false);
      expect(await newClients(two)).toEqual(['a', 'b']);

      pg.resume();
      await expect.poll(() => storeUp(one), { timeout: 15_000 }).toBe(true);
      // A change after the store resumed flows to the other replica.
      expect((await post(two, '/api/nodes/b/drain')).status).toBe(200);
      await waitFor(() => one.app.pool.get('b')!.state === 'draining', 3000, 'drain after resume');
      expect(pg.sql("SELECT count(*) FROM stickylb_node_states WHERE node = 'a'")).toBe('0');
      for (const lb of [one, two]) expect(lb.app.pool.get('a')!.state).toBe('active');
    }, 60_000);

    it('a write the server reads after its deadline (a hang between its two steps) inserts and notifies nothing', async () => {
      const pgServer = await startPostgres();
      const nodes = await Promise.all([startFakeNode('a')]);
      await startBalancer(nodes, { sharedState: { url: pgServer.url } }); // creates the table
      const client = new pg.Client({ connectionString: pgServer.url });
      await client.connect();
      try {
        const late = await client.query(GUARDED_WRITE, [
          'a',
          'maintenance',
          'active',
          'r',
          '2000-01-01 00:00:00+00',
          3,
        ]);
        expect(late.rowCount).toBe(0);
        expect(pgServer.sql("SELECT count(*) FROM stickylb_node_states WHERE node = 'a'")).toBe('0');
        const now = await client.query<{ now: string }>('SELECT clock_timestamp()::text AS now');
        const inTime = await client.query(GUARDED_WRITE, [
          'a',
          'draining',
          'active',
          'r',
          now.rows[0]!.now,
          3,
        ]);
        expect(inTime.rowCount).toBe(1);
        expect(pgServer.sql("SELECT state FROM stickylb_node_states WHERE node = 'a'")).toBe('draining');
      } finally {
        await client.end();
      }
    });

    it('a dropped state table is created again by the next change (issue 22.6)', async () => {
      const pg = await startPostgres();
      const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
      const lb = await startBalancer(nodes, { sharedState: { url: pg.url } });
      await expect.poll(() => storeUp(lb)).toBe(true);
      pg.sql('DROP TABLE stickylb_node_states');
      expect((await post(lb, '/api/nodes/a/drain')).status).toBe(200);
      expect(pg.sql("SELECT state FROM stickylb_node_states WHERE node = 'a'")).toBe('draining');
      expect(await storeUp(lb)).toBe(true);
    });
  },
);
