import { sql, type Kysely } from "kysely";
import { upcastAndValidate } from "../../../events/catalogue";
import type { EventMetadata, RecordedEvent } from "../../../events/envelope";
import { createRowSet, tablesOf, type BatchProjection, type WritableTable } from "../../../projections/batch/row-set";
import type { DrydockDatabase, ProjectionTable } from "../schema";
import { readTableShapes, upsertRows, type TableShape } from "./write-rows";

/**
 * Replays the log through the projections' batch forms (projections/batch): a page of events is
 * read in one query, applied to the rows in memory, and the rows it finished (ended streams) are
 * written in one statement per table; the rest are written once, at the end. A few statements
 * per page instead of one or more per event. While a page is applied, the next one is already
 * being read (PostgreSQL works on it meanwhile).
 *
 * The tables must be empty when it starts (the rebuild empties them in its transaction).
 */
export async function replayBatched(
  trx: Kysely<DrydockDatabase>,
  forms: readonly BatchProjection[],
  keys: Record<ProjectionTable, string>,
  options: { batchSize: number; onProgress?: (events: number) => void },
): Promise<number> {
  const rows = createRowSet();
  const tables = tablesOf(rows);
  const shapes = await readTableShapes(trx, keys);
  let count = 0;
  let next = readPage(trx, 0, options.batchSize);
  for (;;) {
    const events = await next;
    if (events.length === 0) break;
    next = readPage(trx, events.at(-1)!.globalPosition, options.batchSize);
    // Awaited on the next turn. Should applying this page fail first, that failure is the one
    // reported (and the rebuild rolls back to its savepoint); this read's outcome is not needed.
    next.catch(() => undefined);
    for (const event of events) {
      for (const form of forms) form.claim?.(rows, event);
      for (const form of forms) form.apply(rows, event);
    }
    await write(trx, tables, shapes, true);
    count += events.length;
    options.onProgress?.(count);
  }
  await write(trx, tables, shapes, false);
  return count;
}

/**
 * A page of the log. The JSON columns come as text and the time as milliseconds, parsed here:
 * the database does the least it can per row (it is the busier side; Node waits for it most of
 * a rebuild). Each event is upcast and validated exactly as a read through the event store is.
 */
async function readPage(trx: Kysely<DrydockDatabase>, after: number, limit: number): Promise<RecordedEvent[]> {
  const result = await sql<PageRow>`
    SELECT global_position AS p, transaction_id::text AS x, event_id AS i, stream_id AS s, stream_version AS v, event_type AS t,
           schema_version AS sv, data::text AS d, metadata::text AS m, floor(extract(epoch FROM recorded_at) * 1000)::float8 AS at
      FROM events WHERE global_position > ${after} ORDER BY global_position LIMIT ${limit}`.execute(trx);
  return result.rows.map((r) =>
    upcastAndValidate({
      globalPosition: Number(r.p),
      transactionId: r.x,
      eventId: r.i,
      streamId: r.s,
      streamVersion: r.v,
      type: r.t,
      version: r.sv,
      data: JSON.parse(r.d),
      metadata: JSON.parse(r.m) as EventMetadata,
      recordedAt: new Date(r.at),
    }),
  );
}

interface PageRow {
  p: number | string;
  x: string;
  i: string;
  s: string;
  v: number;
  t: string;
  sv: number;
  d: string;
  m: string;
  at: number;
}

/** Writes every table's changed rows; `finalOnly`: only the rows of ended streams. */
async function write(
  trx: Kysely<DrydockDatabase>,
  tables: Record<ProjectionTable, WritableTable>,
  shapes: Record<ProjectionTable, TableShape>,
  finalOnly: boolean,
): Promise<void> {
  for (const [table, rows] of Object.entries(tables) as [ProjectionTable, WritableTable][]) {
    const changed = rows.takeChanged(finalOnly);
    if (changed.length > 0) await upsertRows(trx, shapes[table], changed);
  }
}
