/**
 * A seeded Connect workload for placement tests (issue 23): Poisson arrivals, Zipf-popular apps,
 * log-normal session lengths, in a time of its own (units, not milliseconds): the test replays its
 * events in order and never waits on the clock.
 */

/** mulberry32: a seeded PRNG, the same draws on every run. */
export function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One session's start or end at time `at`. */
export interface WorkloadEvent {
  readonly at: number;
  readonly kind: 'open' | 'close';
  readonly session: number;
  /** Index of the session's app (0: the most popular). */
  readonly app: number;
}

export interface WorkloadShape {
  readonly sessions: number;
  readonly apps: number;
  /** Zipf exponent of app popularity. */
  readonly zipf: number;
  /** Mean time between arrivals, and the median session length (log-normal, sigma 0.6). */
  readonly meanGap: number;
  readonly medianLength: number;
  readonly seed: number;
}

/** The workload's opens and closes, in time order (a close before an open at the same time). */
export function workloadEvents(shape: WorkloadShape): WorkloadEvent[] {
  const random = seeded(shape.seed);
  const weights = Array.from({ length: shape.apps }, (_, i) => 1 / (i + 1) ** shape.zipf);
  const total = weights.reduce((s, w) => s + w, 0);
  const pickApp = (): number => {
    let r = random() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r <= 0) return i;
    }
    return weights.length - 1;
  };
  const normal = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const events: WorkloadEvent[] = [];
  let at = 0;
  for (let session = 0; session < shape.sessions; session++) {
    at += -Math.log(random() + 1e-12) * shape.meanGap;
    const app = pickApp();
    const length = shape.medianLength * Math.exp(0.6 * normal());
    events.push({ at, kind: 'open', session, app }, { at: at + length, kind: 'close', session, app });
  }
  return events.sort((x, y) => x.at - y.at || (x.kind === 'close' ? -1 : 1));
}
