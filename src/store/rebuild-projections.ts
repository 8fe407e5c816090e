import { sql, type Kysely } from "kysely";
import type { RecordedEvent } from "../../events/envelope";
import { eventFromRow } from "./event-store";
import type { InlineProjection } from "./projection";
import { projectionTables, type DrydockDatabase, type ProjectionTable } from "./schema";

/**
 * Rebuilds every projection table from the log, in one transaction: empty them, then replay the
 * events in global-position order through the same inline projections the appends use. Claims
 * run just before their event, as they did when it was appended (see InlineProjection).
 */
export async function rebuildProjections(
  db: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  options: { batchSize?: number; onProgress?: (events: number) => void } = {},
): Promise<{ events: number }> {
  const batchSize = options.batchSize ?? 2000;
  return db.transaction().execute(async (trx) => {
    for (const table of [...projectionTables].reverse()) await trx.deleteFrom(table).execute();
    let after = 0;
    let count = 0;
    for (;;) {
      const rows = await trx.selectFrom("events").selectAll().where("global_position", ">", after).orderBy("global_position").limit(batchSize).execute();
      if (rows.length === 0) break;
      for (const row of rows) {
        const event: RecordedEvent = eventFromRow(row as never);
        for (const p of projections) await p.claim?.(trx, event);
        for (const p of projections) await p.apply(trx, event);
      }
      count += rows.length;
      after = Number(rows.at(-1)!.global_position);
      options.onProgress?.(count);
    }
    return { events: count };
  });
}

/**
 * Columns that are operational state, not a projection of the log: who holds a work claim, and
 * when an item runs (wake-ups move waiting leases' retry times earlier after commits).
 */
const operationalColumns: Partial<Record<ProjectionTable, string[]>> = {
  work_items: ["claimed_by", "claimed_until", "run_at"],
};

const keyOf: Record<ProjectionTable, string> = {
  blueprints: "blueprint_id",
  resources: "resource_id",
  leases: "lease_id",
  slot_locks: "lock_key",
  work_items: "stream_id",
};

/** Every projection table's rows, in key order, without operational columns: for comparison. */
export async function dumpProjections(db: Kysely<DrydockDatabase>): Promise<Record<ProjectionTable, Record<string, unknown>[]>> {
  const dump = {} as Record<ProjectionTable, Record<string, unknown>[]>;
  for (const table of projectionTables) {
    const result = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)} ORDER BY ${sql.ref(keyOf[table])}`.execute(db);
    const drop = operationalColumns[table] ?? [];
    dump[table] = result.rows.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !drop.includes(k))));
  }
  return dump;
}
