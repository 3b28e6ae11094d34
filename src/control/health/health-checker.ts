/**
 * Active health checking: each node is probed on its own timer (interval plus up to 10% jitter,
 * never overlapping itself), and rise/fall thresholds turn results into health transitions on the
 * pool. From `unknown` one success brings a node up (a cold start is fast) while going down takes
 * the full `unhealthyThreshold`, so a node that is merely slow to answer its first probe (R loading
 * a Shiny app) is not written off. It knows the pool and nothing of proxies or the admin server.
 */
import type { Agent } from 'undici';
import { type Clock, systemClock, type Timer } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Pool } from '../../pool/pool.js';
import type { UpstreamNode } from '../../pool/upstream-node.js';
import { NodeAgents } from './node-agents.js';
import { type ProbeOptions, type ProbeResult, probe, probeVersion } from './probe.js';

/** Settings from `healthCheck.*` and `connect.*`. */
export interface CheckerOptions extends ProbeOptions {
  readonly intervalMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly versionCheckIntervalMs: number;
  readonly clockSkewWarningMs: number;
}

/** What the checker runs on: its timers' clock, the probe itself and the jitter's draw (tests replace them). */
export interface CheckerDeps {
  readonly clock: Clock;
  readonly probe: (agent: Agent, node: UpstreamNode, options: ProbeOptions) => Promise<ProbeResult>;
  /** Uniform in [0, 1): the interval's jitter. */
  readonly random: () => number;
}

const systemDeps: CheckerDeps = { clock: systemClock, probe, random: Math.random };

interface NodeLoop {
  timer: Timer | undefined;
  versionTimer: Timer | undefined;
  successes: number;
  failures: number;
  skewWarned: boolean;
  /** The expired licence was logged (once an outage: until the node is up again). */
  licenceLogged: boolean;
  running: Promise<void> | undefined;
}

/** Probes every node of the pool and applies thresholds. */
export class HealthChecker {
  readonly #pool: Pool;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #agents: NodeAgents;
  readonly #loops = new Map<UpstreamNode, NodeLoop>();
  #options: CheckerOptions;
  readonly #deps: CheckerDeps;
  #started = false;
  #versionsWarned = false;

  constructor(
    pool: Pool,
    options: CheckerOptions,
    logger: Logger,
    metrics: Metrics,
    deps: Partial<CheckerDeps> = {},
  ) {
    this.#pool = pool;
    this.#deps = { ...systemDeps, ...deps };
    this.#options = options;
    this.#agents = new NodeAgents(options.timeoutMs);
    this.#logger = logger;
    this.#metrics = metrics;
    pool.on('transition', (t) => {
      // Passive evidence or an operator moved the node: count the next probes afresh.
      const loop = this.#loops.get(t.node);
      if (loop && t.kind === 'health' && t.cause !== 'probe') {
        loop.successes = 0;
        loop.failures = 0;
      }
    });
    pool.on('membership', () => this.#sync());
    this.#sync();
  }

  /** Starts probing: every node at once, then on its timer. */
  start(): void {
    this.#started = true;
    for (const [node, loop] of this.#loops) this.#schedule(node, loop, 0);
  }

  /** Probes every node once and applies the results; for tests and `--check`-like tools. */
  async checkOnce(): Promise<void> {
    await Promise.all([...this.#loops.keys()].map((node) => this.#run(node)));
  }

  /** Applies new options; loops pick them up on their next round (a new timeout, with new agents). */
  reconfigure(options: CheckerOptions): void {
    this.#options = options;
    this.#agents.retime(options.timeoutMs);
  }

  /** Stops every timer and closes the probe agent. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const loop of this.#loops.values()) this.#clear(loop);
    await Promise.allSettled([...this.#loops.values()].map((l) => l.running));
    await this.#agents.close();
  }

  /** Applies one probe result to `node` (thresholds, metrics, clock skew). */
  apply(node: UpstreamNode, result: ProbeResult): void {
    const loop = this.#loops.get(node);
    if (loop === undefined) return;
    const o = this.#options;
    this.#pool.recordProbe(
      node,
      {
        ok: result.ok,
        latencyMs: Math.round(result.latencyMs * 10) / 10,
        at: Date.now(),
        ...(result.status === undefined ? {} : { status: result.status }),
        ...(result.error === undefined ? {} : { error: result.error }),
      },
      result.clockSkewMs === undefined ? undefined : Math.round(result.clockSkewMs),
    );
    this.#metrics.healthChecks.inc({ upstream: node.name, result: result.ok ? 'success' : 'failure' });
    this.#metrics.healthCheckDuration.observe({ upstream: node.name }, result.latencyMs / 1000);
    if (result.clockSkewMs !== undefined) this.#warnSkew(node, loop, result.clockSkewMs);
    if (result.ok) {
      loop.successes++;
      loop.failures = 0;
      if (node.health === 'unknown' || (node.health === 'down' && loop.successes >= o.healthyThreshold)) {
        this.#pool.setHealth(node, 'up', 'probe');
      }
      // Back in rotation: a later expiry is a new outage, said again.
      if (node.health === 'up') loop.licenceLogged = false;
    } else {
      loop.failures++;
      loop.successes = 0;
      if (node.health !== 'down' && loop.failures >= o.unhealthyThreshold) {
        if (this.#pool.setHealth(node, 'down', 'probe')) {
          this.#logger.debug(
            { upstream: node.name, error: result.error, status: result.status },
            'probe failed',
          );
        }
      }
      // Said when the node is out of rotation for its licence (issue 32.14), once an outage.
      if (node.unlicensed && !loop.licenceLogged) {
        loop.licenceLogged = true;
        this.#logger.error(
          { upstream: node.name, status: result.status },
          "Connect's licence has expired on this node: it stays out of rotation until it is renewed",
        );
      }
    }
  }

  #sync(): void {
    const nodes = new Set(this.#pool.nodes);
    for (const [node, loop] of this.#loops) {
      if (nodes.has(node)) continue;
      this.#clear(loop);
      this.#loops.delete(node);
    }
    this.#agents.keepOnly(nodes);
    for (const node of nodes) {
      if (this.#loops.has(node)) continue;
      const loop: NodeLoop = {
        timer: undefined,
        versionTimer: undefined,
        successes: 0,
        failures: 0,
        skewWarned: false,
        licenceLogged: false,
        running: undefined,
      };
      this.#loops.set(node, loop);
      if (this.#started) this.#schedule(node, loop, 0);
    }
  }

  #clear(loop: NodeLoop): void {
    if (loop.timer !== undefined) this.#deps.clock.clearTimeout(loop.timer);
    if (loop.versionTimer !== undefined) this.#deps.clock.clearTimeout(loop.versionTimer);
    loop.timer = undefined;
    loop.versionTimer = undefined;
  }

  #schedule(node: UpstreamNode, loop: NodeLoop, delayMs: number): void {
    if (loop.timer !== undefined) this.#deps.clock.clearTimeout(loop.timer);
    loop.timer = this.#deps.clock.setTimeout((n) => void this.#round(n, loop), delayMs, node);
    loop.timer.unref();
    if (this.#options.versionCheckIntervalMs > 0 && loop.versionTimer === undefined)
      this.#scheduleVersion(node, loop, 0);
  }

  /** One probe round of `node`; the next is timed from its end, so probes of a node never overlap. */
  async #round(node: UpstreamNode, loop: NodeLoop): Promise<void> {
    await this.#run(node);
    if (this.#started && this.#loops.get(node) === loop) {
      const interval = this.#options.intervalMs;
      this.#schedule(node, loop, interval + this.#deps.random() * interval * 0.1);
    }
  }

  #scheduleVersion(node: UpstreamNode, loop: NodeLoop, delayMs: number): void {
    loop.versionTimer = this.#deps.clock.setTimeout((n) => void this.#versionRound(n, loop), delayMs, node);
    loop.versionTimer.unref();
  }

  async #versionRound(node: UpstreamNode, loop: NodeLoop): Promise<void> {
    const version = await probeVersion(this.#agentFor(node), node, this.#options.timeoutMs);
    if (!this.#started || this.#loops.get(node) !== loop) return;
    if (version !== undefined && version !== node.version) {
      this.#pool.setVersion(node, version);
      this.#checkVersions();
    }
    if (this.#options.versionCheckIntervalMs > 0)
      this.#scheduleVersion(node, loop, this.#options.versionCheckIntervalMs);
    else loop.versionTimer = undefined;
  }

  /** Reads the versions of every node now; for tests. */
  async checkVersionsOnce(): Promise<void> {
    await Promise.all(
      [...this.#loops.keys()].map(async (node) => {
        const version = await probeVersion(this.#agentFor(node), node, this.#options.timeoutMs);
        if (version !== undefined) this.#pool.setVersion(node, version);
      }),
    );
    this.#checkVersions();
  }

  #checkVersions(): void {
    const versions = this.#pool.versions();
    if (versions.length > 1 && !this.#versionsWarned) {
      this.#versionsWarned = true;
      const nodes = Object.fromEntries(this.#pool.nodes.map((n) => [n.name, n.version ?? null]));
      this.#logger.warn({ nodes }, 'upstream nodes run different Connect versions');
    } else if (versions.length <= 1) {
      this.#versionsWarned = false;
    }
  }

  async #run(node: UpstreamNode): Promise<void> {
    const loop = this.#loops.get(node);
    if (loop === undefined) return;
    if (loop.running) return loop.running;
    loop.running = this.#deps
      .probe(this.#agentFor(node), node, this.#options)
      .then((result) => {
        loop.running = undefined;
        if (this.#loops.get(node) === loop) this.apply(node, result);
      })
      .catch((err: unknown) => {
        // A listener of the resulting transition failed: log it, keep probing.
        loop.running = undefined;
        this.#logger.error({ err, upstream: node.name }, 'applying a probe result failed');
      });
    return loop.running;
  }

  /** The probe agent that reaches `node` (its own TLS options, if any). */
  #agentFor(node: UpstreamNode): Agent {
    return this.#agents.for(node);
  }

  #warnSkew(node: UpstreamNode, loop: NodeLoop, skewMs: number): void {
    const limit = this.#options.clockSkewWarningMs;
    if (limit <= 0) return;
    if (Math.abs(skewMs) > limit && !loop.skewWarned) {
      loop.skewWarned = true;
      this.#logger.warn(
        { upstream: node.name, skewSeconds: Math.round(skewMs) / 1000 },
        'upstream clock differs from the balancer; unsynchronised clocks in a Connect cluster can lose data',
      );
    } else if (Math.abs(skewMs) <= limit / 2) {
      loop.skewWarned = false;
    }
  }
}
