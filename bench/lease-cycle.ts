/**
 * bench/lease-cycle: N concurrent clients each loop acquire (POST /v1/leases?wait=30) + release
 * over real HTTP against a warm local-host pool, for a fixed time; then, on the same database and
 * at the same concurrency, the raw baseline: single-row INSERT commits. Prints cycles/s, p50/p99
 * of the cycle and of the acquire alone, the baseline commits/s and the ratios.
 *
 * The measured phase follows `--warmup` seconds (10 by default) of the same cycles, recorded
 * nowhere: the service's code is compiled by the JIT by then, as in a service that has run for a
 * while. Its first seconds cost more CPU a cycle (up to half as much again on this VM), which a
 * short phase without a warm-up mixes into its figures.
 *
 * `--history N` first stores N finished leases on the same local-host resource (their whole
 * lifecycle, appended through the store in batches: bench/store-history.ts), so the figures show
 * what a long history costs an acquire; run it with and without to compare. `--history-in
 * process` (PostgreSQL) stores them from a process of their own while the service runs, as
 * other service processes' leases would be: bench/README.md, 2026-12-05, has what differs.
 *
 * The clients run in a process of their own (bench/lease-client.ts), as a CI system's would, and
 * send over keep-alive node:http: the service's process then spends its CPU on the service
 * alone, and "process CPU per cycle" is the service's. `--client inline` runs them in the
 * service's process instead, as figures before 2026-12-02 did, by fetch or (`--http node`)
 * node:http; their CPU then counts as the service's.
 *
 *   npm run bench:lease-cycle -- [--clients 8] [--seconds 10] [--warmup 10] [--history 100000 [--history-in process|service]] [--client inline [--http node]]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:lease-cycle
 *
 * Then where the measured phase's CPU went, per cycle: the service's process (API, worker, and on
 * PGlite the database's thread), the database server's processes (PostgreSQL on this machine, read
 * from /proc) and the client process; the most cycles a second the machine's cores allow at that
 * cost; and, when the hypervisor took a share of the cores (steal), that the run is not comparable
 * with a quiet machine's. The baseline prints its CPU per commit the same way.
 *
 * On PostgreSQL it works in a throwaway database it creates and drops.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { sql } from "kysely";
import { createApp } from "../src/api/app";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { storeHistory } from "./store-history";
import { createDrydock } from "../src/service/drydock";
import { openDatabase, type Database } from "../src/store/database";
import { localHostClientTokens } from "./client-tokens";
import { postJson } from "./http-post";
import { percentile, runClientProcess } from "./client-process";
import { throwawayDatabase } from "./throwaway-database";
import { accountsBetween, describeCycleCpu, readAccounts, type CycleCpu } from "./cpu-accounts";

const { values } = parseArgs({
  options: { clients: { type: "string", default: "8" }, seconds: { type: "string", default: "10" }, warmup: { type: "string", default: "10" }, "explain-slow": { type: "string" }, history: { type: "string", default: "0" }, "history-in": { type: "string" }, http: { type: "string", default: "fetch" }, client: { type: "string", default: "process" }, "kept-views": { type: "string", default: "on" } },
});
const historyLeases = Number(values.history);
// Where the history is appended: in the service's process (the default, as every figure in
// bench/README.md), or (PostgreSQL only) from a process of its own while the service runs.
const historyIn = values["history-in"] ?? "service";
if (historyIn !== "process" && historyIn !== "service") throw new Error("--history-in: process or service");
if (historyIn === "process" && !process.env.DATABASE_URL) throw new Error("--history-in process needs PostgreSQL (DATABASE_URL)");
const explainSlowMs = values["explain-slow"] ? Number(values["explain-slow"]) : null;
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
if (!(warmupSeconds >= 0)) throw new Error("--warmup: seconds, 0 or more");
const adminUrl = process.env.DATABASE_URL;
if (values.http !== "fetch" && values.http !== "node") throw new Error("--http: fetch or node");
if (values.client !== "process" && values.client !== "inline") throw new Error("--client: process or inline");
const agent = new http.Agent({ keepAlive: true });

/** POST with a JSON body: status and parsed body, by fetch or by node:http (--http). */
async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: unknown }> {
  if (values.http === "fetch") {
    const res = await fetch(url, { method: "POST", headers, body });
    return { status: res.status, json: await res.json() };
  }
  return postJson(agent, url, headers, body);
}


/** bench/store-history.ts in a process of its own; throws when it fails. */
async function storeHistoryElsewhere(url: string, leases: number): Promise<void> {
  const script = fileURLToPath(new URL("./store-history.ts", import.meta.url));
  // Not spawnSync: the service goes on hearing the appends' notices meanwhile, as a running one would.
  const child = spawn(process.execPath, ["--import", "tsx", script, url, String(leases)], { stdio: "inherit" });
  const [code, signal] = (await once(child, "exit")) as [number | null, string | null];
  if (code !== 0) throw new Error(`bench/store-history.ts exited with ${code ?? signal}`);
}

async function leaseCycles(database: Database, databaseUrl: string | undefined): Promise<{ cycles: number; latencies: number[]; acquires: number[]; cycleCpu: CycleCpu }> {
  const root = await mkdtemp(path.join(tmpdir(), "drydock-bench-"));
  const drydock = await createDrydock({ database, localHost: { root, slots: clients * 2 }, keepCapacityViews: values["kept-views"] !== "off" });
  // No per-token rate limit: one client cycles faster than a token's default lease limit
  // (50/s, burst 200), and the bench measures the lease path, not the limiter.
  const app = createApp(drydock, { rateLimits: { leases: null, commands: null } });
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  const tokens = await localHostClientTokens(drydock, clients);
  const acquires: number[] = [];
  const cycle = async (client = 0): Promise<string> => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${tokens[client]}` };
    const t = performance.now();
    const answer = await post(`${base}/v1/leases?wait=30`, headers, '{"resourceType":"host"}');
    const lease = answer.json as { id: string; status: string };
    acquires.push(performance.now() - t);
    if (lease.status !== "active") throw new Error(`the acquire answered ${answer.status} ${JSON.stringify(answer.json)}`);
    const rel = await post(`${base}/v1/leases/${lease.id}/release`, headers, "{}");
    if (rel.status !== 200) throw new Error(`release answered ${rel.status}`);
    return lease.id;
  };
  await cycle(); // warm: builds and activates the local-host resource
  if (historyLeases > 0) {
    const t = performance.now();
    if (historyIn === "service") await storeHistory(database, drydock.store, historyLeases);
    else await storeHistoryElsewhere(databaseUrl!, historyLeases);
    // As autovacuum would soon after a bulk load, so that the measure is of an acquire after a
    // history, not of the database catching up with the load meanwhile.
    await sql`VACUUM ANALYZE`.execute(database.db);
    if (database.kind === "postgres") await sql`CHECKPOINT`.execute(database.db);
    console.log(`history: ${historyLeases} finished leases stored in ${((performance.now() - t) / 1000).toFixed(1)} s, from ${historyIn === "service" ? "the service's process" : "a process of their own"}`);
  }
  await cycle();
  acquires.length = 0;
  const latencies: number[] = [];
  const slow: { id: string; took: number }[] = [];
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  // What the warm-up appended and conflicted on, left out of the measured phase's figures.
  let atWarm: Promise<{ events: number; conflicts: number }> = countsNow();
  // The database server's, its WAL's and the machine's accounts at the measured phase's start.
  let atStart = readAccounts(database);
  let clientCpu: number | null = null;
  const phaseStarts = () => {
    atWarm = countsNow();
    atStart = readAccounts(database);
  };
  if (values.client === "process") {
    const run = await runClientProcess({ base, tokens, seconds, warmupSeconds, explainSlowMs }, phaseStarts);
    const { report } = run;
    cpu = run.cpu;
    clientCpu = report.cpuMs;
    latencies.push(...report.latencies);
    acquires.push(...report.acquires);
    slow.push(...report.slow);
  } else {
    const loop = async (phaseSeconds: number) => {
      const deadline = performance.now() + phaseSeconds * 1000;
      await Promise.all(
        Array.from({ length: clients }, async (_, client) => {
          while (performance.now() < deadline) {
            const t = performance.now();
            const id = await cycle(client);
            const took = performance.now() - t;
            latencies.push(took);
            if (explainSlowMs !== null && took > explainSlowMs) slow.push({ id, took });
          }
        }),
      );
    };
    if (warmupSeconds > 0) {
      await loop(warmupSeconds);
      latencies.length = 0;
      acquires.length = 0;
      slow.length = 0;
    }
    phaseStarts();
    const cpuBefore = process.cpuUsage();
    await loop(seconds);
    cpu = process.cpuUsage(cpuBefore);
  }
  const spent = accountsBetween(await atStart, await readAccounts(database));
  const warm = await atWarm;
  // This process's CPU per cycle (API and worker; and the clients' too with --client inline):
  // with one client, how much of a cycle is JavaScript rather than waiting on the database.
  console.log(`process CPU per cycle: user ${(cpu.user / 1000 / Math.max(1, latencies.length)).toFixed(2)} ms, system ${(cpu.system / 1000 / Math.max(1, latencies.length)).toFixed(2)} ms`);
  const cycleCpu: CycleCpu = { service: (cpu.user + cpu.system) / 1000, clients: clientCpu, ...spent };
  // Appends refused because another allocator took the slot (or moved the stream) first: each
  // costs a failed statement, a fresh read and another try.
  const conflicts = (await drydock.metrics.appendConflicts.get()).values;
  const byCode = conflicts.map((v) => `${v.labels.code} ${v.value}`).join(", ") || "none";
  const measuredConflicts = conflicts.reduce((n, v) => n + v.value, 0) - warm.conflicts;
  console.log(`append conflicts per cycle: ${(measuredConflicts / Math.max(1, latencies.length)).toFixed(2)} (since the start, warm-up included: ${byCode})`);
  // Requests decided over a capacity view kept from an earlier one that the database refused as
  // stale (each then read a view of its own and decided again): warm-up included.
  const refusals = (await drydock.metrics.keptViewRefusals.get()).values[0]?.value ?? 0;
  const decisions = (await drydock.metrics.keptViewDecisions.get()).values[0]?.value ?? 0;
  console.log(`requests decided over a kept capacity view: ${decisions}, refused as stale: ${refusals} (warm-up included; --kept-views ${values["kept-views"]})`);
  const now = await countsNow();
  console.log(`events appended: ${now.events - warm.events} (${((now.events - warm.events) / Math.max(1, latencies.length)).toFixed(1)} per cycle)`);
  for (const { id, took } of slow.slice(0, 5)) {
    const events = await drydock.store.readStream(`lease-${id}`);
    console.log(`slow cycle ${id}: ${took.toFixed(0)} ms`);
    for (const e of events) console.log(`  ${e.recordedAt.toISOString()} ${e.type} ${JSON.stringify(e.data).slice(0, 160)}`);
  }
  server.close();
  agent.destroy();
  await drydock.close();
  await rm(root, { recursive: true, force: true });
  return { cycles: latencies.length, latencies, acquires, cycleCpu };

  /** Events stored and append conflicts so far. */
  async function countsNow(): Promise<{ events: number; conflicts: number }> {
    const [{ count }, conflicted] = await Promise.all([
      database.db.selectFrom("events").select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow(),
      drydock.metrics.appendConflicts.get(),
    ]);
    return { events: Number(count), conflicts: conflicted.values.reduce((n, v) => n + v.value, 0) };
  }
}

/** The baseline's commits a second, and the CPU (ms) this process and the database server spent on it. */
async function baselineCommits(database: Database): Promise<{ rate: number; serviceCpu: number; serverCpu: number | null; wal: number | null }> {
  await sql`CREATE TABLE IF NOT EXISTS bench_baseline (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())`.execute(database.db);
  const before = await readAccounts(database);
  const cpuBefore = process.cpuUsage();
  let commits = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        await sql`INSERT INTO bench_baseline (payload) VALUES (${JSON.stringify({ n: commits })})`.execute(database.db);
        commits++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const { server: serverCpu, wal } = accountsBetween(before, await readAccounts(database));
  return { rate: commits / seconds, serviceCpu: (cpu.user + cpu.system) / 1000, serverCpu, wal };
}

const target = await throwawayDatabase(adminUrl);
try {
  // The service opens its database as `npm start` does, with its default pool (10 connections):
  // its requests wait their turn for one, as in production. The bench gave it a connection per
  // client and 4 more until 2026-12-03: 36 server processes at 32 clients, whose contention on 2
  // cores cost it about 15 % of its cycles and 25 % more database CPU a cycle than 10 did.
  const database = await openDatabase({ url: target.url });
  // The baseline is a plain loop per client, each on a connection of its own (PGlite has one).
  const baselineDatabase = database.kind === "postgres" ? await openDatabase({ url: target.url, poolSize: clients }) : database;
  const dialect = database.kind === "postgres" ? "PostgreSQL" : "PGlite (in memory)";
  const by = values.client === "process" ? "node:http from a client process" : `${values.http} from the service's process`;
  console.log(`lease-cycle: ${clients} clients, ${seconds} s each phase after ${warmupSeconds} s of warm-up, on ${dialect}, HTTP by ${by}`);
  const { cycles, latencies, acquires, cycleCpu } = await leaseCycles(database, target.url);
  const sorted = [...latencies].sort((a, b) => a - b);
  const acquireSorted = [...acquires].sort((a, b) => a - b);
  const cyclesPerSecond = cycles / seconds;
  console.log(`acquire+release over HTTP: ${cycles} cycles, ${cyclesPerSecond.toFixed(1)} cycles/s, p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms`);
  console.log(`acquire alone (POST ?wait to active): p50 ${percentile(acquireSorted, 50).toFixed(1)} ms, p99 ${percentile(acquireSorted, 99).toFixed(1)} ms`);
  const measured = await baselineCommits(baselineDatabase);
  const baseline = measured.rate;
  const baselineCommitsDone = baseline * seconds;
  const perCommit = (ms: number | null) => (ms === null ? "n/a" : ((ms * 1000) / Math.max(1, baselineCommitsDone)).toFixed(0));
  console.log(`baseline single-row INSERT commits: ${baseline.toFixed(0)} commits/s; CPU per commit (µs): this process ${perCommit(measured.serviceCpu)}, database server ${perCommit(measured.serverCpu)}${measured.wal === null ? "" : `; WAL per commit ${(measured.wal / Math.max(1, baselineCommitsDone)).toFixed(0)} bytes`}`);
  console.log(`ratio: one lease cycle costs ${(baseline / cyclesPerSecond).toFixed(1)} baseline commits`);
  // #9's measure: cycles/s against the two-commit baseline (two single-row commits per iteration).
  console.log(`cycles/s ÷ two-commit baseline (${(baseline / 2).toFixed(0)}/s): ${(cyclesPerSecond / (baseline / 2)).toFixed(3)}`);
  // #9's 32-client target in CPU: what a cycle may cost, on this machine's cores, to reach it.
  const cpuTarget = database.kind === "postgres" && clients >= 32 ? { cyclesPerSecond: 0.15 * (baseline / 2), label: "0.15 × the two-commit baseline" } : undefined;
  for (const line of describeCycleCpu(cycleCpu, cycles, cpuTarget)) console.log(line);
  if (baselineDatabase !== database) await baselineDatabase.close();
  await database.close();
} finally {
  await target.drop();
}
