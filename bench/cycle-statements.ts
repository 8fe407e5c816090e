/**
 * bench/cycle-statements: the SQL one warm lease cycle costs. Acquires a host on the local-host
 * pool (POST /v1/leases?wait=30), releases it, and waits until the worker has destroyed it;
 * counts every statement and every COMMIT sent meanwhile, by the API and the worker alike.
 * Prints the average per cycle and the statements grouped by kind and table.
 *
 *   npx tsx bench/cycle-statements.ts [--cycles 20] [--trace [--trace-width 150]]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/cycle-statements.ts
 *
 * `--trace` prints the last cycle's statements in the order sent, each cut at `--trace-width`
 * characters (0: whole).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { countCommits } from "../src/store/commit-count";
import { openDatabase } from "../src/store/database";
import { inProcessService } from "./in-process-service";
import { throwawayDatabase } from "./throwaway-database";

const { values } = parseArgs({ options: { cycles: { type: "string", default: "20" }, trace: { type: "boolean", default: false }, "trace-width": { type: "string", default: "150" } } });
const traceWidth = Number(values["trace-width"]);
if (!Number.isInteger(traceWidth) || traceWidth < 0) throw new Error("--trace-width: a number of characters, 0 for the whole statement");
const cycles = Number(values.cycles);
const adminUrl = process.env.DATABASE_URL;

let counting = false;
const statements: string[] = [];
/** Milliseconds each statement took, as Kysely timed it (sent to answered), by the same index. */
const took: number[] = [];
const onQuery = (text: string, ms: number) => {
  if (!counting) return;
  statements.push(text);
  took.push(ms);
};

async function main(): Promise<void> {
  const { url, drop } = await throwawayDatabase(adminUrl);
  // No PGlite autovacuum pass among the statements counted (on PostgreSQL it is the server's, unseen).
  const database = await openDatabase({ url, onQuery, pgliteAutovacuumMs: null });
  const root = await mkdtemp(path.join(tmpdir(), "drydock-bench-"));
  const { drydock, acquireAndRelease } = await inProcessService(database, root);

  const cycle = async () => {
    const leaseId = await acquireAndRelease();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const row = await drydock.database.db.selectFrom("leases").select("status").where("lease_id", "=", leaseId).executeTakeFirstOrThrow();
      if (row.status === "destroyed") break;
      if (Date.now() > deadline) throw new Error(`lease ${leaseId} never destroyed`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  for (let i = 0; i < 3; i++) await cycle();
  // The polling reads above are the bench's own, not the cycle's: counted apart and subtracted.
  // NOTIFYs go out in the background (change-notifier.ts): none of a cycle before, all of the last.
  await drydock.notifier.flush();
  counting = true;
  for (let i = 0; i < cycles; i++) await cycle();
  await drydock.notifier.flush();
  counting = false;

  const own = statements.filter((s) => /^select "status" from "leases" where "lease_id"/.test(s)).length;
  const cycleStatements = statements.length - own;
  const commits = countCommits(statements);
  const groups = new Map<string, { n: number; ms: number }>();
  statements.forEach((s, i) => {
    const key = s.replace(/\s+/g, " ").slice(0, 60);
    const group = groups.get(key) ?? { n: 0, ms: 0 };
    groups.set(key, { n: group.n + 1, ms: group.ms + took[i]! });
  });
  console.log(`database: ${database.kind}, ${cycles} warm cycles (acquire with ?wait, release, destroyed)`);
  console.log(`statements per cycle: ${(cycleStatements / cycles).toFixed(1)}  (bench's own polling reads excluded: ${own})`);
  console.log(`commits per cycle:    ${(commits / cycles).toFixed(1)}`);
  if (values.trace) {
    // The last cycle's statements in the order sent, to see which step sends what.
    const perCycle = statements.length / cycles;
    console.log("last cycle, in order:");
    for (const s of statements.slice(-Math.round(perCycle))) console.log(`  ${s.replace(/\s+/g, " ").slice(0, traceWidth || undefined)}`);
  }
  console.log("most frequent statements (per cycle, and each one's mean time from sent to answered):");
  for (const [key, { n, ms }] of [...groups.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 25)) {
    console.log(`  ${(n / cycles).toFixed(1).padStart(5)}  ${(ms / n).toFixed(2).padStart(6)} ms  ${key}`);
  }
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
  await drop();
}

await main();
