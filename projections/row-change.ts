import type { Kysely } from "kysely";
import type { ProjectionTable } from "../src/store/schema";
import type { Executor } from "../src/store/projection";
import { MissingRowError, type RowTable } from "./batch/row-table";

/**
 * What one event does to one projection row, decided once, purely, for both ways a projection
 * runs: inline in the append transaction (applyRowChange) and in memory during a batched
 * rebuild (applyRowChangeInMemory). So the live tables and a rebuild cannot drift apart.
 * Values are the row as the database returns it (Date, parsed JSON); `version` and
 * `updated_at` are part of every change.
 */
export type RowChange<Row> =
  | { insert: Row }
  | { set: Partial<Row> }
  /** A change that depends on the row as it is (a counter). */
  | { derive: (current: Row) => Partial<Row> };

export interface RowKey {
  table: ProjectionTable;
  column: string;
  value: string;
  /** Columns stored as jsonb: written as JSON text, as the inline projections always have. */
  json?: readonly string[];
}

export async function applyRowChange<Row>(db: Executor, key: RowKey, change: RowChange<Row>): Promise<void> {
  const any = db as unknown as Kysely<any>;
  if ("insert" in change) {
    await any.insertInto(key.table).values(encode(change.insert as Record<string, unknown>, key.json)).execute();
    return;
  }
  let set: Partial<Row>;
  if ("derive" in change) {
    const current = await any.selectFrom(key.table).selectAll().where(key.column, "=", key.value).executeTakeFirstOrThrow();
    set = change.derive(current as Row);
  } else {
    set = change.set;
  }
  await any.updateTable(key.table).set(encode(set as Record<string, unknown>, key.json)).where(key.column, "=", key.value).execute();
}

export function applyRowChangeInMemory<Row extends object>(rows: RowTable<Row>, key: string, change: RowChange<Row>, eventType: string): void {
  if ("insert" in change) return rows.insert(key, change.insert);
  if ("set" in change) return rows.update(key, change.set);
  const current = rows.get(key);
  if (!current) throw new MissingRowError(rows.table, key, eventType);
  rows.update(key, change.derive(current));
}

function encode(values: Record<string, unknown>, json: readonly string[] = []): Record<string, unknown> {
  if (json.length === 0) return values;
  const out = { ...values };
  for (const column of json) if (column in out) out[column] = JSON.stringify(out[column]);
  return out;
}
