// The seeded draws a Connect workload is made of, shared by the Connect simulation
// (bench/connect-sim.mjs) and the placement workload test (test/helpers/workload.ts): one PRNG and
// the three shapes (Poisson arrivals, Zipf-popular apps, log-normal session lengths). The same seed
// gives the same workload on every run and every machine.

/** mulberry32: a seeded PRNG in [0, 1). */
export function seeded(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The time to the next of arrivals `mean` apart on average (exponential: a Poisson process). */
export function arrivalGap(random, mean) {
  return -Math.log(random() + 1e-12) * mean;
}

/** Draws an index of `count` with Zipf(`exponent`) weights: 0 the most popular. */
export function zipfPicker(random, count, exponent) {
  const weights = Array.from({ length: count }, (_, i) => 1 / (i + 1) ** exponent);
  const total = weights.reduce((s, w) => s + w, 0);
  return () => {
    let r = random() * total;
    for (let i = 0; i < count; i++) {
      r -= weights[i];
      if (r <= 0) return i;
    }
    return count - 1;
  };
}

/** A log-normal draw with median `median` and shape `sigma` (Box-Muller: two draws). */
export function logNormal(random, median, sigma) {
  const normal = Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * normal);
}
