/**
 * The IPC vocabulary between the cluster primary (control plane) and its workers (data planes). The
 * configuration reaches a worker only as `settings`: validated and built once by the primary, with
 * no secret in it and nothing in the worker's environment.
 */

import type { DataSettings } from './data-settings.js';
import type { Ejection, StatusRecord } from './node-records.js';

/** Per-worker counters of one node, summed by the primary for /api/nodes. */
export interface NodeCounters {
  readonly name: string;
  readonly inFlight: number;
  readonly websockets: number;
  /** Sessions placed on the node whose WebSocket has not opened yet (node-traffic.ts). */
  readonly placed: number;
  readonly requests: number;
  /** The worker's busiest contents on the node (summed and ranked again by the primary). */
  readonly contents: ReadonlyArray<{ readonly content: string; readonly sessions: number }>;
}

/** Primary -> worker. The first `settings` starts the worker's data plane; later ones are reloads. */
export type ToWorker =
  | { readonly t: 'settings'; readonly settings: DataSettings }
  /**
   * The status of the nodes named, as the primary's pool has it (all of them on start, on a reload
   * and when versions change; the one that changed on a transition).
   */
  | { readonly t: 'status'; readonly nodes: readonly StatusRecord[] }
  | { readonly t: 'query'; readonly id: number; readonly what: 'nodes' | 'metrics' }
  | { readonly t: 'shutdown' }
  /** The sessions and requests per node every other balancer process holds (rule 10's load). */
  /** ... and the contents Connect runs on each node (with `connect.apiKey`), for placement. */
  | {
      readonly t: 'loads';
      readonly external: Readonly<Record<string, number>>;
      readonly warm: Readonly<Record<string, readonly string[]>>;
      /** Vanity paths (path prefix -> content GUID), sent when they changed. */
      readonly vanity?: ReadonlyArray<readonly [string, string]>;
    }
  | { readonly t: 'skip-delay' }
  /** The contents ejected from nodes (rule 13), as the primary's pool decided them: the whole set. */
  | { readonly t: 'ejections'; readonly list: readonly Ejection[] };

/** Worker -> primary. `hello`: the worker listens for messages; `ready`: its proxy listens. */
export type ToPrimary =
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly proxyUrl: string; readonly redirectUrl: string | undefined }
  /** Passive evidence (PassiveEvidence): a real request could not connect to the node, or did. */
  | { readonly t: 'connect-failure'; readonly name: string }
  | { readonly t: 'connected'; readonly name: string }
  /** A content's page load or handshake on a node succeeded or failed (rule 13). */
  | { readonly t: 'content-outcome'; readonly name: string; readonly content: string; readonly ok: boolean }
  | { readonly t: 'task-opened'; readonly node: string; readonly id: string }
  | { readonly t: 'task-polled'; readonly id: string; readonly finished: boolean }
  | { readonly t: 'reply'; readonly id: number; readonly data: unknown };

/** True for objects that look like one of our messages (other libraries use IPC too). */
export function isMessage(value: unknown): value is { t: string } {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
