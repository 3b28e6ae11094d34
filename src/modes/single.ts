/**
 * Single-process mode (`workers: 1`): the control plane and the data plane in one process, sharing
 * one pool, so node state needs no mirror. Nothing here exits the process.
 */

import type { Config } from '../config/schema.js';
import type { ReloadOutcome } from '../control/admin/admin-server.js';
import { ControlPlane, type ControlPlaneOptions } from '../control/control-plane.js';
import type { HealthChecker } from '../control/health/health-checker.js';
import { DataPlane } from '../data/data-plane.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Pool } from '../pool/pool.js';

/** A running single-process balancer. */
export interface RunningBalancer {
  readonly pool: Pool;
  readonly checker: HealthChecker;
  readonly metrics: Metrics;
  /** `http(s)://host:port` of the proxy listener. */
  readonly proxyUrl: string;
  /** `http://host:port` of the HTTP-to-HTTPS redirect listener, when configured. */
  readonly redirectUrl: string | undefined;
  /** `http://host:port` of the admin listener. */
  readonly adminUrl: string;
  /** The configuration in use (every upstream resolved). */
  config(): Config;
  /** Applies a validated configuration; throws ConfigError (changing nothing) on unreadable files. */
  apply(next: Config): void;
  /** Re-reads the configuration file and applies it; invalid input keeps the running config. */
  reload(): Promise<ReloadOutcome>;
  /**
   * Graceful shutdown: readiness fails, the listeners serve on for `shutdownDelay`, then close;
   * in-flight requests finish (bounded).
   */
  close(): Promise<void>;
  /** Ends a shutdownDelay under way (a second signal); false when none is. */
  skipDelay(): boolean;
}

/** Options of single-process mode: those of the control plane (tests turn probing off). */
export type SingleOptions = Pick<
  ControlPlaneOptions,
  'loadConfig' | 'resolver' | 'probing' | 'configFile' | 'historySampleMs'
>;

/** Builds and starts both planes for `config`. */
export async function startSingle(
  config: Config,
  logger: Logger,
  options: SingleOptions = {},
): Promise<RunningBalancer> {
  const control = await ControlPlane.create(config, logger, options);
  const data = new DataPlane(control.settings, control.pool, control.metrics, logger, control.tasks);
  control.onSettings((settings) => data.apply(settings));
  const { proxyUrl, redirectUrl } = await data.listen();
  const adminUrl = await control.start();
  let closing: Promise<void> | undefined;
  return {
    pool: control.pool,
    checker: control.checker,
    metrics: control.metrics,
    proxyUrl,
    redirectUrl,
    adminUrl,
    config: () => control.config,
    apply: (next) => control.apply(next),
    reload: () => control.reload(),
    skipDelay: () => data.skipDelay(),
    close: () => {
      closing ??= (async () => {
        control.beginShutdown();
        await data.close();
        await control.close();
      })();
      return closing;
    },
  };
}
