/**
 * The data plane's handler state for one configuration: the settings and what is derived from them
 * (the trusted-proxy list, the router). Built whole on every change and swapped with one assignment;
 * a request keeps the runtime it started with until it ends.
 */
import type { RepinRecorder } from '../affinity/repin-recorder.js';
import { trustedProxyList } from '../config/trusted-proxies.js';
import type { DataSettings } from '../contract/data-settings.js';
import type { AdoptCounts } from '../metrics/adopt-counts.js';
import type { PlacementCounts } from '../metrics/placement-counts.js';
import type { NodeTable } from '../pool/node-table.js';
import type { ForwardContext } from './forwarded-headers.js';
import { Router } from './router.js';

/** Settings plus derived handler state; also the ForwardContext of the header builder. */
export interface Runtime extends ForwardContext {
  readonly settings: DataSettings;
  readonly router: Router;
}

/** Builds the runtime for `settings`. */
export function buildRuntime(
  settings: DataSettings,
  pool: NodeTable,
  repins: RepinRecorder,
  placements: PlacementCounts,
  adopted: AdoptCounts,
): Runtime {
  return {
    settings,
    cookieName: settings.routing.cookieName,
    contentCookieName: settings.routing.contentCookieName,
    adoptCookies: [...new Set(settings.routing.adopt.map((r) => r.cookie))],
    trusted: trustedProxyList(settings.routing.trustedProxies),
    sampleRatio: settings.tracing?.sampleRatio,
    router: new Router(
      pool,
      repins,
      settings.routing.whenAllDown,
      settings.routing.hashHeaders,
      { strategy: settings.routing.placement, balanceFactor: settings.routing.balanceFactor },
      placements,
      { rules: settings.routing.adopt, counts: adopted },
    ),
  };
}
