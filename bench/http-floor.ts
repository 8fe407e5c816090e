/**
 * bench/http-floor: the least a lease cycle could cost on this machine with this stack, to read
 * bench/lease-cycle's figures against. The same transport and drivers as the service (hono on
 * @hono/node-server, Kysely over pg with named prepared statements, a client process sending
 * keep-alive node:http), but a "cycle" that does next to nothing: two POSTs, each one token
 * lookup by hash and one single-row INSERT commit, so 4 statements where a lease cycle sends 12,
 * with no allocation, no events, no worker, no directory.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/http-floor.ts [--clients 1] [--seconds 6]
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { sql } from "kysely";
import type { ClientOrder, ClientReport } from "./lease-client";
import { openDatabase } from "../src/store/database";
import { throwawayDatabase } from "./throwaway-database";

const { values } = parseArgs({ options: { clients: { type: "string", default: "1" }, seconds: { type: "string", default: "6" } } });
const clients = Number(values.clients);
const seconds = Number(values.seconds);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const target = await throwawayDatabase(process.env.DATABASE_URL);
try {
  const database = await openDatabase({ url: target.url, poolSize: clients + 4 });
  const db = database.db;
  await sql`CREATE TABLE floor_tokens (hash text PRIMARY KEY, owner text NOT NULL)`.execute(db);
  await sql`CREATE TABLE floor_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner text NOT NULL, body jsonb NOT NULL)`.execute(db);
  const tokens = Array.from({ length: clients }, (_, i) => `token-${i}`);
  for (const t of tokens) await sql`INSERT INTO floor_tokens VALUES (${t}, ${`owner-${t}`})`.execute(db);
  const app = new Hono();
  const handle = async (authorization: string | undefined, body: unknown): Promise<{ id: string; status: string }> => {
    const hash = (authorization ?? "").replace(/^Bearer /, "");
    const token = await sql<{ owner: string }>`SELECT owner FROM floor_tokens WHERE hash = ${hash}`.execute(db);
    const owner = token.rows[0]?.owner ?? "nobody";
    const row = await sql<{ id: string }>`INSERT INTO floor_rows (owner, body) VALUES (${owner}, ${JSON.stringify(body)}) RETURNING id`.execute(db);
    return { id: String(row.rows[0]!.id), status: "active" };
  };
  app.post("/v1/leases", async (c) => c.json(await handle(c.req.header("authorization"), await c.req.json())));
  app.post("/v1/leases/:id/release", async (c) => c.json(await handle(c.req.header("authorization"), { released: c.req.param("id") })));
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const child = fork(fileURLToPath(new URL("./lease-client.ts", import.meta.url)));
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  const report = await new Promise<ClientReport>((resolve, reject) => {
    let before = process.cpuUsage();
    child.on("message", (m: "ready" | ClientReport) => {
      if (m === "ready") {
        before = process.cpuUsage();
        child.send({ base, tokens, seconds, explainSlowMs: null } satisfies ClientOrder);
      } else {
        cpu = process.cpuUsage(before);
        resolve(m);
      }
    });
    child.once("exit", (code) => reject(new Error(`the client process exited (${code}) without a report`)));
  });
  if (report.error) throw new Error(report.error);
  const n = report.latencies.length;
  const sorted = [...report.latencies].sort((a, b) => a - b);
  const acquires = [...report.acquires].sort((a, b) => a - b);
  console.log(`http-floor: ${clients} clients, ${seconds} s, on ${database.kind}: 2 POSTs and 4 statements a cycle`);
  console.log(`service CPU per cycle: user ${(cpu.user / 1000 / n).toFixed(2)} ms, system ${(cpu.system / 1000 / n).toFixed(2)} ms`);
  console.log(`cycles: ${n}, ${(n / seconds).toFixed(1)} cycles/s, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`);
  console.log(`first POST alone: p50 ${percentile(acquires, 50).toFixed(2)} ms, p99 ${percentile(acquires, 99).toFixed(2)} ms`);
  server.close();
  await database.close();
} finally {
  await target.drop();
}
