/**
 * Clients that keep no cookies (issue 15): Connect API keys find their node on every replica
 * (rule 8), and deploy task polls find the node that holds their task (rule 9).
 */
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startBalancer, type TestBalancer } from '../helpers/balancer.js';
import { type FakeNode, startFakeNode } from '../helpers/fake-node.js';

/** One request with no cookie at all; `key` as Connect's `Authorization: Key ...` when given. */
async function call(lb: TestBalancer, method: 'GET' | 'POST', path: string, key?: string, body?: string) {
  const res = await request(`${lb.url}${path}`, {
    method,
    headers: { accept: 'application/json', ...(key ? { authorization: `Key ${key}` } : {}) },
    body: body ?? null,
  });
  const json = (await res.body.json()) as Record<string, unknown>;
  return { status: res.statusCode, json, setCookie: res.headers['set-cookie'] };
}

/** rsconnect's steps: upload a bundle, deploy it, poll the task; every call to the next replica. */
async function deploy(replicas: TestBalancer[], key: string | undefined, n: number) {
  let turn = n;
  const next = () => replicas[turn++ % replicas.length]!;
  const guid = `content-${n}`;
  const bundle = await call(next(), 'POST', `/__api__/v1/content/${guid}/bundles`, key, 'x'.repeat(10_000));
  expect(bundle.status).toBe(200);
  const started = await call(next(), 'POST', `/__api__/v1/content/${guid}/deploy`, key, '{}');
  expect(started.status).toBe(200);
  const task = started.json.task_id as string;
  const polls = [];
  for (let i = 0; i < 3; i++)
    polls.push(await call(next(), 'GET', `/__api__/v1/tasks/${task}?first=${i}&wait=0`, key));
  polls.push(await call(next(), 'GET', `/__api__/tasks/${task}?first_status=0`, key));
  return { task, polls };
}

async function fleet(extra: Record<string, unknown> = {}) {
  const nodes = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
  // Two replicas with the same YAML; neither knows of the other.
  const replicas = [await startBalancer(nodes, extra), await startBalancer(nodes, extra)];
  return { nodes, replicas };
}

const found = async (lb: TestBalancer, result: string) =>
  Number(
    new RegExp(`stickylb_task_lookups_total\\{result="${result}"\\} (\\d+)`).exec(
      await lb.app.metrics.text(),
    )?.[1],
  );

describe('clients without cookies', () => {
  it('ten deploys with an API key, each call to the other replica, reach one node by the key alone', async () => {
    // Task lookup off: only rule 8 can make this work.
    const { replicas } = await fleet({ connect: { taskLookup: false } });
    for (let n = 0; n < 10; n++) {
      const { task, polls } = await deploy(replicas, `api-key-${n}`, n);
      for (const poll of polls) {
        expect(poll.status).toBe(200);
        expect(poll.json.id).toBe(task);
      }
      // The answer still carries the cookie, for clients that keep it.
      expect(String(polls[0]!.setCookie)).toMatch(/^stickylb=/);
    }
  });

  it('ten deploys with no key and no cookie: each task poll finds the node that holds the task', async () => {
    const { replicas } = await fleet();
    for (let n = 0; n < 10; n++) {
      const { task, polls } = await deploy(replicas, undefined, n);
      for (const poll of polls) {
        expect(poll.status).toBe(200);
        expect(poll.json.id).toBe(task);
      }
    }
    // Least-loaded choice sends about half the polls to the other node: the lookup found them.
    expect((await found(replicas[0]!, 'found')) + (await found(replicas[1]!, 'found'))).toBeGreaterThan(0);
  });

  it('a task that exists nowhere gets a prompt 404 after one try per node', async () => {
    const { replicas } = await fleet();
    const res = await call(replicas[0]!, 'GET', '/__api__/v1/tasks/NoSuchTask0000000?first=0&wait=0');
    expect(res.status).toBe(404);
    expect(res.json.code).toBe(4);
    expect(await found(replicas[0]!, 'not_found')).toBe(1);
  });

  it('a node killed between the deploy and the polls: the key moves to a live node, which answers an honest 404, not a 502', async () => {
    const { nodes, replicas } = await fleet({ healthCheck: { interval: '10s', timeout: '1s' } });
    const started = await call(replicas[0]!, 'POST', '/__api__/v1/content/c/deploy', 'the-key', '{}');
    const task = started.json.task_id as string;
    const holder = nodes.find((n: FakeNode) => task.startsWith(`T${n.name}x`))!;
    await holder.kill();
    for (const lb of replicas) {
      const poll = await call(lb, 'GET', `/__api__/v1/tasks/${task}`, 'the-key');
      expect(poll.status).toBe(404);
      expect(poll.json.node).not.toBe(holder.name);
    }
  });

  it('polls of random task ids cost the nodes a bounded number of lookups, the rest refused and counted (issue 22.5)', async () => {
    const nodes = await Promise.all(['a', 'b', 'c', 'd'].map((n) => startFakeNode(n)));
    const lb = await startBalancer(nodes);
    const polls = 400;
    for (let i = 0; i < polls; i++) {
      const id = `Rnd${String(i).padStart(13, '0')}`;
      expect((await call(lb, 'GET', `/__api__/v1/tasks/${id}`)).status).toBe(404);
    }
    const asked = (await Promise.all(nodes.map((n) => n.state()))).reduce((sum, s) => sum + s.taskPolls, 0);
    const metrics = await lb.app.metrics.text();
    const count = (result: string) =>
      Number(new RegExp(`stickylb_task_lookups_total\\{result="${result}"\\} (\\d+)`).exec(metrics)?.[1]);
    // Each poll asked its node; only the lookups the budget allowed asked the 3 others.
    expect(count('not_found') + count('refused')).toBe(polls);
    expect(count('not_found')).toBeLessThan(polls / 2);
    expect(asked).toBe(polls + 3 * count('not_found'));
  });
});
