import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts", "events/**/*.test.ts", "projections/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own database (a PGlite instance or a throwaway PostgreSQL database),
    // so files run in parallel; two cores here, so keep the pool small.
    maxWorkers: 2,
  },
});
