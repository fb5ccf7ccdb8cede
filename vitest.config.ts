import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'parsers/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real servers and child processes on 2 cores: keep parallelism modest.
    maxWorkers: 2,
    coverage: {
      // Counts the gateway code the tests run in their own process (most start the gateway in-process);
      // code reached only in spawned CLI processes is not counted.
      provider: 'v8',
      enabled: true,
      include: ['gateway/**/*.ts'],
      reporter: ['text-summary'],
      reportsDirectory: 'coverage',
      thresholds: { lines: 90 },
    },
  },
});
