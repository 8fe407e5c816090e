import { sql, type Kysely } from "kysely";
import type { RecordedEvent } from "../../events/envelope";
import { eventFromRow } from "./event-store";
import type { InlineProjection } from "./projection";
import { projectionTables, type DrydockDatabase, type ProjectionTable } from "./schema";

/**
 * Rebuilds every projection table from the log, in one transaction: empty them, then replay the
 * events in global-position order through the same inline projections the appends use. Claims
 * run just before their event, as they did when it was appended (see InlineProjection).
 *
 * One transaction rather than fresh tables swapped in by renames: readers keep seeing the old
 * rows (MVCC) until the commit swaps every table at once, nothing has to recreate indexes,
 * constraints or grants, and the replay runs the very code the appends run. Writers wait for
 * the rebuild (see lockForRebuild), which they would have to do with renames too, or the new
 * tables would miss their events.
 */
export async function rebuildProjections(
  db: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  options: RebuildOptions = {},
): Promise<{ events: number }> {
  return db.transaction().execute((trx) => rebuildInTransaction(trx, projections, options));
}

export interface RebuildOptions {
  batchSize?: number;
  onProgress?: (events: number) => void;
}

/**
 * Stops appends and worker claims until the caller's transaction ends; readers go on. Appends
 * take `streams`, then `slot_locks`, then `events`, then the other tables: locking in the same
 * order means an append already under way finishes before the rebuild starts, never deadlocks
 * with it. Without the lock an append committing mid-rebuild would update rows the rebuild had
 * deleted, and its events would be replayed or not depending on timing.
 */
export async function lockForRebuild(trx: Kysely<DrydockDatabase>): Promise<void> {
  const rest = projectionTables.filter((t) => t !== "slot_locks");
  const tables = ["streams", "slot_locks", "events", ...rest].map((t) => sql.table(t));
  await sql`LOCK TABLE ${sql.join(tables)} IN EXCLUSIVE MODE`.execute(trx);
}

/** The rebuild inside a transaction the caller owns (replay --check rolls it back). */
export async function rebuildInTransaction(
  trx: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  options: RebuildOptions = {},
): Promise<{ events: number }> {
  const batchSize = options.batchSize ?? 2000;
  await lockForRebuild(trx);
  // Work claims and wake-ups are not in the log: keep them across the rebuild (a lost claim
  // would let a second worker run the same step; a lost wake-up would delay a waiting lease).
  await sql`CREATE TEMP TABLE work_items_before ON COMMIT DROP AS SELECT stream_id, run_at, claimed_by, claimed_until FROM work_items`.execute(trx);
  for (const table of [...projectionTables].reverse()) await trx.deleteFrom(table).execute();
  let after = 0;
  let count = 0;
  for (;;) {
    const rows = await trx.selectFrom("events").selectAll().where("global_position", ">", after).orderBy("global_position").limit(batchSize).execute();
    if (rows.length === 0) break;
    const lastOfStream = new Map<string, number>();
    rows.forEach((row, i) => lastOfStream.set(row.stream_id, i));
    for (const [i, row] of rows.entries()) {
      const event: RecordedEvent = eventFromRow(row as never);
      const last = lastOfStream.get(event.streamId) === i;
      for (const p of projections) await p.claim?.(trx, event);
      for (const p of projections) if (last || !p.recomputes) await p.apply(trx, event);
    }
    count += rows.length;
    after = Number(rows.at(-1)!.global_position);
    options.onProgress?.(count);
  }
  await sql`
    UPDATE work_items w
       SET run_at = LEAST(w.run_at, b.run_at), claimed_by = b.claimed_by, claimed_until = b.claimed_until
      FROM work_items_before b
     WHERE b.stream_id = w.stream_id`.execute(trx);
  await sql`DROP TABLE work_items_before`.execute(trx);
  return { events: count };
}

/**
 * Columns that are operational state, not a projection of the log: who holds a work claim, and
 * when an item runs (wake-ups move waiting leases' retry times earlier after commits).
 */
const operationalColumns: Partial<Record<ProjectionTable, string[]>> = {
  work_items: ["claimed_by", "claimed_until", "run_at"],
};

/** The primary key column of each projection table. */
export const keyOf: Record<ProjectionTable, string> = {
  blueprints: "blueprint_id",
  resources: "resource_id",
  leases: "lease_id",
  slot_locks: "lock_key",
  work_items: "stream_id",
  tokens: "token_id",
  authorizations: "authorization_id",
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
