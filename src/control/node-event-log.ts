/**
 * What an operator reads of the nodes' life, from the pool's events: one log line and one
 * status-page event (admin/history.ts) per health or state transition, per content ejected from or
 * back on a node (rule 13), and per change in how Connect's content list reads (a failure or a cut
 * list said once, and its recovery).
 */
import type { Logger } from '../logger.js';
import type { ContentHealthEvent } from '../pool/content-health.js';
import { isLost, type Transition } from '../pool/node-table.js';
import type { Pool } from '../pool/pool.js';
import type { History } from './admin/history.js';
import type { ContentListOutcome } from './health/connect-procs.js';

export class NodeEventLog {
  readonly #log: Logger;
  readonly history: History;
  readonly #pool: Pool;

  constructor(log: Logger, history: History, pool: Pool) {
    this.#log = log;
    this.history = history;
    this.#pool = pool;
    pool.on('transition', this.#logTransition);
    pool.on('content', this.#logContent);
  }

  /** The last content list read's state ('ok', 'cut' or 'failed'): logged and shown when it changes. */
  #contentList: string | undefined;

  /** A read of Connect's content list ended: a failure or a cut list is logged and on the status page. */
  readonly contentList = (outcome: ContentListOutcome): void => {
    const state = outcome.ok ? (outcome.cut === undefined ? 'ok' : 'cut') : 'failed';
    if (state === this.#contentList) return;
    const first = this.#contentList === undefined;
    this.#contentList = state;
    if (!outcome.ok) {
      const fields = { upstream: outcome.node, error: outcome.error };
      this.#log.warn(fields, "Connect's content list could not be read: vanity paths as last read");
      this.history.event(`content list not read (${outcome.error}): vanity paths as last read`, outcome.node);
    } else if (outcome.cut !== undefined) {
      const fields = { upstream: outcome.node, contents: outcome.contents, cut: outcome.cut };
      this.#log.warn(
        fields,
        "Connect's content list was cut at its bound: contents beyond it are not placed by vanity path",
      );
      this.history.event(
        `content list cut at ${outcome.contents} contents (${outcome.cut} bound)`,
        outcome.node,
      );
    } else if (!first) {
      this.#log.info(
        { upstream: outcome.node, contents: outcome.contents },
        "Connect's content list read again",
      );
      this.history.event(`content list read (${outcome.contents} contents)`, outcome.node);
    }
  };

  /** Rule 13: one line per ejection and per recovery, and an event on the status page. */
  readonly #logContent = (e: ContentHealthEvent): void => {
    const name = this.#pool.contentNames.get(e.content);
    const fields = { upstream: e.node, content: e.content, ...(name === undefined ? {} : { name }) };
    const label = name ?? e.content;
    if (e.kind === 'ejected') {
      const seconds = Math.round((e.untilMs - Date.now()) / 1000);
      this.#log.warn(
        { ...fields, ejections: e.ejections, seconds },
        'content failing on this node while the node is fine: its new sessions go to its next node',
      );
      this.history.event(`${label} failing here: ejected for ${seconds} s (${e.ejections} in a row)`, e.node);
    } else {
      const how = e.cleared ? 'cleared by an admin' : 'its trial session succeeded';
      this.#log.info({ ...fields, how }, 'content back on this node');
      this.history.event(`${label} back (${how})`, e.node);
    }
  };

  readonly #logTransition = (t: Transition): void => {
    const fields = { upstream: t.node.name, from: t.from, to: t.to, cause: t.cause };
    this.history.event(`${t.to} (${t.cause})`, t.node.name);
    if (isLost(t)) this.#log.warn(fields, t.kind === 'health' ? 'node down' : 'node in maintenance');
    else this.#log.info(fields, t.kind === 'health' && t.to === 'up' ? 'node up' : 'node state changed');
  };
}
