/**
 * A cluster worker: a full proxy (HTTP and WebSockets) without health checks or admin server. Node
 * health, operator state and versions come from the primary; passive evidence (a node refusing
 * connections) goes back to it so every worker moves off the node.
 */
import { type RunningApp, startApp } from '../app.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { isMessage, type NodeCounters, type ToPrimary, type ToWorker } from './messages.js';

/** Runs this process as a worker until the primary says stop; resolves with the exit code. */
export function runWorker(config: Config, logger: Logger): Promise<number> {
  const send = (message: ToPrimary) => {
    if (process.connected) process.send?.(message);
  };
  let app: RunningApp | undefined;
  // Messages that arrive while the proxy is still starting are applied once it listens.
  const early: ToWorker[] = [];

  return new Promise((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      if (app === undefined) return; // startApp's continuation sees `stopping`
      app.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    const handle = (message: ToWorker) => {
      if (app === undefined) {
        if (message.t === 'shutdown') stop();
        else early.push(message);
        return;
      }
      const running = app;
      switch (message.t) {
        case 'snapshot':
          for (const s of message.nodes) {
            const node = running.pool.get(s.name);
            if (node === undefined) continue;
            if (s.version !== node.version) running.pool.setVersion(node, s.version);
            running.pool.setState(node, s.state, 'primary');
            running.pool.setHealth(node, s.health, 'primary');
          }
          break;
        case 'config':
          try {
            running.apply(message.config);
          } catch (err) {
            logger.error({ err }, 'worker could not apply the configuration');
          }
          break;
        case 'query':
          void answer(running, message.what).then((data) => send({ t: 'reply', id: message.id, data }));
          break;
        case 'shutdown':
          stop();
          break;
      }
    };
    process.on('message', (raw: unknown) => {
      if (isMessage(raw)) handle(raw as ToWorker);
    });
    // Ctrl-C reaches the whole process group; the primary going away leaves nothing to serve for.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.on('disconnect', stop);

    startApp(config, logger, { manualHealth: true, admin: false }).then(
      (started) => {
        app = started;
        started.pool.on('transition', (t) => {
          if (t.kind === 'health' && t.to === 'down' && t.cause === 'passive') {
            send({ t: 'passive-down', name: t.node.name });
          }
        });
        if (stopping) {
          stopping = false;
          stop();
          return;
        }
        for (const message of early.splice(0)) handle(message);
        send({ t: 'ready', proxyUrl: started.proxyUrl, redirectUrl: started.redirectUrl });
      },
      (err: unknown) => {
        logger.error({ err }, 'worker could not start');
        resolve(1);
      },
    );
  });
}

async function answer(app: RunningApp, what: 'nodes' | 'metrics'): Promise<unknown> {
  if (what === 'metrics') return app.metrics.registry.getMetricsAsJSON();
  return app.pool.nodes.map(
    (n): NodeCounters => ({
      name: n.name,
      inFlight: n.inFlight,
      websockets: n.websockets,
      requests: n.requests,
    }),
  );
}
