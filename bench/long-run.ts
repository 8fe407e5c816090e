/**
 * bench/long-run: whether a lease cycle stays as fast as the log grows. One client acquires and
 * releases a local host back to back, through the API in the service's process (app.request: no
 * sockets), for several phases; after each, the phase's milliseconds per cycle, and what the
 * cycles left behind in `slot_locks`: its dead rows (which the capacity view's index scan walks
 * until they are vacuumed) and its scope index's size.
 *
 *   npx tsx bench/long-run.ts [--phases 4] [--cycles 5000] [--autovacuum 60000|off]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/long-run.ts
 *
 * `--autovacuum` sets PGlite's (src/store/pglite-autovacuum.ts): its interval in ms, or off to see
 * the tables without it. On PostgreSQL the server's own autovacuum runs as configured.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { openDatabase } from "../src/store/database";
import { AUTOVACUUM_INTERVAL_MS } from "../src/store/pglite-autovacuum";
import { inProcessService } from "./in-process-service";
import { throwawayDatabase } from "./throwaway-database";

const { values } = parseArgs({ options: { phases: { type: "string", default: "4" }, cycles: { type: "string", default: "5000" }, autovacuum: { type: "string", default: String(AUTOVACUUM_INTERVAL_MS) } } });
const phases = Number(values.phases);
const perPhase = Number(values.cycles);
const autovacuumMs = values.autovacuum === "off" ? null : Number(values.autovacuum);
if (!Number.isInteger(phases) || phases < 1 || !Number.isInteger(perPhase) || perPhase < 1) throw new Error("--phases and --cycles: positive integers");
if (autovacuumMs !== null && !(autovacuumMs > 0)) throw new Error("--autovacuum: milliseconds, or off");

const { url, drop } = await throwawayDatabase(process.env.DATABASE_URL);
const database = await openDatabase({ url, pgliteAutovacuumMs: autovacuumMs });
const root = await mkdtemp(path.join(tmpdir(), "drydock-bench-"));
try {
  const { drydock, acquireAndRelease: cycle } = await inProcessService(database, root);
  const vacuum = database.kind === "pglite" ? (autovacuumMs === null ? "PGlite, its autovacuum off" : `PGlite, its autovacuum every ${autovacuumMs} ms`) : "PostgreSQL, the server's autovacuum";
  console.log(`long-run: ${phases} phases of ${perPhase} cycles, 1 client, in process; ${vacuum}`);
  for (let p = 1; p <= phases; p++) {
    const started = performance.now();
    for (let i = 0; i < perPhase; i++) await cycle();
    const msPerCycle = (performance.now() - started) / perPhase;
    // Each session reports its counts at most once a second: the phase's, now.
    await sql`SELECT pg_stat_force_next_flush()`.execute(database.db);
    const { rows } = await sql<{ dead: number; kb: number }>`
      SELECT s.n_dead_tup::int AS dead, (pg_relation_size('slot_locks_scope') / 1024)::int AS kb
        FROM pg_stat_user_tables s WHERE s.relname = 'slot_locks' AND s.schemaname = current_schema()`.execute(database.db);
    console.log(`after ${p * perPhase} cycles: ${msPerCycle.toFixed(2)} ms a cycle; slot_locks: ${rows[0]?.dead ?? "?"} dead rows, its scope index ${rows[0]?.kb ?? "?"} kB`);
  }
  await drydock.close();
} finally {
  await database.close();
  await rm(root, { recursive: true, force: true });
  await drop();
}
