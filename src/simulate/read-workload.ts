import { sql, type Kysely } from "kysely";
import { PostgresEventStore } from "../store/event-store";
import type { DrydockDatabase } from "../store/schema";
import type { SimulationWindow, Workload } from "./workload";
import { WorkloadOfLog } from "./workload-of-log";

const BATCH = 5000;

/**
 * Reads the workload of a window from the log, in batches, inside a READ ONLY transaction: the
 * database itself refuses any write a simulation might attempt, so "simulate never writes" does
 * not rest on this code's good behaviour. Events after the window's end are read too: a lease
 * requested inside the window may be released after it, and its hold is what the simulation needs.
 */
export async function readWorkload(db: Kysely<DrydockDatabase>, window: SimulationWindow): Promise<{ workload: Workload; events: number }> {
  return db.transaction().execute(async (trx) => {
    await sql`SET TRANSACTION READ ONLY`.execute(trx);
    // The store only reads here; no projections, and its clock is never asked.
    const store = new PostgresEventStore(trx, [], { now: () => new Date(window.to) });
    const fold = new WorkloadOfLog();
    let events = 0;
    for (let after = 0; ; ) {
      const batch = await store.readByPosition(after, BATCH);
      if (batch.length === 0) break;
      for (const e of batch) fold.add(e);
      events += batch.length;
      after = batch.at(-1)!.globalPosition;
    }
    return { workload: fold.workload(window), events };
  });
}
