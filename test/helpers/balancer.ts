/** Starts stickylb in-process on 127.0.0.1:0 with a silent logger, closed after the test. */

import { Writable } from 'node:stream';
import { onTestFinished } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import { type RunningBalancer, startSingle } from '../../src/modes/single.js';
import type { Resolver } from '../../src/pool/dns-discovery.js';
import type { FakeNode } from './fake-node.js';

/** A balancer under test and the log lines it wrote. */
export interface TestBalancer {
  readonly app: RunningBalancer;
  readonly url: string;
  readonly adminUrl: string;
  readonly logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Config tree for `nodes` with test-friendly defaults, merged with `extra` (shallow per section). */
export function testConfig(
  nodes: readonly FakeNode[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const base: Record<string, unknown> = {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, token: 'test-admin-token-0123456789' },
    upstreams: nodes.map((n) => ({ name: n.name, url: n.url })),
    affinity: { secret: 'test-secret-0123456789abcdef' },
    healthCheck: { interval: '200ms', timeout: '150ms' },
  };
  for (const [key, value] of Object.entries(extra)) {
    const prev = base[key];
    base[key] =
      prev &&
      typeof prev === 'object' &&
      !Array.isArray(prev) &&
      value &&
      typeof value === 'object' &&
      !Array.isArray(value)
        ? { ...prev, ...value }
        : value;
  }
  return base;
}

/** Starts a balancer in front of `nodes`. `manualHealth` leaves probing to `app.checker.checkOnce()`. */
export async function startBalancer(
  nodes: readonly FakeNode[],
  extra: Record<string, unknown> = {},
  options: {
    manualHealth?: boolean;
    persistent?: boolean;
    resolver?: Resolver;
    historySampleMs?: number;
  } = {},
): Promise<TestBalancer> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = parseConfig(testConfig(nodes, extra));
  const logger = createLogger('debug', sink);
  const app = await startSingle(config, logger, {
    probing: !(options.manualHealth ?? false),
    ...(options.historySampleMs ? { historySampleMs: options.historySampleMs } : {}),
    ...(options.resolver ? { resolver: options.resolver } : {}),
  });
  if (options.manualHealth) await app.checker.checkOnce();
  else await waitFor(() => app.pool.nodes.every((n) => n.health !== 'unknown'), 3000);
  const balancer: TestBalancer = {
    app,
    url: app.proxyUrl,
    adminUrl: app.adminUrl,
    logs,
    close: () => app.close(),
  };
  if (!options.persistent) onTestFinished(() => app.close());
  return balancer;
}

/** Polls `condition` every 10 ms until true or `timeoutMs` passes (then throws). */
export async function waitFor(
  condition: () => boolean,
  timeoutMs: number,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
