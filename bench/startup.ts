/**
 * bench/startup: how soon Drydock answers. Prints the median of several runs of
 *  - `npx drydock --help` (node bin/drydock.js --help): the CLI's start;
 *  - `npm start` on an existing PGlite database, from spawn until GET /healthz answers 200.
 * Both run the build in dist/ when it is fresh (`npm ci` makes it; `npm run build` remakes it)
 * and say so; otherwise they compile the TypeScript through tsx, which the figures then show.
 *
 *   npm run bench:startup [-- --runs 5]
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const runs = Number(values.runs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function cliHelp(): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, ["bin/drydock.js", "--help"], { stdio: "ignore" });
  if (run.status !== 0) throw new Error(`drydock --help exited ${run.status}`);
  return performance.now() - started;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Spawns `npm start`, waits for /healthz, stops it; the milliseconds until it answered. */
async function npmStart(home: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn("npm", ["start"], { env: { ...process.env, PORT: String(port), DRYDOCK_HOME: home }, stdio: "ignore", detached: true });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) return performance.now() - started;
      if (Date.now() > deadline) throw new Error("npm start never answered /healthz");
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    process.kill(-child.pid!, "SIGTERM");
    await new Promise((r) => child.once("exit", r));
    // npm exits before the service it started, which may still be closing its database: the next
    // start (or the removal of the directory) waits until the whole process group is gone.
    for (const deadline = Date.now() + 30_000; groupAlive(child.pid!); ) {
      if (Date.now() > deadline) throw new Error("npm start's processes outlived SIGTERM by 30 s");
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  // @ts-expect-error: a plain .mjs module without types
  const { builtIsFresh } = (await import("../bin/build-freshness.mjs")) as { builtIsFresh: () => boolean };
  const fresh = builtIsFresh();
  console.log(`build in dist/: ${fresh ? "fresh: measured" : `${existsSync("dist/main.js") ? "older than the sources" : "absent"}: tsx compiles the sources (npm run build)`}`);
  cliHelp(); // warm the file cache
  const help = Array.from({ length: runs }, cliHelp);
  console.log(`drydock --help:                      median ${median(help).toFixed(0)} ms  (runs: ${help.map((x) => x.toFixed(0)).join(", ")})`);

  const home = await mkdtemp(path.join(tmpdir(), "drydock-startup-"));
  try {
    const first = await npmStart(home); // makes the database
    const again: number[] = [];
    for (let i = 0; i < runs; i++) again.push(await npmStart(home));
    console.log(`npm start, new PGlite database:      ${first.toFixed(0)} ms`);
    console.log(`npm start, existing PGlite database: median ${median(again).toFixed(0)} ms  (runs: ${again.map((x) => x.toFixed(0)).join(", ")})`);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

await main();
