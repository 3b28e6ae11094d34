/**
 * A cluster worker's node table: membership from the settings the primary sends, status copied
 * whole from the primary's records (the primary's pool is the one writer of status; a worker
 * computes no health, ramp or version of its own). Passive evidence goes to the primary, whose
 * pool decides, and comes back as a record like any other change.
 */

import type { DataSettings, NodeSpec } from '../contract/data-settings.js';
import { NodeTable } from './node-table.js';
import type { StatusRecord, UpstreamNode } from './upstream-node.js';

/** Passive evidence on its way to the pool that owns status. */
export interface EvidenceSink {
  connectFailure(name: string): void;
  connected(name: string): void;
  /** A content's outcome on a node (rule 13): the primary's pool decides ejections. */
  contentOutcome(name: string, content: string, ok: boolean): void;
}

/** The status table a worker routes over. */
export class StatusMirror extends NodeTable {
  readonly #evidence: EvidenceSink;
  /** Nodes this worker reported a failure of and no connection since (a success resets the pool's count). */
  readonly #failing = new Set<string>();
  /** Passive evidence counts (`healthCheck.passiveFailures` > 0): else none is sent. */
  #passive = true;

  constructor(
    settings: Pick<DataSettings, 'nodes' | 'pool'>,
    evidence: EvidenceSink,
    now: () => number = Date.now,
  ) {
    super(now);
    this.#evidence = evidence;
    this.follow(settings);
  }

  /** Membership as the primary's settings give it; a new node's status comes in its next record. */
  reconcile(specs: readonly NodeSpec[]): UpstreamNode[] {
    return this.setMembership(specs);
  }

  follow(settings: Pick<DataSettings, 'nodes' | 'pool'>): void {
    this.#passive = settings.pool.passiveFailures > 0;
    this.contentHealth.policy = settings.pool.ejection;
    this.reconcile(settings.nodes);
  }

  /**
   * Copies the primary's records of the nodes named; a change of state or health emits its
   * transition (cause `primary`), state first, as the data plane's listeners expect of a pool.
   */
  apply(records: readonly StatusRecord[]): void {
    for (const record of records) {
      const node = this.get(record.name);
      if (node === undefined) continue;
      const status = this.status(node);
      const before = { state: status.state, health: status.health };
      status.state = record.state;
      status.health = record.health;
      status.since = record.since;
      status.version = record.version;
      status.outdated = record.outdated;
      status.rampFrom = record.rampFrom;
      status.rampMs = record.rampMs;
      if (before.state !== record.state)
        this.emit('transition', {
          node,
          kind: 'state',
          from: before.state,
          to: record.state,
          cause: 'primary',
        });
      if (before.health !== record.health)
        this.emit('transition', {
          node,
          kind: 'health',
          from: before.health,
          to: record.health,
          cause: 'primary',
        });
    }
  }

  reportConnectFailure(node: UpstreamNode): void {
    if (!this.#passive) return;
    this.#failing.add(node.name);
    this.#evidence.connectFailure(node.name);
  }

  /** Sent to the primary, whose pool decides; its ejections come back (`contentHealth.setShared`). */
  reportContentOutcome(node: UpstreamNode, content: string, ok: boolean): void {
    this.#evidence.contentOutcome(node.name, content, ok);
  }

  reportConnected(node: UpstreamNode): void {
    if (this.#failing.size === 0 || !this.#failing.delete(node.name)) return;
    this.#evidence.connected(node.name);
  }
}
