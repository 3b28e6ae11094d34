/**
 * The primary's side of the cluster: forks the workers, sends each one its settings when it says
 * `hello`, relays every settings change and node transition to all of them, takes their passive
 * evidence into the pool, asks them for counters and metrics, replaces a worker that exits, and
 * stops them on shutdown.
 */

import cluster, { type Worker } from 'node:cluster';
import { isMessage, type NodeCounters, type ToPrimary, type ToWorker } from '../contract/messages.js';
import type { ControlPlane } from '../control/control-plane.js';
import type { Logger } from '../logger.js';
import type { Ejection } from '../pool/content-health.js';
import { type NodeLoad, type StatusRecord, statusRecordOf } from '../pool/upstream-node.js';

const QUERY_TIMEOUT_MS = 2000;

/** The workers of one primary. */
export class WorkerRelay {
  readonly #control: ControlPlane;
  readonly #log: Logger;
  readonly #workers = new Set<Worker>();
  /** Workers whose proxy listens (they answer queries from then on). */
  readonly #ready = new WeakSet<Worker>();
  readonly #pending = new Map<number, { resolve: (data: unknown) => void; timer: NodeJS.Timeout }>();
  #nextQuery = 1;
  /** Each worker's own load per node at the last count, and their sum. */
  #lastLoads: Array<[Worker, Map<string, number>]> = [];
  #lastTotal = new Map<string, NodeLoad>();
  /** The vanity map last sent to the workers (a worker that starts later gets it again). */
  /** The vanity map each worker last got (a worker that has not got the current one gets it). */
  readonly #vanitySent = new WeakMap<Worker, ReadonlyMap<string, string>>();
  #stopping = false;
  #delaySkipped = false;
  #resolveProxyUrl: (url: string) => void = () => {};
  /** Resolves with the proxy URL once the first worker listens. */
  readonly proxyUrl = new Promise<string>((resolve) => {
    this.#resolveProxyUrl = resolve;
  });

  constructor(control: ControlPlane, log: Logger) {
    this.#control = control;
    this.#log = log;
    // What changed, not the whole table: a fleet probing its way up sends one line per transition.
    control.pool.on('transition', (t) => this.#broadcast({ t: 'status', nodes: [statusRecordOf(t.node)] }));
    control.pool.on('versions', () => this.#broadcast({ t: 'status', nodes: this.#status() }));
    // Rule 13: the primary's pool decides; every worker places by its whole set of ejections.
    control.pool.on('content', () => this.#broadcast({ t: 'ejections', list: this.#ejections() }));
    control.pool.on('ejections', () => this.#broadcast({ t: 'ejections', list: this.#ejections() }));
    control.onSettings((settings) => {
      this.#broadcast({ t: 'settings', settings });
      this.#broadcast({ t: 'status', nodes: this.#status() });
    });
    cluster.on('exit', (worker, code, signal) => {
      if (!this.#workers.delete(worker) || this.#stopping) return;
      log.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting a new one');
      this.fork();
    });
    // Let the kernel spread connections across workers: the primary's round-robin hand-off costs
    // more than it balances for short keep-alive connections.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
  }

  /** Connected workers. */
  get size(): number {
    return [...this.#workers].filter((w) => w.isConnected()).length;
  }

  /** Connected workers whose proxy listens: ready means one of these (issue 22.7). */
  get listening(): number {
    return [...this.#workers].filter((w) => w.isConnected() && this.#ready.has(w)).length;
  }

  /** Starts one worker. Its environment carries nothing of the configuration. */
  fork(): void {
    const worker = cluster.fork();
    this.#workers.add(worker);
    worker.on('message', (raw: unknown) => {
      if (isMessage(raw)) this.#onMessage(worker, raw as ToPrimary);
    });
  }

  /** Asks every connected worker; workers that do not answer in time are left out. */
  async queryAll(what: 'nodes' | 'metrics'): Promise<unknown[]> {
    const live = [...this.#workers].filter((w) => w.isConnected() && this.#ready.has(w));
    const answers = await Promise.all(live.map((w) => this.#query(w, what)));
    return answers.filter((d) => d !== undefined);
  }

  /**
   * This replica's sessions and requests per node, summed over its workers; each worker's own
   * counts are kept for `shareLoads`.
   */
  async workerLoads(): Promise<Map<string, NodeLoad>> {
    const live = [...this.#workers].filter((w) => w.isConnected() && this.#ready.has(w));
    const answers = await Promise.all(live.map((w) => this.#query(w, 'nodes')));
    const total = new Map<string, { load: number; contents: Set<string> }>();
    this.#lastLoads = [];
    for (const [i, answer] of answers.entries()) {
      if (answer === undefined) continue;
      const counters = answer as NodeCounters[];
      const loadOf = (c: NodeCounters) => c.inFlight + c.websockets + c.placed;
      this.#lastLoads.push([live[i]!, new Map(counters.map((c) => [c.name, loadOf(c)]))]);
      for (const c of counters) {
        const sum = total.get(c.name) ?? { load: 0, contents: new Set<string>() };
        sum.load += loadOf(c);
        for (const { content } of c.contents) sum.contents.add(content);
        total.set(c.name, sum);
      }
    }
    const result = new Map(
      [...total].map(([name, t]) => [name, { load: t.load, contents: [...t.contents] }]),
    );
    this.#lastTotal = result;
    return result;
  }

  /**
   * Tells each worker what every other balancer process holds per node: the other replicas'
   * loads plus the other workers' (rule 10: the bound is the fleet's, not one worker's view).
   */
  shareLoads(otherReplicas: ReadonlyMap<string, NodeLoad>): void {
    const vanityMap = this.#control.pool.vanity;
    let vanity: Array<[string, string]> | undefined;
    // Contents running on each node as far as any process knows: Connect's list, the other
    // replicas' sessions, every worker's sessions (a worker's own are in its own counts anyway).
    const warm: Record<string, string[]> = {};
    for (const node of this.#control.pool.nodes) {
      const known = new Set([
        ...(node.connectProcs?.byContent.keys() ?? []),
        ...(otherReplicas.get(node.name)?.contents ?? []),
        ...(this.#lastTotal.get(node.name)?.contents ?? []),
      ]);
      if (known.size > 0) warm[node.name] = [...known];
    }
    for (const [worker, own] of this.#lastLoads) {
      if (!worker.isConnected()) continue;
      const external: Record<string, number> = {};
      for (const name of new Set([...this.#lastTotal.keys(), ...otherReplicas.keys()])) {
        external[name] =
          (otherReplicas.get(name)?.load ?? 0) +
          (this.#lastTotal.get(name)?.load ?? 0) -
          (own.get(name) ?? 0);
      }
      const message: ToWorker = { t: 'loads', external, warm };
      if (this.#vanitySent.get(worker) !== vanityMap) {
        vanity ??= [...vanityMap];
        this.#vanitySent.set(worker, vanityMap);
        worker.send({ ...message, vanity } satisfies ToWorker);
      } else {
        worker.send(message);
      }
    }
  }

  /** Tells every worker to end a shutdownDelay under way; false when no worker is stopping. */
  skipDelay(): boolean {
    if (!this.#stopping || this.#delaySkipped) return false;
    this.#delaySkipped = true;
    for (const w of this.#workers) {
      if (this.#ready.has(w) && w.isConnected()) w.send({ t: 'skip-delay' } satisfies ToWorker);
    }
    return true;
  }

  /**
   * Tells every worker to finish its requests and exit (after its shutdownDelay); kills what is
   * left after the deadline.
   */
  async close(shutdownTimeoutMs: number, shutdownDelayMs = 0): Promise<void> {
    this.#stopping = true;
    this.#log.info({ workers: this.#workers.size }, 'stopping workers');
    const exited = [...this.#workers].map(
      (w) => new Promise<void>((resolve) => w.once('exit', () => resolve())),
    );
    // A worker still starting may not listen to IPC yet: a signal reaches it either way.
    for (const w of this.#workers) {
      if (this.#ready.has(w) && w.isConnected()) w.send({ t: 'shutdown' } satisfies ToWorker);
      else w.process.kill('SIGTERM');
    }
    const deadline = setTimeout(
      () => {
        for (const w of this.#workers) w.process.kill('SIGKILL');
      },
      shutdownDelayMs + shutdownTimeoutMs + 5000,
    );
    await Promise.all(exited);
    clearTimeout(deadline);
  }

  #onMessage(worker: Worker, message: ToPrimary): void {
    switch (message.t) {
      case 'hello':
        worker.send({ t: 'settings', settings: this.#control.settings } satisfies ToWorker);
        worker.send({ t: 'status', nodes: this.#status() } satisfies ToWorker);
        break;
      case 'ready':
        this.#ready.add(worker);
        worker.send({ t: 'status', nodes: this.#status() } satisfies ToWorker);
        worker.send({ t: 'ejections', list: this.#ejections() } satisfies ToWorker);
        this.#resolveProxyUrl(message.proxyUrl);
        break;
      case 'task-opened':
        this.#control.tasks.opened(message.node, message.id);
        break;
      case 'task-polled':
        this.#control.tasks.polled(message.id, message.finished);
        break;
      case 'content-outcome': {
        const node = this.#control.pool.get(message.name);
        if (node !== undefined) this.#control.pool.reportContentOutcome(node, message.content, message.ok);
        break;
      }
      case 'connect-failure':
      case 'connected': {
        const node = this.#control.pool.get(message.name);
        if (node === undefined) break;
        if (message.t === 'connected') this.#control.pool.reportConnected(node);
        else this.#control.pool.reportConnectFailure(node);
        break;
      }
      case 'reply': {
        const entry = this.#pending.get(message.id);
        if (entry === undefined) break;
        clearTimeout(entry.timer);
        this.#pending.delete(message.id);
        entry.resolve(message.data);
        break;
      }
    }
  }

  #query(worker: Worker, what: 'nodes' | 'metrics'): Promise<unknown> {
    return new Promise((resolve) => {
      const id = this.#nextQuery++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(undefined);
      }, QUERY_TIMEOUT_MS);
      this.#pending.set(id, { resolve, timer });
      worker.send({ t: 'query', id, what } satisfies ToWorker);
    });
  }

  #status(): StatusRecord[] {
    return this.#control.pool.nodes.map(statusRecordOf);
  }

  /** The ejections the primary's pool holds now (rule 13). */
  #ejections(): Ejection[] {
    return this.#control.pool.contentHealth.allEjections(Date.now());
  }

  #broadcast(message: ToWorker): void {
    for (const w of this.#workers) if (w.isConnected()) w.send(message);
  }
}
