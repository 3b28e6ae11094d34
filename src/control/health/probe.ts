/**
 * One active health probe: `GET path` on a node with a timeout. A failed probe is data, not an
 * exception: the result says what happened. Probes use their own small undici Agent so they never
 * queue behind proxied traffic.
 */
import { Agent, request } from 'undici';
import type { UpstreamNode } from '../../pool/upstream-node.js';

/** Probe settings from `healthCheck.*`. */
export interface ProbeOptions {
  readonly path: string;
  readonly timeoutMs: number;
  readonly expectStatus: readonly number[] | undefined;
  readonly host: string | undefined;
}

/** The outcome of one probe. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
  readonly latencyMs: number;
  /** Node clock minus local clock (ms), from the response's Date header. */
  readonly clockSkewMs?: number;
}

/**
 * An Agent for probes: few connections; connecting bounded by the probe timeout (an abort signal
 * does not end a request still connecting, so without it a node that drops packets held each probe
 * for undici's default 10 s); `tls` for https:// nodes with their own CA or no verification.
 */
export function createProbeAgent(
  timeoutMs: number,
  tls?: { ca?: string; rejectUnauthorized: boolean },
): Agent {
  return new Agent({
    connections: 2,
    pipelining: 1,
    keepAliveTimeout: 10_000,
    connect: { timeout: timeoutMs, ...tls },
  });
}

/** Probes `node` once. Never throws. */
export async function probe(agent: Agent, node: UpstreamNode, options: ProbeOptions): Promise<ProbeResult> {
  const started = Date.now();
  const t0 = performance.now();
  try {
    const headers: Record<string, string> = { 'user-agent': 'stickylb-health', accept: '*/*' };
    if (options.host !== undefined) headers.host = options.host;
    const res = await request(node.url + options.path, {
      dispatcher: agent,
      method: 'GET',
      headers,
      signal: AbortSignal.timeout(options.timeoutMs),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    await res.body.dump({ limit: 64 * 1024 });
    const latencyMs = performance.now() - t0;
    const status = res.statusCode;
    const ok = options.expectStatus ? options.expectStatus.includes(status) : status >= 200 && status < 300;
    const date = res.headers.date;
    const result: ProbeResult = ok
      ? { ok, status, latencyMs }
      : { ok, status, latencyMs, error: `status ${status}` };
    if (typeof date === 'string') {
      const parsed = Date.parse(date);
      // Date has one-second resolution: compare its middle with the middle of the probe.
      if (!Number.isNaN(parsed)) return { ...result, clockSkewMs: parsed + 500 - (started + latencyMs / 2) };
    }
    return result;
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    const error =
      e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT'
        ? 'timeout'
        : (e.code ?? e.message ?? 'error');
    return { ok: false, error, latencyMs: performance.now() - t0 };
  }
}

/** Reads the Connect version from `/__api__/server_settings` (unauthenticated); undefined on failure. */
export async function probeVersion(
  agent: Agent,
  node: UpstreamNode,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    const res = await request(`${node.url}/__api__/server_settings`, {
      dispatcher: agent,
      headers: { accept: 'application/json', 'user-agent': 'stickylb-health' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    const body = (await res.body.json()) as { version?: unknown };
    return typeof body.version === 'string' && body.version !== '' ? body.version : undefined;
  } catch {
    return undefined;
  }
}
