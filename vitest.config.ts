import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Integration tests kill processes and watch timings: one file at a time keeps them honest on 2 cores.
    fileParallelism: false,
    reporters: ['default'],
  },
});
