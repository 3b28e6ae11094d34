/** The IPC messages between the cluster primary (health, admin) and its proxy workers. */
import type { Config, OperatorState } from '../config/schema.js';
import type { Health } from '../pool/upstream-node.js';

/** One node's shared state, as the primary sees it. */
export interface NodeSnapshot {
  readonly name: string;
  readonly health: Health;
  readonly state: OperatorState;
  readonly version: string | undefined;
}

/** Per-worker counters of one node, summed by the primary for /api/nodes. */
export interface NodeCounters {
  readonly name: string;
  readonly inFlight: number;
  readonly websockets: number;
  readonly requests: number;
}

/** Primary -> worker. */
export type ToWorker =
  | { readonly t: 'snapshot'; readonly nodes: readonly NodeSnapshot[] }
  | { readonly t: 'config'; readonly config: Config }
  | { readonly t: 'query'; readonly id: number; readonly what: 'nodes' | 'metrics' }
  | { readonly t: 'shutdown' };

/** Worker -> primary. */
export type ToPrimary =
  | { readonly t: 'ready'; readonly proxyUrl: string; readonly redirectUrl: string | undefined }
  | { readonly t: 'passive-down'; readonly name: string }
  | { readonly t: 'reply'; readonly id: number; readonly data: unknown };

/** True for objects that look like one of our messages (other libraries use IPC too). */
export function isMessage(value: unknown): value is { t: string } {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
