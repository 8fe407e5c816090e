#!/usr/bin/env node
// The drydock command. Runs the build in dist/ (`npm ci` makes it) when it is at least as new as
// every source file; otherwise the TypeScript itself through tsx, so an edit never runs stale
// code (only slower: run `node bin/build.mjs` to rebuild).
import { readdirSync, statSync } from "node:fs";

const root = new URL("..", import.meta.url);
const built = new URL("dist/main.js", root);

function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of ["src", "events", "projections"]) walk(new URL(dir, root).pathname);
  return newest;
}

function builtIsFresh() {
  try {
    return statSync(built).mtimeMs >= newestSource();
  } catch {
    return false;
  }
}

if (builtIsFresh()) {
  await import(built.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("src/cli/main.ts", root).href);
}
