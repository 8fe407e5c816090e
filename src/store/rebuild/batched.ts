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
    // Awaited on the next turn; if this page fails first, the transaction is rolled back anyway.
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
 * A page of the log, as one JSON document built by the database: one parse of one string, where
 * row by row each column would be parsed on its own (the time as text, the JSON columns one by
 * one). No ORDER BY inside the aggregate (it would sort the wide rows again, and cost more than
 * the rest of the query): the page is put in position order here. Each event is upcast and
 * validated exactly as a read through the event store is.
 */
async function readPage(trx: Kysely<DrydockDatabase>, after: number, limit: number): Promise<RecordedEvent[]> {
  const result = await sql<{ page: string | null }>`
    SELECT json_agg(json_build_array(
             global_position, transaction_id::text, event_id, stream_id, stream_version, event_type, schema_version,
             data, metadata, floor(extract(epoch FROM recorded_at) * 1000)))::text AS page
      FROM (SELECT * FROM events WHERE global_position > ${after} ORDER BY global_position LIMIT ${limit}) AS e`.execute(trx);
  const text = result.rows[0]?.page;
  if (!text) return [];
  const page = (JSON.parse(text) as PageRow[]).sort((a, b) => a[0] - b[0]);
  return page.map(([globalPosition, transactionId, eventId, streamId, streamVersion, type, version, data, metadata, recordedAt]) =>
    upcastAndValidate({ globalPosition, transactionId, eventId, streamId, streamVersion, type, version, data, metadata, recordedAt: new Date(recordedAt) }),
  );
}

type PageRow = [number, string, string, string, number, string, number, unknown, EventMetadata, number];

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
