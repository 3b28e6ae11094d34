/**
 * What passes between the planes about nodes, as plain records (types only): a node's status as the
 * primary's pool has it, and the contents ejected from nodes (rule 13). The pool builds them and
 * the worker messages carry them; neither this file nor the messages import the pool, so every
 * import arrow between contract/ and pool/ points one way.
 */
import type { OperatorState } from '../config/schema.js';

/** What the health checker and passive evidence say. A node starts `unknown`. */
export type Health = 'unknown' | 'up' | 'down';

/**
 * What a cluster worker mirrors of a node's status (src/contract/messages.ts): what routing reads,
 * written by the primary's pool and copied whole.
 */
export interface StatusRecord {
  readonly name: string;
  readonly health: Health;
  readonly state: OperatorState;
  /** Epoch ms of the last health or state transition. */
  readonly since: number;
  readonly version: string | undefined;
  readonly outdated: boolean;
  readonly rampFrom: number | undefined;
  readonly rampMs: number;
}

/** One ejection as it is shared (workers, replicas): the content leaves `node`'s order until `until`. */
export interface Ejection {
  readonly content: string;
  readonly node: string;
  /** Epoch ms. */
  readonly until: number;
  readonly ejections: number;
}
