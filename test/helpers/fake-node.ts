/** Spawns the fake Connect node (test/fixtures/fake-connect.mjs) as a real process. */
import { type ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished } from 'vitest';

const FIXTURE = fileURLToPath(new URL('../fixtures/fake-connect.mjs', import.meta.url));

/** Handle to a fake node process. */
export interface FakeNode {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGKILL and wait for the process to be gone. */
  kill(): Promise<void>;
  /** Sets the status `/__ping__` answers with (or flapping). */
  setPing(status: number, flap?: boolean): Promise<void>;
  /**
   * What the node is doing: `active` /slow and /hang requests (a /hang one once its whole body
   * arrived), and open `upgrades` (connections that asked for one, answered or not).
   */
  state(): Promise<NodeState>;
  /** Connect's idle timeout, now: the node's processes with no session end. */
  reap(): Promise<void>;
  /** Resolves once `active` requests are being served. */
  serving(active: number): Promise<void>;
  /** `hold`: deploy tasks started from now on keep building; `finish`: every task finishes. */
  tasks(action: 'hold' | 'finish'): Promise<void>;
  /** The content list the node's /__api__/v1/content reports from now on. */
  setContents(list: Array<{ guid: string; content_url: string }>): Promise<void>;
  /** The processes the node's /__api__/metrics/procs reports from now on. */
  setProcs(procs: Array<{ appGuid: string; type: string; ram?: number }>): Promise<void>;
  /**
   * Makes `content` fail on this node from now on (its ping stays 200): `500` pages and 503
   * refused handshakes, `reset` connections dropped before a head; `off` mends it.
   */
  breakContent(content: string, mode: '500' | 'reset' | 'off'): Promise<void>;
  /** Page loads and handshakes of each content the node was asked: `{"GUID ok": n, "GUID failed": n}`. */
  contentHits(): Promise<Record<string, number>>;
}

/** What a fake node reports of itself (/__control__/state). */
export interface NodeState {
  /** Requests being served (/slow, /hang). */
  active: number;
  /** Open connections that asked for an upgrade. */
  upgrades: number;
  taskPolls: number;
  /** Connect's process model: processes started for a session (cold starts), alive now and at most. */
  coldStarts: number;
  processes: number;
  peakProcesses: number;
  /** Sessions (WebSockets under /content/{guid}/) open now. */
  sessions: number;
}

/** Options for a fake node. */
export interface FakeNodeOptions {
  /** Loopback address to listen on (default 127.0.0.1; any 127.x.y.z works on Linux). */
  host?: string;
  port?: number;
  skewMs?: number;
  version?: string;
  /** Accept-queue length (default 511). */
  backlog?: number;
  /** Keep running after the current test (for beforeAll use). */
  persistent?: boolean;
  /** Sessions per process (Connect's MaxConnsPerProcess; default 20). */
  maxConns?: number;
  /** A cold start's delay before the session's 101 (default 0). */
  coldMs?: number;
}

/** Starts a fake node called `name`; killed after the test unless `persistent`. */
export async function startFakeNode(name: string, options: FakeNodeOptions = {}): Promise<FakeNode> {
  const host = options.host ?? '127.0.0.1';
  const args = [FIXTURE, '--name', name, '--host', host, '--port', String(options.port ?? 0)];
  if (options.skewMs) args.push('--skew-ms', String(options.skewMs));
  if (options.version) args.push('--version', options.version);
  if (options.backlog !== undefined) args.push('--backlog', String(options.backlog));
  if (options.maxConns !== undefined) args.push('--max-conns', String(options.maxConns));
  if (options.coldMs !== undefined) args.push('--cold-ms', String(options.coldMs));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`fake node ${name} exited with ${code}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const node: FakeNode = {
    name,
    port,
    url: `http://${host}:${port}`,
    process: child,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    setPing: async (status, flap = false) => {
      const res = await fetch(
        `http://127.0.0.1:${port}/__control__/ping?status=${status}&flap=${flap ? 1 : 0}`,
      );
      await res.arrayBuffer();
    },
    state: () => nodeState(host, port),
    reap: async () => {
      const res = await fetch(`http://127.0.0.1:${port}/__control__/reap`);
      await res.arrayBuffer();
    },
    breakContent: async (content, mode) => {
      const res = await fetch(`http://127.0.0.1:${port}/__control__/broken?content=${content}&mode=${mode}`);
      await res.arrayBuffer();
    },
    contentHits: async () =>
      (await (await fetch(`http://127.0.0.1:${port}/__control__/content-hits`)).json()) as Record<
        string,
        number
      >,
    setContents: async (list) => {
      const res = await fetch(`http://127.0.0.1:${port}/__control__/contents`, {
        method: 'POST',
        body: JSON.stringify(list),
      });
      await res.arrayBuffer();
    },
    setProcs: async (list) => {
      const res = await fetch(`http://127.0.0.1:${port}/__control__/procs`, {
        method: 'POST',
        body: JSON.stringify(list),
      });
      await res.arrayBuffer();
    },
    tasks: async (action) => {
      const res = await fetch(`http://127.0.0.1:${port}/__control__/${action}-tasks`);
      await res.arrayBuffer();
    },
    serving: async (active) => {
      await expect.poll(async () => (await nodeState(host, port)).active, { interval: 10 }).toBe(active);
    },
  };
  if (!options.persistent) onTestFinished(() => node.kill());
  return node;
}

/** The node's /__control__/state, over a connection of its own (no pooled one is counted). */
function nodeState(host: string, port: number): Promise<NodeState> {
  return new Promise((resolve, reject) => {
    get({ host, port, path: '/__control__/state', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve(JSON.parse(body) as NodeState));
    }).on('error', reject);
  });
}

/** A node that stops accepting connections: stopped, its one-slot accept queue filled. */
export async function unreachableNode(name: string): Promise<FakeNode> {
  const node = await startFakeNode(name, { backlog: 1 });
  node.process.kill('SIGSTOP');
  onTestFinished(() => {
    node.process.kill('SIGCONT');
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) fillers.push(connect(node.port, '127.0.0.1').on('error', () => {}));
  onTestFinished(() => {
    for (const s of fillers) s.destroy();
  });
  return node;
}
