import type { Kysely } from "kysely";
import type { RecordedEvent } from "../../../events/envelope";
import { createRowSet, tablesOf, type BatchProjection, type WritableTable } from "../../../projections/batch/row-set";
import { readEventsAfter } from "../log-queries";
import type { DrydockDatabase, ProjectionTable } from "../schema";
import { readTableShapes, upsertRows, type TableShape } from "./write-rows";

/**
 * Replays the log through the projections' batch forms (projections/batch): a page of events is
 * read in one query, applied to the rows in memory, and the rows it finished (ended streams) are
 * written in one statement per table; the rest are written once, at the end. A few statements
 * per page instead of one or more per event. While a page is applied, the next one is already
 * being read and the page before is being written: the database works on those meanwhile, where
 * it waited for each page's rows before (this Node process and the database each took about
 * half of a rebuild, one after the other). A page's write takes the rows of ended streams,
 * which no later event touches (row-table.ts), so applying the next page cannot change them.
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
  let next = readEventsAfter(trx, 0, options.batchSize);
  // The previous page's write, still running while this page is applied.
  let writing: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const events = await next;
      if (events.length === 0) break;
      next = readEventsAfter(trx, events.at(-1)!.globalPosition, options.batchSize);
      // Awaited on the next turn. Should applying this page fail first, that failure is the one
      // reported (and the rebuild rolls back to its savepoint); this read's outcome is not needed.
      next.catch(() => undefined);
      for (const event of events) {
        for (const form of forms) form.claim?.(rows, event);
        for (const form of forms) form.apply(rows, event);
      }
      // One write at a time: a failed one stops the replay at the next page, not pages later.
      await writing;
      writing = write(trx, takeChanged(tables, true), shapes);
      writing.catch(() => undefined);
      count += events.length;
      options.onProgress?.(count);
    }
    await writing;
  } catch (error) {
    // The caller rolls back to its savepoint: not before the write it would roll back has ended.
    await writing.catch(() => undefined);
    throw error;
  }
  await write(trx, takeChanged(tables, false), shapes);
  return count;
}

/**
 * Every table's changed rows, taken now (before the next page is applied); `finalOnly`: only the
 * rows of ended streams.
 */
function takeChanged(tables: Record<ProjectionTable, WritableTable>, finalOnly: boolean): [ProjectionTable, object[]][] {
  const taken: [ProjectionTable, object[]][] = [];
  for (const [table, rows] of Object.entries(tables) as [ProjectionTable, WritableTable][]) {
    const changed = rows.takeChanged(finalOnly);
    if (changed.length > 0) taken.push([table, changed]);
  }
  return taken;
}

/** Writes the rows taken, a table at a time. */
async function write(trx: Kysely<DrydockDatabase>, taken: readonly [ProjectionTable, object[]][], shapes: Record<ProjectionTable, TableShape>): Promise<void> {
  for (const [table, rows] of taken) await upsertRows(trx, shapes[table], rows);
}
