/**
 * A seeded Connect workload for placement tests (issue 23): Poisson arrivals, Zipf-popular apps,
 * log-normal session lengths, in a time of its own (units, not milliseconds): the test replays its
 * events in order and never waits on the clock. The draws are the Connect simulation's
 * (bench/lib/workload.mjs).
 */
import { arrivalGap, logNormal, seeded, zipfPicker } from '../../bench/lib/workload.mjs';

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
  const pickApp = zipfPicker(random, shape.apps, shape.zipf);
  const events: WorkloadEvent[] = [];
  let at = 0;
  for (let session = 0; session < shape.sessions; session++) {
    at += arrivalGap(random, shape.meanGap);
    const app = pickApp();
    const length = logNormal(random, shape.medianLength, 0.6);
    events.push({ at, kind: 'open', session, app }, { at: at + length, kind: 'close', session, app });
  }
  return events.sort((x, y) => x.at - y.at || (x.kind === 'close' ? -1 : 1));
}
