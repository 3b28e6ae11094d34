#!/usr/bin/env node
/**
 * The command line: argv -> configuration -> running balancer; signals. The only module that exits
 * the process.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { adoptedCommand } from './adopted-command.js';
import { loadConfigFile, parseConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { loadTlsMaterial } from './config/tls-files.js';
import { startDemoNode } from './demo/demo-node.js';
import { drainCommand } from './drain-command.js';
import { ConfigError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { type RunningPrimary, startPrimary } from './modes/primary.js';
import { type RunningBalancer, startSingle } from './modes/single.js';
import { runWorker } from './modes/worker.js';
import { VERSION } from './version.js';

const HELP = `stickylb ${VERSION}: sticky-session HTTP and WebSocket load balancer for Posit Connect

Usage:
  stickylb --config FILE         run with a YAML configuration
  stickylb --config FILE --check validate the configuration and exit (0 valid, 2 invalid)
  stickylb                       no configuration: run a demo with two built-in nodes
  stickylb drain NODE --admin URL [--token T] [--wait] [--timeout 10m] [--action drain|maintenance|activate]
                                 drain a node (token also from $STICKYLB_ADMIN_TOKEN); with --wait exit 0
                                 once it is safe to stop: no request, WebSocket or deploy task left
  stickylb adopted --config FILE --cookie 'NAME=VALUE; ...'
                                 which node affinity.adopt sends a client with another balancer's cookie to

Options:
  -c, --config FILE   configuration file (default: $STICKYLB_CONFIG)
      --check         validate only
  -h, --help          this help
  -v, --version       print the version

Signals: SIGHUP reloads the configuration; SIGTERM/SIGINT shut down gracefully, after
shutdownDelay (a second signal skips the delay; one more exits at once).
`;

async function main(argv: string[]): Promise<number> {
  // A cluster worker gets its settings from the primary over IPC, validated there.
  if (cluster.isWorker)
    return runWorker((level) => processLogger(level).child({ worker: cluster.worker?.id }));
  if (argv[0] === 'adopted') {
    return adoptedCommand(
      argv.slice(1),
      (line) => process.stdout.write(`${line}\n`),
      (line) => process.stderr.write(`${line}\n`),
    );
  }
  if (argv[0] === 'drain') {
    return drainCommand(
      argv.slice(1),
      (line) => process.stdout.write(`${line}\n`),
      (line) => process.stderr.write(`${line}\n`),
    );
  }
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const file = args.values.config ?? (process.env.STICKYLB_CONFIG || undefined);
  if (args.values.check) return check(file);
  let demo: DemoNode[] = [];
  let config: Config;
  try {
    if (file === undefined) demo = await Promise.all([startDemoNode('demo-a'), startDemoNode('demo-b')]);
    config = file === undefined ? demoConfig(demo) : await loadConfigFile(file);
  } catch (err) {
    return reportConfigError(err);
  }
  const logger = processLogger(config.logging.level);
  if (config.affinity.secret === undefined) {
    logger.warn(
      {},
      "affinity.secret is not set: each node's cookie token is derived from its own name and URL (stable across restarts and replicas, and unchanged when other nodes are added or removed), so whoever knows them can forge it; set a shared secret (every replica the same)",
    );
  }
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  const loadConfig = file === undefined ? undefined : () => loadConfigFile(file);
  if (workers > 1) return runCluster(config, workers, logger, loadConfig, file);
  return runSingle(config, logger, loadConfig, demo, file);
}

/** The process's logger; a balancer keeps serving through a bug in one request's promise chain. */
function processLogger(level: Config['logging']['level']): Logger {
  const logger = createLogger(level);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled promise rejection'));
  return logger;
}

/** `--check`: validates the file and the files it names. */
async function check(file: string | undefined): Promise<number> {
  if (file === undefined) {
    process.stderr.write('--check needs --config FILE (or STICKYLB_CONFIG)\n');
    return 2;
  }
  try {
    const config = await loadConfigFile(file);
    loadTlsMaterial(config);
    process.stdout.write(`${file}: valid (${config.upstreams.length} upstreams)\n`);
    return 0;
  } catch (err) {
    return reportConfigError(err);
  }
}

type DemoNode = Awaited<ReturnType<typeof startDemoNode>>;

/** The configuration of the demo (no file given): the two built-in nodes. */
function demoConfig(demo: readonly DemoNode[]): Config {
  return parseConfig({
    upstreams: demo.map((d) => ({ name: d.name, url: d.url })),
    healthCheck: { interval: '1s', timeout: '500ms' },
    admin: { token: 'demo-admin-token-change-me' },
    affinity: { secret: 'demo-secret-not-for-production' },
  });
}

/** Starts both planes in this process, logs the start-up line, waits for signals. */
async function runSingle(
  config: Config,
  logger: Logger,
  loadConfig: (() => Promise<Config>) | undefined,
  demo: readonly DemoNode[],
  configFile: string | undefined,
): Promise<number> {
  const closeDemo = async () => {
    await Promise.all(demo.map((d) => d.close()));
  };
  let app: RunningBalancer;
  try {
    app = await startSingle(config, logger, { loadConfig, configFile });
  } catch (err) {
    await closeDemo();
    if (err instanceof ConfigError) return reportConfigError(err);
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const where = e.address === undefined ? '' : ` ${e.address}:${e.port}`;
    process.stderr.write(`stickylb: cannot listen${where}: ${e.code ?? e.message}\n`);
    logger.flush();
    return 1;
  }
  const where = {
    proxy: app.proxyUrl,
    ...(app.redirectUrl ? { redirect: app.redirectUrl } : {}),
    admin: app.adminUrl,
  };
  logStarted(logger, config, where);
  if (demo.length > 0) {
    process.stdout.write(
      '\n  stickylb demo: two built-in nodes behind the balancer\n' +
        `  open        ${app.proxyUrl}/   (reload: you stay on one node)\n` +
        `  status page ${app.adminUrl}/   (admin token: demo-admin-token-change-me)\n` +
        `  metrics     ${app.adminUrl}/metrics\n  Ctrl-C stops everything.\n\n`,
    );
  }
  return waitForSignals(app, logger, closeDemo);
}

/** The start-up log line (tests and operators wait for it). */
function logStarted(logger: Logger, config: Config, where: Record<string, unknown>): void {
  logger.info(
    {
      version: VERSION,
      ...where,
      nodes: config.upstreams.map((u) => ({ name: u.name, url: u.url, weight: u.weight, state: u.state })),
    },
    'stickylb started',
  );
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
    strict: true,
    allowPositionals: false,
  });
}

function reportConfigError(err: unknown): number {
  if (err instanceof ConfigError) {
    for (const line of err.problems) process.stderr.write(`${line}\n`);
    return 2;
  }
  process.stderr.write(`${String((err as Error)?.message ?? err)}\n`);
  return 2;
}

/** Starts the cluster primary and its workers, logs the start-up line, waits for signals. */
async function runCluster(
  config: Config,
  workers: number,
  logger: Logger,
  loadConfig: (() => Promise<Config>) | undefined,
  configFile: string | undefined,
): Promise<number> {
  let primary: RunningPrimary;
  try {
    primary = await startPrimary(config, workers, logger, loadConfig, { configFile });
  } catch (err) {
    if (err instanceof ConfigError) return reportConfigError(err);
    process.stderr.write(`stickylb: cannot start: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
    return 1;
  }
  logStarted(logger, config, { proxy: await primary.proxyUrl, admin: primary.adminUrl, workers });
  return waitForSignals(primary, logger, async () => {});
}

/** What signals act on: the single-process app or the cluster primary. */
interface Controllable {
  close(): Promise<void>;
  reload(): Promise<unknown>;
  /** Ends a shutdownDelay under way; false when none is. */
  skipDelay(): boolean;
}

function waitForSignals(app: Controllable, logger: Logger, after: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        if (app.skipDelay()) {
          logger.warn({ signal }, 'second signal: shutdownDelay skipped; stopping now');
          return;
        }
        logger.warn({ signal }, 'second signal: exiting now');
        logger.flush();
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'signal received');
      app
        .close()
        .then(after)
        .then(
          () => resolve(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            resolve(1);
          },
        );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      logger.info({}, 'SIGHUP: reloading configuration');
      void app.reload();
    });
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Give pino's async destination a moment to flush, then leave even if a handle lingers.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (err: unknown) => {
    process.stderr.write(`stickylb: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
