/**
 * Rule 13: an app that fails on one node while the node is fine (a runtime or a library missing
 * there, a broken package cache; Connect's `/__ping__` still says 200). Outcomes are kept per
 * (content, node) from real traffic: a content's page load or WebSocket handshake answered 5xx, or
 * failing before a head, is a failure; a 2xx/3xx page or a 101 a success (a 4xx is the client's
 * and says nothing). After `threshold` consecutive failures the node leaves that content's
 * placement order for an ejection time that grows with each repeat (Envoy's base time x count,
 * capped), then takes one trial session: its success ends the ejection, its failure ejects again.
 * Other contents keep the node.
 *
 * What is not one node's fault ejects nothing: a content failing on every node it could go to (the
 * app is at fault, as Envoy's max ejection percent keeps a cluster from being emptied), or failing
 * as often elsewhere (its recent outcomes on the other nodes fail as much). Pure: time is passed in.
 */

import type { Ejection } from '../contract/node-records.js';

export type { Ejection } from '../contract/node-records.js';

/** How ejection behaves (`placement.contentEjection.*`). */
export interface EjectionPolicy {
  /** Consecutive failures of a content on a node that eject it (0: never). */
  readonly failures: number;
  /** First ejection time; the n-th repeat lasts n times it. */
  readonly baseMs: number;
  /** Longest ejection time. */
  readonly maxMs: number;
}

export const DEFAULT_EJECTION: EjectionPolicy = { failures: 3, baseMs: 30_000, maxMs: 600_000 };

/** Outcomes kept per (content, node) to tell a node's fault from the app's. */
const RECENT = 10;
/** A trial session that reported nothing for this long frees the trial for another session. */
const TRIAL_TIMEOUT_MS = 30_000;
/** Contents tracked at most (the oldest healthy ones go first: a flood of GUIDs cannot grow memory). */
const MAX_TRACKED = 20_000;

/** What is known of one content on one node. */
interface Track {
  /** Consecutive failures (0 after a success). */
  failures: number;
  /** The last RECENT outcomes, newest last (true: success). */
  readonly recent: boolean[];
  /** Ejections so far in this streak of trouble (0: healthy). */
  ejections: number;
  /** Epoch ms the current ejection ends; undefined when not ejected. */
  until: number | undefined;
  /** Epoch ms of the first failure of the current trouble. */
  since: number | undefined;
  /** Epoch ms a trial session was sent, while it has not reported. */
  trialAt: number | undefined;
}

/** A change worth a log line and a metric. */
export type ContentHealthEvent =
  | {
      readonly kind: 'ejected';
      readonly content: string;
      readonly node: string;
      readonly untilMs: number;
      readonly ejections: number;
    }
  | {
      readonly kind: 'recovered';
      readonly content: string;
      readonly node: string;
      readonly cleared?: boolean;
    };

/** A content in trouble on a node, as the admin API shows it. */
export interface FailingContent {
  readonly content: string;
  readonly failures: number;
  readonly ejections: number;
  /** Epoch ms of the first failure of this trouble. */
  readonly since: number;
  /** Epoch ms the ejection ends (then one trial session); undefined while not ejected. */
  readonly ejectedUntil: number | undefined;
}

export class ContentHealth {
  policy: EjectionPolicy;
  /** content -> node name -> track. Map order is insertion order: the oldest content first. */
  readonly #tracks = new Map<string, Map<string, Track>>();
  /** Ejections other processes decided (a worker's primary, other replicas): content -> node -> ejection. */
  #shared = new Map<string, Map<string, Ejection>>();
  /** The shared set as last given, to tell a change. */
  #sharedKey = '';

  constructor(policy: EjectionPolicy = DEFAULT_EJECTION) {
    this.policy = policy;
  }

  /**
   * Records an outcome of `content` on `node` at `now`; `others` are the other nodes the content
   * could go to now. Returns the change it made, if any.
   */
  record(
    content: string,
    node: string,
    ok: boolean,
    now: number,
    others: readonly string[],
  ): ContentHealthEvent | undefined {
    if (this.policy.failures <= 0) return undefined;
    const track = this.#track(content, node, !ok);
    if (track === undefined) return undefined;
    track.recent.push(ok);
    if (track.recent.length > RECENT) track.recent.shift();
    track.trialAt = undefined;
    if (ok) {
      const wasTroubled = track.ejections > 0;
      track.failures = 0;
      track.ejections = 0;
      track.until = undefined;
      track.since = undefined;
      if (wasTroubled) return { kind: 'recovered', content, node };
      return undefined;
    }
    track.failures++;
    track.since ??= now;
    // Ejected already and its time not over: nothing more to decide.
    if (track.until !== undefined && track.until > now) return undefined;
    // Back from an ejection, the trial failed: ejected again at once; else after `failures`.
    const trial = track.ejections > 0;
    if (!trial && track.failures < this.policy.failures) return undefined;
    if (!this.#nodeSpecific(content, node, now, others)) return undefined;
    track.ejections++;
    const ms = Math.min(this.policy.baseMs * track.ejections, this.policy.maxMs);
    track.until = now + ms;
    return { kind: 'ejected', content, node, untilMs: track.until, ejections: track.ejections };
  }

  /**
   * Whether `node` is out of `content`'s placement order at `now`: ejected, by this process or
   * another, and its time not over, or over with its one trial session sent.
   */
  ejected(content: string, node: string, now: number): boolean {
    const track = this.#tracks.get(content)?.get(node);
    if (track?.until !== undefined) {
      if (track.until > now) return true;
      return track.trialAt !== undefined && now - track.trialAt < TRIAL_TIMEOUT_MS;
    }
    const shared = this.#shared.get(content)?.get(node);
    return shared !== undefined && shared.until > now;
  }

  /** `node` was placed a session of `content` at `now`: after an ejection, that is its trial. */
  placed(content: string, node: string, now: number): void {
    const track = this.#tracks.get(content)?.get(node);
    if (track?.until === undefined || track.until > now) return;
    if (track.trialAt === undefined || now - track.trialAt >= TRIAL_TIMEOUT_MS) track.trialAt = now;
  }

  /** Whether `content` is known to fail anywhere (a Map lookup: placement checks it first). */
  troubled(content: string): boolean {
    return this.#tracks.has(content) || this.#shared.has(content);
  }

  /** Contents in trouble on `node` (failing now, or ejected). */
  failing(node: string): FailingContent[] {
    const out: FailingContent[] = [];
    for (const [content, nodes] of this.#tracks) {
      const t = nodes.get(node);
      if (t === undefined || t.since === undefined) continue;
      out.push({
        content,
        failures: t.failures,
        ejections: t.ejections,
        since: t.since,
        ejectedUntil: t.until,
      });
    }
    for (const [content, nodes] of this.#shared) {
      const e = nodes.get(node);
      if (e === undefined || this.#tracks.get(content)?.get(node)?.until !== undefined) continue;
      out.push({ content, failures: 0, ejections: e.ejections, since: e.until, ejectedUntil: e.until });
    }
    return out;
  }

  /** The ejections this process decided and that are not over at `now` (to share). */
  ejections(now: number): Ejection[] {
    const out: Ejection[] = [];
    for (const [content, nodes] of this.#tracks)
      for (const [node, t] of nodes)
        if (t.until !== undefined && t.until > now)
          out.push({ content, node, until: t.until, ejections: t.ejections });
    return out;
  }

  /** This process's ejections and those it was told of, not over at `now` (what a worker places by). */
  allEjections(now: number): Ejection[] {
    const out = this.ejections(now);
    for (const nodes of this.#shared.values()) for (const e of nodes.values()) if (e.until > now) out.push(e);
    return out;
  }

  /** Ejections other processes decided, replacing the last set; true when the set changed. */
  setShared(list: readonly Ejection[]): boolean {
    const before = this.#sharedKey;
    this.#sharedKey = list
      .map((e) => `${e.content} ${e.node} ${e.until}`)
      .sort()
      .join('\n');
    const shared = new Map<string, Map<string, Ejection>>();
    for (const e of list) {
      let nodes = shared.get(e.content);
      if (nodes === undefined) {
        nodes = new Map();
        shared.set(e.content, nodes);
      }
      nodes.set(e.node, e);
    }
    this.#shared = shared;
    return this.#sharedKey !== before;
  }

  /** An admin cleared `node`'s trouble (all its contents): it takes their sessions again. Returns them. */
  clear(node: string): string[] {
    const cleared: string[] = [];
    for (const [c, nodes] of this.#tracks) {
      if (nodes.delete(node)) cleared.push(c);
      if (nodes.size === 0) this.#tracks.delete(c);
    }
    return cleared;
  }

  /** Forgets nodes no longer configured. */
  keepOnly(nodes: ReadonlySet<string>): void {
    for (const [c, byNode] of this.#tracks) {
      for (const name of byNode.keys()) if (!nodes.has(name)) byNode.delete(name);
      if (byNode.size === 0) this.#tracks.delete(c);
    }
  }

  /**
   * Whether the failures of `content` on `node` are that node's: some other node it could go to
   * is not failing it, and its recent outcomes there fail less than half as often.
   */
  #nodeSpecific(content: string, node: string, now: number, others: readonly string[]): boolean {
    const nodes = this.#tracks.get(content);
    let healthyElsewhere = false;
    let tried = 0;
    let failed = 0;
    for (const other of others) {
      if (other === node) continue;
      const t = nodes?.get(other);
      if (this.ejected(content, other, now)) continue;
      if (t === undefined || t.failures === 0) healthyElsewhere = true;
      if (t !== undefined) {
        tried += t.recent.length;
        failed += t.recent.filter((ok) => !ok).length;
      }
    }
    if (!healthyElsewhere) return false;
    const mine = nodes?.get(node);
    const mineRate = mine === undefined ? 1 : mine.recent.filter((ok) => !ok).length / mine.recent.length;
    // With enough outcomes elsewhere, as many failures there means the app, not this node.
    return tried < 5 || failed / tried < mineRate / 2;
  }

  /** The track of (content, node); created for a failure (never for a success alone). */
  #track(content: string, node: string, create: boolean): Track | undefined {
    let nodes = this.#tracks.get(content);
    if (nodes === undefined) {
      if (!create) return undefined;
      if (this.#tracks.size >= MAX_TRACKED) this.#evictOne();
      nodes = new Map();
      this.#tracks.set(content, nodes);
    }
    let track = nodes.get(node);
    if (track === undefined) {
      if (!create && nodes.size === 0) return undefined;
      track = {
        failures: 0,
        recent: [],
        ejections: 0,
        until: undefined,
        since: undefined,
        trialAt: undefined,
      };
      nodes.set(node, track);
    }
    return track;
  }

  /** Drops the oldest content that has no ejection (or the oldest at all). */
  #evictOne(): void {
    for (const [c, nodes] of this.#tracks) {
      if ([...nodes.values()].every((t) => t.until === undefined)) {
        this.#tracks.delete(c);
        return;
      }
    }
    const first = this.#tracks.keys().next().value;
    if (first !== undefined) this.#tracks.delete(first);
  }
}
