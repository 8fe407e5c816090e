/**
 * bench/http-floor: the least a lease cycle could cost on this machine with this stack, to read
 * bench/lease-cycle's figures against. The same transport and drivers as the service (hono on
 * @hono/node-server, Kysely over pg with named prepared statements, a client process sending
 * keep-alive node:http), but a "cycle" that does next to nothing: two POSTs, each a token lookup
 * by hash, then reads of one row by its key, then single-row INSERT commits: `--statements` in
 * all, `--commits` of them INSERTs (4 and 2 by default; a warm lease cycle sends about 6, 3 of them
 * commits: bench/cycle-statements.ts), with no allocation, no events, no worker, no directory.
 *
 * As lease-cycle's, the measured phase follows `--warmup` seconds (10 by default) recorded nowhere,
 * and it ends with the same CPU a cycle, process by process (cpu-accounts.ts), to set beside lease-cycle's.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/http-floor.ts [--clients 1] [--seconds 6] [--warmup 10] [--statements 4] [--commits 2]
 */
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { sql } from "kysely";
import { percentile, runClientProcess } from "./client-process";
import { openDatabase } from "../src/store/database";
import { throwawayDatabase } from "./throwaway-database";
import { accountsBetween, describeCycleCpu, readAccounts } from "./cpu-accounts";

const { values } = parseArgs({ options: { clients: { type: "string", default: "1" }, seconds: { type: "string", default: "6" }, warmup: { type: "string", default: "10" }, statements: { type: "string", default: "4" }, commits: { type: "string", default: "2" } } });
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const statements = Number(values.statements);
const commits = Number(values.commits);
if (!Number.isInteger(commits) || commits < 0 || !Number.isInteger(statements) || statements < commits + 2) throw new Error("--statements: at least --commits + 2 (each POST's token lookup)");
/** What each POST sends after its token lookup: the first one the larger half of each kind. */
const reads = statements - commits - 2;
const share = [
  { reads: Math.ceil(reads / 2), inserts: Math.ceil(commits / 2) },
  { reads: Math.floor(reads / 2), inserts: Math.floor(commits / 2) },
];

const target = await throwawayDatabase(process.env.DATABASE_URL);
try {
  // The pool the service has (database.ts: 10 connections), as bench/lease-cycle gives it.
  const database = await openDatabase({ url: target.url });
  const db = database.db;
  await sql`CREATE TABLE floor_tokens (hash text PRIMARY KEY, owner text NOT NULL)`.execute(db);
  await sql`CREATE TABLE floor_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text NOT NULL, body jsonb NOT NULL)`.execute(db);
  const tokens = Array.from({ length: clients }, (_, i) => `token-${i}`);
  for (const t of tokens) await sql`INSERT INTO floor_tokens VALUES (${t}, ${`owner-${t}`})`.execute(db);
  const app = new Hono();
  const handle = async (authorization: string | undefined, body: unknown, part: (typeof share)[number]): Promise<{ id: string; status: string }> => {
    const hash = (authorization ?? "").replace(/^Bearer /, "");
    const token = await sql<{ owner: string }>`SELECT owner FROM floor_tokens WHERE hash = ${hash}`.execute(db);
    const owner = token.rows[0]?.owner ?? "nobody";
    for (let i = 0; i < part.reads; i++) await sql`SELECT owner FROM floor_tokens WHERE hash = ${hash}`.execute(db);
    let id = "0";
    for (let i = 0; i < part.inserts; i++) {
      const row = await sql<{ id: string }>`INSERT INTO floor_rows (owner, body) VALUES (${owner}, ${JSON.stringify(body)}) RETURNING id`.execute(db);
      id = String(row.rows[0]!.id);
    }
    return { id, status: "active" };
  };
  app.post("/v1/leases", async (c) => c.json(await handle(c.req.header("authorization"), await c.req.json(), share[0]!)));
  app.post("/v1/leases/:id/release", async (c) => c.json(await handle(c.req.header("authorization"), { released: c.req.param("id") }, share[1]!)));
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  let atStart = readAccounts(database);
  const { report, cpu } = await runClientProcess({ base, tokens, seconds, warmupSeconds, explainSlowMs: null }, () => void (atStart = readAccounts(database)));
  const spent = accountsBetween(await atStart, await readAccounts(database));
  const n = report.latencies.length;
  const sorted = [...report.latencies].sort((a, b) => a - b);
  const acquires = [...report.acquires].sort((a, b) => a - b);
  console.log(`http-floor: ${clients} clients, ${seconds} s after ${warmupSeconds} s of warm-up, on ${database.kind}: 2 POSTs and ${statements} statements a cycle, ${commits} of them commits`);
  console.log(`service CPU per cycle: user ${(cpu.user / 1000 / n).toFixed(2)} ms, system ${(cpu.system / 1000 / n).toFixed(2)} ms`);
  console.log(`cycles: ${n}, ${(n / seconds).toFixed(1)} cycles/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`);
  console.log(`first POST alone: p50 ${percentile(acquires, 50).toFixed(2)} ms, p99 ${percentile(acquires, 99).toFixed(2)} ms`);
  for (const line of describeCycleCpu({ service: (cpu.user + cpu.system) / 1000, clients: report.cpuMs, ...spent }, n)) console.log(line);
  server.close();
  await database.close();
} finally {
  await target.drop();
}
