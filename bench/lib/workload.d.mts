// Types of workload.mjs, for the TypeScript tests that draw the same workloads.
export function seeded(seed: number): () => number;
export function arrivalGap(random: () => number, mean: number): number;
export function zipfPicker(random: () => number, count: number, exponent: number): () => number;
export function logNormal(random: () => number, median: number, sigma: number): number;
