import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'parsers/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers and child processes on 2 cores: keep parallelism modest.
    maxWorkers: 2,
    // Opt-in chaos and long runs live in *.chaos.test.ts and run only with TAGO_EDGE_CHAOS=1.
    exclude: process.env.TAGO_EDGE_CHAOS ? [] : ['**/*.chaos.test.ts', '**/node_modules/**'],
  },
});
