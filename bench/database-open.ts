/**
 * bench/database-open: what opening a database costs a process that opens several, one after
 * another, as the test suite's worker processes do (a database a test file). Each open is
 * `openDatabase` as the service calls it, migrations check included, then one query: PGlite in
 * memory from the tests' migrated template (test/support/pglite-template.ts), or, with
 * DATABASE_URL, a throwaway PostgreSQL database the bench migrated before. Prints each open's wall time and the process's CPU during it (its threads
 * included, PGlite's among them), then the medians of the opens after the first.
 *
 *   npx tsx bench/database-open.ts [--opens 5]
 */
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { openDatabase } from "../src/store/database";
import { pgliteTemplate } from "../test/support/pglite-template";
import { throwawayDatabase } from "./throwaway-database";

const { values } = parseArgs({ options: { opens: { type: "string", default: "5" } } });
const opens = Number(values.opens);
if (!Number.isInteger(opens) || opens < 2) throw new Error("--opens: a whole number, at least 2");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const postgres = await throwawayDatabase(process.env.DATABASE_URL);
  try {
    let template: Blob | undefined;
    if (postgres.url) {
      const first = await openDatabase({ url: postgres.url });
      await first.close();
    } else {
      template = await pgliteTemplate();
    }
    console.log(`database-open: ${opens} opens one after another in one process, on ${postgres.url ? "PostgreSQL" : "PGlite in memory, from the tests' migrated template"}`);
    const walls: number[] = [];
    const cpus: number[] = [];
    for (let i = 1; i <= opens; i++) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      const database = await openDatabase(postgres.url ? { url: postgres.url } : { pgliteTemplate: template, pgliteAutovacuumMs: null });
      await sql`select count(*) from events`.execute(database.db);
      const wall = performance.now() - started;
      const used = process.cpuUsage(cpu);
      await database.close();
      const cpuMs = (used.user + used.system) / 1000;
      console.log(`open ${i}: ${wall.toFixed(0)} ms, CPU ${cpuMs.toFixed(0)} ms`);
      if (i > 1) {
        walls.push(wall);
        cpus.push(cpuMs);
      }
    }
    console.log(`after the first, median: ${median(walls).toFixed(0)} ms, CPU ${median(cpus).toFixed(0)} ms`);
  } finally {
    await postgres.drop();
  }
}

await main();
