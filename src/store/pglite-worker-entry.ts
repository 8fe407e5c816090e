import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** What PGlite's thread loads: `entry`, after registering `loader` (tsx) when there is one. */
export interface PGliteWorkerEntry {
  entry: string;
  loader?: string;
}

/**
 * Where PGlite's thread (pglite-thread.ts) finds pglite-worker's code.
 *
 * From the build, dist/pglite-worker.js. From the sources (the tests, the benches, `tsx`), the
 * TypeScript bundled by esbuild, once per process, into node_modules/.cache/drydock/ under the
 * hash of the bundle: a changed source makes a new file and never runs a stale one, and processes
 * that race to write the same file each write their own and rename it into place. The thread used
 * to load the TypeScript through tsx's loader instead: a loader thread of its own and a transform
 * of each module, in every new database, about 0.6 s and 0.9 s of CPU each on this project's
 * 2-core VM, where the test suite opens a database for nearly every file. Where the bundle cannot
 * be written (a read-only checkout), the thread still goes through tsx.
 */
export function pgliteWorkerEntry(here: string = import.meta.url): Promise<PGliteWorkerEntry> {
  if (!here.endsWith(".ts")) {
    // The build: dist/pglite-worker.js, from dist/ or dist/chunks/.
    const dir = new URL(".", here);
    return Promise.resolve({ entry: new URL(dir.pathname.endsWith("/chunks/") ? "../pglite-worker.js" : "./pglite-worker.js", dir).href });
  }
  let entry = fromSources.get(here);
  if (!entry) fromSources.set(here, (entry = bundled(here).catch(() => ({ entry: new URL("./pglite-worker.ts", here).href, loader: tsxRegisterUrl(import.meta.url) }))));
  return entry;
}

/** By the sources' location: one bundle a process. */
const fromSources = new Map<string, Promise<PGliteWorkerEntry>>();

async function bundled(here: string): Promise<PGliteWorkerEntry> {
  const source = fileURLToPath(new URL("./pglite-worker.ts", here));
  // src/store/ → the package's root, whose node_modules the bundle's imports resolve from.
  const cache = path.resolve(path.dirname(source), "../../node_modules/.cache/drydock");
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [source],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]!.contents;
  const file = path.join(cache, `pglite-worker-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(cache, { recursive: true });
    const partial = `${file}.${randomBytes(4).toString("hex")}`;
    writeFileSync(partial, code);
    renameSync(partial, file);
  }
  return { entry: pathToFileURL(file).href };
}

/** tsx's ESM API (its `register`), where the package's exports map puts it. */
function tsxRegisterUrl(from: string): string {
  const manifest = createRequire(from).resolve("tsx/package.json");
  const exports = (JSON.parse(readFileSync(manifest, "utf8")) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(path.join(path.dirname(manifest), exports["./esm/api"]!.import.default)).href;
}
