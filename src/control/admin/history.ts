/**
 * What the status page shows of the last 15 minutes: per node, requests per second and open
 * WebSockets sampled every 10 s, and the recent events (health and state transitions, reloads,
 * re-pins), newest first. Kept in memory, bounded, fed by the control plane.
 */
import type { NodeView } from './node-view.js';

/** Samples kept: 15 minutes at one per 10 s. */
const SAMPLES = 90;
const EVENTS = 50;
/** Time between samples. */
export const SAMPLE_MS = 10_000;

/** One sample of every node. */
export interface HistorySample {
  /** Epoch ms. */
  readonly t: number;
  readonly nodes: Record<string, { readonly rps: number; readonly websockets: number }>;
}

/** Something an operator wants to see happened. */
export interface HistoryEvent {
  /** Epoch ms. */
  readonly t: number;
  readonly node?: string | undefined;
  readonly text: string;
}

/** The ring buffers behind `GET /api/history`. */
export class History {
  readonly #samples: HistorySample[] = [];
  readonly #events: HistoryEvent[] = [];
  #last: { t: number; requests: Map<string, number> } | undefined;

  /** Records the nodes as they are now (requests per second since the last sample). */
  sample(views: readonly NodeView[], now = Date.now()): void {
    const nodes: Record<string, { rps: number; websockets: number }> = {};
    const requests = new Map<string, number>();
    for (const v of views) {
      requests.set(v.name, v.requests);
      const before = this.#last?.requests.get(v.name);
      const seconds = this.#last === undefined ? 0 : (now - this.#last.t) / 1000;
      const rps = before === undefined || seconds <= 0 ? 0 : Math.max(0, (v.requests - before) / seconds);
      nodes[v.name] = { rps: Math.round(rps * 10) / 10, websockets: v.websockets };
    }
    this.#last = { t: now, requests };
    this.#samples.push({ t: now, nodes });
    if (this.#samples.length > SAMPLES) this.#samples.shift();
  }

  /** Records an event. */
  event(text: string, node?: string, now = Date.now()): void {
    this.#events.push({ t: now, node, text });
    if (this.#events.length > EVENTS) this.#events.shift();
  }

  /** Samples oldest first, events newest first. */
  toJSON(): { samples: HistorySample[]; events: HistoryEvent[] } {
    return { samples: [...this.#samples], events: [...this.#events].reverse() };
  }
}
