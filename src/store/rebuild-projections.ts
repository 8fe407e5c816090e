import { sql, type Kysely } from "kysely";
import { batchFormsOf } from "../../projections/batch/index";
import type { InlineProjection } from "./projection";
import { replayBatched } from "./rebuild/batched";
import { replayEventByEvent } from "./rebuild/event-by-event";
import { projectionTables, type DrydockDatabase, type ProjectionTable } from "./schema";

/**
 * Rebuilds every projection table from the log, in one transaction: empty them, then replay the
 * events in global-position order, and commit.
 *
 * The replay runs the projections' batch forms (projections/batch): pages of a few thousand
 * events are applied to the rows in memory and written a table at a time, a few statements per
 * page rather than a few per event. Each batch form mirrors its inline projection; the tests
 * compare the result with the live tables and with a replay through the inline projections
 * themselves (`mode: "event-by-event"`, also used when a projection has no batch form). Should the
 * batched replay fail (an illegal log: an event after its stream ended, a duplicate or missing
 * row, a slot taken twice), the rebuild rolls back to where it started and replays event by
 * event instead, so the inline projections decide what such a log rebuilds to, or how it fails.
 *
 * One transaction rather than fresh tables swapped in by renames: readers keep seeing the old
 * rows (MVCC) until the commit swaps every table at once, and nothing has to recreate indexes,
 * constraints or grants. Writers wait for the rebuild (see lockForRebuild), which they would have
 * to do with renames too, or the new tables would miss their events.
 */
export async function rebuildProjections(
  db: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  return db.transaction().execute((trx) => rebuildInTransaction(trx, projections, options));
}

export type RebuildMode = "batched" | "event-by-event";

export interface RebuildOptions {
  /** Events read per query (default 5000). */
  batchSize?: number;
  onProgress?: (events: number) => void;
  /** Default: batched when every projection has a batch form, else event by event. */
  mode?: RebuildMode;
}

export interface RebuildResult {
  events: number;
  /** How the rebuild that counted ran. */
  mode: RebuildMode;
  /** Why a batched replay was abandoned for an event-by-event one; null if it was not. */
  batchedFailure: string | null;
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
): Promise<RebuildResult> {
  const replay = { batchSize: options.batchSize ?? 5000, onProgress: options.onProgress };
  const forms = batchFormsOf(projections);
  const mode: RebuildMode = options.mode ?? (forms ? "batched" : "event-by-event");
  if (mode === "batched" && !forms) {
    const missing = projections.filter((p) => !batchFormsOf([p])).map((p) => p.name);
    throw new Error(`a batched rebuild needs a batch form of every projection; ${missing.join(", ")} has none`);
  }
  await lockForRebuild(trx);
  // Work claims and wake-ups are not in the log: keep them across the rebuild (a lost claim
  // would let a second worker run the same step; a lost wake-up would delay a waiting lease).
  await sql`CREATE TEMP TABLE work_items_before ON COMMIT DROP AS SELECT stream_id, kind, run_at, claimed_by, claimed_until, failures, last_error, last_failed_at FROM work_items`.execute(trx);
  for (const table of [...projectionTables].reverse()) await trx.deleteFrom(table).execute();
  // Each stream's kept state is derived from the log too (stream-state.ts): forget it, and the
  // next load or append folds it again from the events, through the machines as they are now.
  await trx.updateTable("streams").set({ state: null }).execute();
  let result: RebuildResult;
  if (mode === "batched") {
    await sql`SAVEPOINT batched_rebuild`.execute(trx);
    try {
      result = { events: await replayBatched(trx, forms!, keyOf, replay), mode, batchedFailure: null };
      await sql`RELEASE SAVEPOINT batched_rebuild`.execute(trx);
    } catch (error) {
      await sql`ROLLBACK TO SAVEPOINT batched_rebuild`.execute(trx);
      const batchedFailure = error instanceof Error ? error.message : String(error);
      result = { events: await replayEventByEvent(trx, projections, replay), mode: "event-by-event", batchedFailure };
    }
  } else {
    result = { events: await replayEventByEvent(trx, projections, replay), mode, batchedFailure: null };
  }
  await sql`
    UPDATE work_items w
       SET run_at = LEAST(w.run_at, b.run_at), claimed_by = b.claimed_by, claimed_until = b.claimed_until,
           failures = CASE WHEN b.kind = w.kind THEN b.failures ELSE 0 END,
           last_error = CASE WHEN b.kind = w.kind THEN b.last_error END,
           last_failed_at = CASE WHEN b.kind = w.kind THEN b.last_failed_at END
      FROM work_items_before b
     WHERE b.stream_id = w.stream_id`.execute(trx);
  await sql`DROP TABLE work_items_before`.execute(trx);
  return result;
}

/**
 * Columns that are operational state, not a projection of the log: who holds a work claim, when
 * an item runs (wake-ups move waiting leases' retry times earlier after commits), and how often
 * its step has failed in a row.
 */
const operationalColumns: Partial<Record<ProjectionTable, string[]>> = {
  work_items: ["claimed_by", "claimed_until", "run_at", "failures", "last_error", "last_failed_at"],
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
