import type { Kysely } from "kysely";
import type { RecordedEvent } from "../../../events/envelope";
import { createRowSet, tablesOf, type BatchProjection, type WritableTable } from "../../../projections/batch/row-set";
import { eventFromRow } from "../event-store";
import type { DrydockDatabase, ProjectionTable } from "../schema";
import { deleteRows, readTableShapes, selectRows, upsertRows, type TableShape } from "./write-rows";

/**
 * Replays the log through the projections' batch forms (projections/batch): a page of events is
 * read in one query, applied to the rows in memory, and the rows it finished (ended streams) are
 * written in one statement per table; the rest are written once, at the end. A few statements
 * per page instead of one or more per event.
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
  let after = 0;
  let count = 0;
  const T = { read: 0, parse: 0, back: 0, apply: 0, write: 0 };
  let t = performance.now();
  const lap = (k: keyof typeof T) => { const n = performance.now(); T[k] += n - t; t = n; };
  for (;;) {
    t = performance.now();
    const page = await trx.selectFrom("events").selectAll().where("global_position", ">", after).orderBy("global_position").limit(options.batchSize).execute();
    if (page.length === 0) break;
    lap("read");
    const events: RecordedEvent[] = page.map((row) => eventFromRow(row as never));
    lap("parse");
    await readBack(trx, forms, tables, shapes, events);
    lap("back");
    for (const event of events) {
      for (const form of forms) form.claim?.(rows, event);
      for (const form of forms) form.apply(rows, event);
    }
    lap("apply");
    await write(trx, tables, shapes, true);
    lap("write");
    count += page.length;
    after = Number(page.at(-1)!.global_position);
    options.onProgress?.(count);
  }
  t = performance.now();
  await write(trx, tables, shapes, false);
  lap("write");
  console.log(T);
  return count;
}

/** Reads back the rows this page touches that were written and dropped from memory (see RowTable). */
async function readBack(
  trx: Kysely<DrydockDatabase>,
  forms: readonly BatchProjection[],
  tables: Record<ProjectionTable, WritableTable>,
  shapes: Record<ProjectionTable, TableShape>,
  events: readonly RecordedEvent[],
): Promise<void> {
  const wanted = new Map<ProjectionTable, Set<string>>();
  for (const event of events) {
    for (const form of forms) {
      for (const [table, key] of form.keys?.(event) ?? []) {
        if (!tables[table].needsLoad(key)) continue;
        let set = wanted.get(table);
        if (!set) wanted.set(table, (set = new Set()));
        set.add(key);
      }
    }
  }
  for (const [table, keys] of wanted) {
    const found = await selectRows(trx, shapes[table], [...keys]);
    for (const key of keys) tables[table].load(key, found.get(key) ?? null);
  }
}

/** Deletes, then writes, every table's changed rows; `finalOnly`: only the rows of ended streams. */
async function write(
  trx: Kysely<DrydockDatabase>,
  tables: Record<ProjectionTable, WritableTable>,
  shapes: Record<ProjectionTable, TableShape>,
  finalOnly: boolean,
): Promise<void> {
  for (const [table, rows] of Object.entries(tables) as [ProjectionTable, WritableTable][]) {
    const deleted = rows.takeDeleted();
    if (deleted.length > 0) await deleteRows(trx, shapes[table], deleted);
    const changed = rows.takeChanged(finalOnly);
    if (changed.length > 0) await upsertRows(trx, shapes[table], changed);
  }
}
