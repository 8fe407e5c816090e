#!/usr/bin/env node
// Builds the service and the CLI into dist/ (run by `npm ci` through the `prepare` script), so
// `npx drydock` and `npm start` run plain JavaScript instead of compiling TypeScript at every
// start. Each subcommand's code is its own chunk, loaded only when that subcommand runs:
// `drydock --help` loads neither the database nor the HTTP server. Packages stay in node_modules.
import { build } from "esbuild";
import { copyFile, cp, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("..", import.meta.url);
// `node bin/build.mjs [DIR]`: dist/ by default (what bin/drydock.js runs); tests build elsewhere.
const dist = process.argv[2] ? pathToFileURL(`${path.resolve(process.argv[2])}/`) : new URL("dist/", root);
await rm(dist, { recursive: true, force: true });
await build({
  absWorkingDir: root.pathname,
  // main: the CLI and the service; client: `drydock/client` (package.json "exports"), the typed
  // client other programs import, which is also the CLI's.
  // pglite-worker: the embedded database's thread (src/store/pglite-thread.ts loads it by its path).
  entryPoints: { main: "src/cli/main.ts", client: "src/client/index.ts", "pglite-worker": "src/store/pglite-worker.ts" },
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  outdir: dist.pathname,
  chunkNames: "chunks/[name]-[hash]",
  sourcemap: "linked",
  logLevel: "warning",
});
// Files the code finds next to itself at run time (import.meta.url): chunks live in dist/chunks.
await mkdir(new URL("chunks/", dist), { recursive: true });
for (const dir of ["", "chunks/"]) {
  await copyFile(new URL("src/sandbox/file-helper.mjs", root), new URL(`${dir}file-helper.mjs`, dist));
  await copyFile(new URL("src/api/docs-client.js", root), new URL(`${dir}docs-client.js`, dist));
  await cp(new URL("src/console/console-assets/", root), new URL(`${dir}console-assets/`, dist), { recursive: true });
}
