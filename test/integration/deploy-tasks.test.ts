/**
 * Deploy tasks count toward "safe to stop" (issue 24): Connect builds a deploy in the memory of the
 * node that took it, and stopping that node fails it. The balancer reads the `task_id` of a
 * deploy's answer and holds the node until a poll through it reads the task finished; with a
 * shared store a deploy through one replica holds `drain --wait` through another.
 */
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { affinityToken } from '../../src/affinity/token.js';
import { startBalancer, type TestBalancer } from '../helpers/balancer.js';
import { CLI } from '../helpers/cli-process.js';
import { startFakeNode } from '../helpers/fake-node.js';
import { postgresBin, startPostgres } from '../helpers/postgres.js';

const TOKEN = 'test-admin-token-0123456789';
const PIN_A = `stickylb=${affinityToken('test-secret-0123456789abcdef', 'a')}`;

async function call(lb: TestBalancer, method: 'GET' | 'POST', path: string) {
  const res = await request(`${lb.url}${path}`, {
    method,
    headers: { cookie: PIN_A, 'content-type': 'application/json' },
    ...(method === 'POST' ? { body: '{}' } : {}),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

interface View {
  safeToStop: boolean;
  openTasks: number;
  waitingFor: string[];
}
const viewOf = async (lb: TestBalancer, node: string) =>
  (await (await request(`${lb.adminUrl}/api/nodes/${node}`)).body.json()) as View;

async function drainNode(lb: TestBalancer, node: string): Promise<void> {
  const res = await request(`${lb.adminUrl}/api/nodes/${node}/drain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await res.body.dump();
  expect(res.statusCode).toBe(200);
}

/** `stickylb drain NODE --wait` as a process: its output so far, and its exit code. */
function drainWait(lb: TestBalancer, node: string) {
  const child = spawn(
    process.execPath,
    [CLI, 'drain', node, '--admin', lb.adminUrl, '--token', TOKEN, '--wait', '--timeout', '60s'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { out: () => out, exited };
}

describe('deploy tasks and safe to stop', () => {
  it('a building deploy keeps its node from being safe to stop until a poll reads it finished (v1 and the older API)', async () => {
    const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
    const lb = await startBalancer([a, b]);
    await a.tasks('hold');
    const started = await call(lb, 'POST', '/__api__/v1/content/c1/deploy');
    const task = started.json.task_id as string;
    await drainNode(lb, 'a');
    expect(await viewOf(lb, 'a')).toMatchObject({
      safeToStop: false,
      openTasks: 1,
      waitingFor: ['1 deploy task'],
    });
    // Polled while it builds: still open.
    expect((await call(lb, 'GET', `/__api__/v1/tasks/${task}?wait=1`)).json.finished).toBe(false);
    expect((await viewOf(lb, 'a')).openTasks).toBe(1);
    await a.tasks('finish');
    // The older API's poll reads it finished.
    expect((await call(lb, 'GET', `/__api__/tasks/${task}`)).json.finished).toBe(true);
    expect(await viewOf(lb, 'a')).toMatchObject({ safeToStop: true, openTasks: 0, waitingFor: [] });
    expect((await viewOf(lb, 'b')).openTasks).toBe(0);
  });

  it('a task nobody polls is forgotten after connect.taskTimeout', async () => {
    const a = await startFakeNode('a');
    const lb = await startBalancer([a], { connect: { taskTimeout: '300ms' } });
    await a.tasks('hold');
    await call(lb, 'POST', '/__api__/v1/content/c1/deploy');
    await drainNode(lb, 'a');
    expect((await viewOf(lb, 'a')).openTasks).toBe(1);
    await expect.poll(async () => (await viewOf(lb, 'a')).safeToStop).toBe(true);
  });

  describe.runIf(postgresBin() !== undefined || process.env.STICKYLB_REQUIRE_E2E === '1')(
    'two replicas, shared store',
    () => {
      it('a deploy through one replica holds drain --wait through the other until it finishes', async () => {
        const pg = await startPostgres();
        const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
        const shared = { sharedState: { url: pg.url } };
        const [one, two] = [await startBalancer([a, b], shared), await startBalancer([a, b], shared)];
        await a.tasks('hold');
        const task = (await call(one, 'POST', '/__api__/v1/content/c1/deploy')).json.task_id as string;
        await drainNode(two, 'a');
        await expect.poll(async () => (await viewOf(two, 'a')).openTasks, { timeout: 10_000 }).toBe(1);
        const waiting = drainWait(two, 'a');
        await expect.poll(() => waiting.out(), { timeout: 10_000 }).toContain('a: waiting for 1 deploy task');
        await a.tasks('finish');
        expect((await call(one, 'GET', `/__api__/v1/tasks/${task}`)).json.finished).toBe(true);
        expect(await waiting.exited).toBe(0);
        expect(waiting.out()).toContain('a: safe to stop');
      }, 60_000);

      it('a task another replica saw finish is closed on every replica, also when it finished while PostgreSQL was down (issue 32.6)', async () => {
        const pg = await startPostgres();
        const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
        const shared = { sharedState: { url: pg.url } };
        const [one, two] = [await startBalancer([a, b], shared), await startBalancer([a, b], shared)];
        await a.tasks('hold');
        const first = (await call(one, 'POST', '/__api__/v1/content/c1/deploy')).json.task_id as string;
        await expect.poll(async () => (await viewOf(two, 'a')).openTasks, { timeout: 10_000 }).toBe(1);
        await a.tasks('finish');
        // Polled finished through the other replica: the one that saw it start lets it go too.
        expect((await call(two, 'GET', `/__api__/v1/tasks/${first}`)).json.finished).toBe(true);
        await expect.poll(async () => (await viewOf(one, 'a')).openTasks, { timeout: 10_000 }).toBe(0);
        // A deploy, then PostgreSQL down while it finishes: the write waits for the store.
        await a.tasks('hold');
        const second = (await call(one, 'POST', '/__api__/v1/content/c1/deploy')).json.task_id as string;
        await expect.poll(async () => (await viewOf(two, 'a')).openTasks, { timeout: 10_000 }).toBe(1);
        pg.stop();
        await a.tasks('finish');
        expect((await call(one, 'GET', `/__api__/v1/tasks/${second}`)).json.finished).toBe(true);
        pg.start();
        await expect.poll(async () => (await viewOf(two, 'a')).openTasks, { timeout: 15_000 }).toBe(0);
        expect((await viewOf(one, 'a')).openTasks).toBe(0);
      }, 60_000);
    },
  );
});
