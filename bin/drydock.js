#!/usr/bin/env node
// The drydock command. Runs the build in dist/ (`npm ci` makes it) when it is at least as new as
// every source file; otherwise the TypeScript itself through tsx, so an edit never runs stale
// code (only slower: run `node bin/build.mjs` to rebuild).
import { built, builtIsFresh, root } from "./build-freshness.mjs";

if (builtIsFresh()) {
  await import(built.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("src/cli/main.ts", root).href);
}
