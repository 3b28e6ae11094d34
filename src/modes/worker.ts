/**
 * A cluster worker: a data plane over a status table (StatusMirror) of the primary's pool. It asks
 * for its settings (`hello`), starts its listeners on the first `settings`, copies node status from
 * the primary's `status` records, and reports passive evidence (a node refusing connections) to the
 * primary, whose pool decides for every worker. It runs no health checks and no admin server.
 */
import type { DataSettings } from '../contract/data-settings.js';
import { isMessage, type NodeCounters, type ToPrimary, type ToWorker } from '../contract/messages.js';
import { DataPlane } from '../data/data-plane.js';
import type { Logger } from '../logger.js';
import { Metrics } from '../metrics/metrics.js';
import type { TaskReports } from '../pool/open-tasks.js';
import { StatusMirror } from '../pool/status-mirror.js';

/** Runs this process as a worker until the primary says stop; resolves with the exit code. */
export function runWorker(makeLogger: (level: DataSettings['logLevel']) => Logger): Promise<number> {
  return new Promise((resolve) => {
    const worker = new WorkerProcess(makeLogger, resolve);
    process.on('message', (raw: unknown) => {
      if (isMessage(raw)) worker.handle(raw as ToWorker);
    });
    // Ctrl-C reaches the whole process group; the primary going away leaves nothing to serve for.
    process.on('SIGINT', () => worker.stop(true));
    process.on('SIGTERM', () => worker.stop(true));
    process.on('disconnect', () => worker.stop());
    send({ t: 'hello' });
  });
}

function send(message: ToPrimary): void {
  if (process.connected) process.send?.(message);
}

/** The worker's state: nothing until the first settings, then a status table and a data plane. */
class WorkerProcess {
  readonly #makeLogger: (level: DataSettings['logLevel']) => Logger;
  readonly #exit: (code: number) => void;
  #running: { pool: StatusMirror; data: DataPlane; metrics: Metrics; logger: Logger } | undefined;
  /** Messages that arrive while the data plane starts are handled once it listens. */
  #early: ToWorker[] | undefined;
  #stopping = false;

  constructor(makeLogger: (level: DataSettings['logLevel']) => Logger, exit: (code: number) => void) {
    this.#makeLogger = makeLogger;
    this.#exit = exit;
  }

  handle(message: ToWorker): void {
    if (message.t === 'shutdown') {
      this.stop();
      return;
    }
    if (message.t === 'skip-delay') {
      this.#running?.data.skipDelay();
      return;
    }
    if (this.#early !== undefined) {
      this.#early.push(message);
      return;
    }
    const running = this.#running;
    if (running === undefined) {
      if (message.t === 'settings') void this.#start(message.settings);
      return;
    }
    switch (message.t) {
      case 'settings':
        running.data.apply(message.settings);
        break;
      case 'status':
        running.pool.apply(message.nodes);
        break;
      case 'query':
        void answer(running, message.what).then((data) => send({ t: 'reply', id: message.id, data }));
        break;
      case 'ejections':
        running.pool.contentHealth.setShared(message.list);
        break;
      case 'loads':
        if (message.vanity !== undefined) running.pool.vanity = new Map(message.vanity);
        for (const node of running.pool.nodes) {
          const warm = message.warm[node.name];
          running.pool.setFleetView(node, message.external[node.name] ?? 0, warm && new Set(warm));
        }
        break;
    }
  }

  /** Stops (graceful, after shutdownDelay); `signal`: a signal asked, and a second one skips the delay. */
  stop(signal = false): void {
    if (this.#stopping) {
      if (signal) this.#running?.data.skipDelay();
      return;
    }
    this.#stopping = true;
    // Still starting: #start sees `#stopping` once its listeners are up.
    if (this.#running === undefined) return;
    this.#running.data.close().then(
      () => this.#exit(0),
      () => this.#exit(1),
    );
  }

  async #start(settings: DataSettings): Promise<void> {
    this.#early = [];
    const logger = this.#makeLogger(settings.logLevel);
    const pool = new StatusMirror(settings, {
      connectFailure: (name) => send({ t: 'connect-failure', name }),
      connected: (name) => send({ t: 'connected', name }),
      contentOutcome: (name, content, ok) => send({ t: 'content-outcome', name, content, ok }),
    });
    const metrics = new Metrics();
    metrics.attach(pool);
    // Deploy tasks are the primary's to track: a poll may come through another worker.
    const tasks: TaskReports = {
      opened: (node, id) => send({ t: 'task-opened', node, id }),
      polled: (id, finished) => send({ t: 'task-polled', id, finished }),
    };
    const data = new DataPlane(settings, pool, metrics, logger, tasks);
    let urls: Awaited<ReturnType<DataPlane['listen']>>;
    try {
      urls = await data.listen();
    } catch (err) {
      logger.error({ err }, 'worker could not start');
      this.#exit(1);
      return;
    }
    this.#running = { pool, data, metrics, logger };
    const early = this.#early;
    this.#early = undefined;
    if (this.#stopping) {
      this.#stopping = false;
      this.stop();
      return;
    }
    for (const message of early) this.handle(message);
    send({ t: 'ready', proxyUrl: urls.proxyUrl, redirectUrl: urls.redirectUrl });
  }
}

async function answer(
  running: { pool: StatusMirror; metrics: Metrics },
  what: 'nodes' | 'metrics',
): Promise<unknown> {
  if (what === 'metrics') return running.metrics.registry.getMetricsAsJSON();
  return running.pool.nodes.map(
    (n): NodeCounters => ({
      name: n.name,
      inFlight: n.inFlight,
      websockets: n.websockets,
      placed: n.traffic.placedSessions(Date.now()),
      requests: n.requests,
      contents: n.busiestContents(20),
    }),
  );
}
