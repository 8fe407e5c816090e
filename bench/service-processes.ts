/**
 * bench/service-processes: the lease cycle of bench/lease-cycle served by N service processes on
 * one PostgreSQL database, as several Drydock processes behind one address would serve it (here
 * node:cluster shares one port among them). Each process is a whole service (API, worker, its own
 * pool of connections) with the same local-host root. The clients (a process of their own) loop
 * acquire (POST /v1/leases?wait=30) and release, for `--warmup` then `--seconds` seconds.
 *
 * It prints cycles/s and p50, then, for each process over the whole run (warm-up included): the
 * appends the database refused because another allocator moved first (`capacity_conflict`,
 * `version_conflict`), the requests decided over a kept capacity view and how many of those were
 * refused as stale, and its CPU. What it is for: how much the processes get in each other's way.
 * Last, once every lease is destroyed, what is left in the local host's lease directories: an
 * acquisition that lost to another process's leaves nothing behind (allocate-lease.ts), so 0.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/service-processes.ts [--processes 2] [--clients 32] [--seconds 8] [--warmup 6] [--slots N]
 *
 * `--slots`: the local host's slots (default twice the clients, so no lease waits); fewer than the
 * clients makes leases queue, and a waiting lease is then decided on by runs in every process.
 *
 * PostgreSQL only (PGlite is one process's database). It works in a throwaway database it drops.
 */
import cluster from "node:cluster";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { createApp } from "../src/api/app";
import { createDrydock } from "../src/service/drydock";
import { openDatabase } from "../src/store/database";
import { percentile, runClientProcess } from "./client-process";
import { localHostClientTokens } from "./client-tokens";
import { throwawayDatabase } from "./throwaway-database";

const { values } = parseArgs({ options: { processes: { type: "string", default: "2" }, clients: { type: "string", default: "32" }, seconds: { type: "string", default: "8" }, warmup: { type: "string", default: "6" }, slots: { type: "string" } } });
const [processes, clients, seconds, warmupSeconds] = [values.processes, values.clients, values.seconds, values.warmup].map(Number) as [number, number, number, number];
const slots = values.slots === undefined ? clients * 2 : Number(values.slots);

/** What a service process sends back when asked, at the end of the run. */
interface ProcessReport {
  pid: number;
  conflicts: string;
  keptDecisions: number;
  keptRefused: number;
  cpuMs: number;
}

if (cluster.isPrimary) await primary();
else await serviceProcess();

async function primary(): Promise<void> {
  if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL: several processes need PostgreSQL");
  if (!(processes >= 1 && clients >= 1 && seconds > 0 && warmupSeconds >= 0 && Number.isInteger(slots) && slots >= 1)) throw new Error("--processes, --clients, --seconds, --slots: positive; --warmup: 0 or more");
  const target = await throwawayDatabase(process.env.DATABASE_URL);
  const root = await mkdtemp(path.join(tmpdir(), "drydock-bench-"));
  const workers: ReturnType<typeof cluster.fork>[] = [];
  try {
    // The database, its local host and the clients' tokens, made by a service that then stops.
    const database = await openDatabase({ url: target.url });
    const setup = await createDrydock({ database, localHost: { root, slots } });
    const tokens = await localHostClientTokens(setup, clients);
    await setup.close();
    await database.close();

    // Port 0 in every process: the cluster's primary hands them all the one port it picked.
    const ports = await Promise.all(
      Array.from({ length: processes }, () => {
        const worker = cluster.fork({ BENCH_DATABASE_URL: target.url, BENCH_ROOT: root, BENCH_SLOTS: String(slots) });
        workers.push(worker);
        return new Promise<number>((resolve, reject) => {
          worker.once("message", (port: number) => resolve(port));
          worker.once("exit", (code) => reject(new Error(`a service process exited (${code}) before it listened`)));
        });
      }),
    );
    const port = ports[0]!;
    if (ports.some((p) => p !== port)) throw new Error(`the service processes listen on different ports: ${ports.join(", ")}`);
    console.log(`service-processes: ${processes} service process(es), ${clients} clients, ${slots} slots, ${seconds} s after ${warmupSeconds} s of warm-up, on PostgreSQL`);
    const { report } = await runClientProcess({ base: `http://127.0.0.1:${port}`, tokens, seconds, warmupSeconds, explainSlowMs: null });
    const sorted = [...report.latencies].sort((a, b) => a - b);
    console.log(`acquire+release over HTTP: ${report.latencies.length} cycles, ${(report.latencies.length / seconds).toFixed(1)} cycles/s, p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`);
    for (const worker of workers) {
      const r = await new Promise<ProcessReport>((resolve) => {
        worker.once("message", (m: ProcessReport) => resolve(m));
        worker.send("report");
      });
      console.log(`process ${r.pid} (warm-up included): refused appends ${r.conflicts}; decided over a kept view ${r.keptDecisions}, refused as stale ${r.keptRefused}; CPU ${(r.cpuMs / 1000).toFixed(1)} s`);
    }
    console.log(`lease directories left once every lease was destroyed: ${await leftAfterTeardowns(target.url!, root)}`);
  } finally {
    for (const worker of workers) worker.kill();
    await Promise.all(workers.map((w) => (w.isDead() ? null : new Promise((r) => w.once("exit", r)))));
    await target.drop();
    await rm(root, { recursive: true, force: true });
  }
}

/** Waits (up to 30 s) for every lease's teardown, then counts the entries under each resource's leases/ and tmp/. */
async function leftAfterTeardowns(url: string, root: string): Promise<string> {
  const database = await openDatabase({ url });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const live = await database.db.selectFrom("leases").select((eb) => eb.fn.countAll<string>().as("n")).where("status", "!=", "destroyed").executeTakeFirstOrThrow();
      if (Number(live.n) === 0) break;
      if (Date.now() > deadline) return `not counted: ${live.n} lease(s) still not destroyed after 30 s`;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await database.close();
  }
  let left = 0;
  for (const resource of await readdir(root)) {
    for (const dir of ["leases", "tmp"]) left += (await readdir(path.join(root, resource, dir)).catch(() => [])).length;
  }
  return String(left);
}

async function serviceProcess(): Promise<void> {
  const database = await openDatabase({ url: process.env.BENCH_DATABASE_URL });
  const drydock = await createDrydock({ database, localHost: { root: process.env.BENCH_ROOT!, slots: Number(process.env.BENCH_SLOTS) } });
  // No per-token rate limit, as in bench/lease-cycle: the bench measures the lease path.
  const app = createApp(drydock, { rateLimits: { leases: null, commands: null } });
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  server.once("listening", () => process.send!((server.address() as { port: number }).port));
  process.on("message", async () => {
    const conflicts = (await drydock.metrics.appendConflicts.get()).values.map((v) => `${v.labels.code} ${v.value}`).join(", ") || "none";
    const keptRefused = (await drydock.metrics.keptViewRefusals.get()).values[0]?.value ?? 0;
    const keptDecisions = (await drydock.metrics.keptViewDecisions.get()).values[0]?.value ?? 0;
    const cpu = process.cpuUsage();
    const report: ProcessReport = { pid: process.pid, conflicts, keptDecisions, keptRefused, cpuMs: (cpu.user + cpu.system) / 1000 };
    process.send!(report);
  });
}
