import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { defineConfig } from "vitest/config";

const folders = ["test", "src", "events", "projections"];
const include = folders.map((folder) => `${folder}/**/*.test.ts`);

/**
 * Test files that replace a module (vi.mock) run each in a process of its own, as vitest runs every
 * file by default: a mocked module cannot be taken back out of a module cache that other files share.
 */
const mocking = folders.flatMap(testFiles).filter((file) => /\bvi\.(doMock|mock)\(/.test(readFileSync(file, "utf8")));

function testFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".test.ts"))
    .map((file) => path.join(folder, file));
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own database (a PGlite instance or a throwaway PostgreSQL database),
    // so files run in parallel; two cores here, so keep the pool small.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        // The rest share their worker's process, one file after another: its modules are imported
        // once, not once a file, and PGlite's compiled WebAssembly (src/store/pglite-artifacts.ts)
        // serves every file's database. Each file still opens its own database and closes what it
        // opened; a file that changes process.env puts it back.
        test: { name: "shared", include, exclude: mocking, isolate: false },
      },
      ...(mocking.length > 0 ? [{ extends: true as const, test: { name: "isolated", include: mocking } }] : []),
    ],
  },
});
