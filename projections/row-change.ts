import type { AliasedRawBuilder, CompiledQuery, Kysely } from "kysely";
import { CompiledShapes } from "../src/store/compiled-once";
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

/** A column of the row, or an expression over it with its name (RETURNING). */
export type Returned = string | AliasedRawBuilder<unknown, string>;

/**
 * Applies a change and returns the row's `returning` columns as they are after it (undefined when
 * none are asked for): callers later in the same append read them here, not by a second SELECT.
 */
export async function applyRowChange<Row>(db: Executor, key: RowKey, change: RowChange<Row>, returning: readonly Returned[] = []): Promise<Record<string, unknown> | undefined> {
  let write: RowWrite<Row>;
  if ("derive" in change) {
    const current = await (db as unknown as Kysely<any>).selectFrom(key.table).selectAll().where(key.column, "=", key.value).executeTakeFirstOrThrow();
    write = { set: change.derive(current as Row) };
  } else {
    write = change;
  }
  const { rows } = await db.executeQuery(rowWriteQuery(db, key, write, returning));
  if (returning.length === 0) return undefined;
  // An update of a row that is not there: the projection's events are out of order.
  if (rows.length === 0) throw new Error(`${key.table}: no row ${key.column} = ${key.value} to update`);
  return rows[0] as Record<string, unknown>;
}

/** A change that needs no read of the row: what one statement can write. */
export type RowWrite<Row> = { insert: Row } | { set: Partial<Row> };

/** Every append writes rows: their writes are compiled once per shape (compiled-once.ts). */
const writeShapes = new CompiledShapes();
/** A name for each list of returned columns, for the shape's name (the lists are the projections' own constants). */
const returningIds = new WeakMap<readonly Returned[], number>();
let lastReturningId = 0;
/** The argument that holds the key's value in an UPDATE: no column is called that. */
const KEY = "\u0000key";

/**
 * The INSERT or UPDATE that makes a write, compiled and not run: applyRowChange runs it, a
 * planned append puts it in its statement. Which columns it sets is part of its shape; a column
 * whose value is undefined is not set, as Kysely leaves it out.
 */
export function rowWriteQuery<Row>(db: Executor, key: RowKey, write: RowWrite<Row>, returning: readonly Returned[] = []): CompiledQuery {
  const any = db as unknown as Kysely<any>;
  // The columns' values as sent: JSON columns as their text, as the inline projections always
  // wrote them; undefined ones left out.
  const json = key.json ?? [];
  const args: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(("insert" in write ? write.insert : write.set) as Record<string, unknown>)) {
    if (value !== undefined) args[column] = json.includes(column) ? JSON.stringify(value) : value;
  }
  const columns = Object.keys(args);
  const returned = returning.length === 0 ? 0 : (returningIds.get(returning) ?? returningIds.set(returning, ++lastReturningId).get(returning)!);
  const slotsOf = (a: Record<string, unknown>) => Object.fromEntries(columns.map((c) => [c, a[c]]));
  if ("insert" in write) {
    return writeShapes.compile(db, `${key.table} insert ${columns.join(",")} ${returned}`, args, (_, a) => {
      const insert = any.insertInto(key.table).values(slotsOf(a));
      return returning.length === 0 ? insert : insert.returning(returning as never);
    });
  }
  args[KEY] = key.value;
  return writeShapes.compile(db, `${key.table} set ${columns.join(",")} where ${key.column} ${returned}`, args, (_, a) => {
    const update = any.updateTable(key.table).set(slotsOf(a)).where(key.column, "=", a[KEY]);
    return returning.length === 0 ? update : update.returning(returning as never);
  });
}

/**
 * The changes of one append's events to one row, as one change: an append of several events
 * (acquired and activated, say) then writes its row once. The result is the same row as applying
 * them in order: a later `set` overrides an earlier one, and a `derive` sees the row as the
 * changes before it left it.
 */
export function composeRowChanges<Row>(changes: readonly RowChange<Row>[]): RowChange<Row> | null {
  let out: RowChange<Row> | null = null;
  for (const next of changes) out = out === null ? next : compose2(out, next);
  return out;
}

function compose2<Row>(first: RowChange<Row>, next: RowChange<Row>): RowChange<Row> {
  if ("insert" in next) return next;
  const after = (row: Row): Partial<Row> => ("set" in next ? next.set : next.derive(row));
  if ("insert" in first) return { insert: { ...first.insert, ...after(first.insert) } };
  if ("set" in first && "set" in next) return { set: { ...first.set, ...next.set } };
  const before = (row: Row): Partial<Row> => ("set" in first ? first.set : (first as { derive: (r: Row) => Partial<Row> }).derive(row));
  return {
    derive: (row) => {
      const once = before(row);
      return { ...once, ...after({ ...row, ...once }) };
    },
  };
}

export function applyRowChangeInMemory<Row extends object>(rows: RowTable<Row>, key: string, change: RowChange<Row>, eventType: string): void {
  if ("insert" in change) return rows.insert(key, change.insert);
  if ("set" in change) return rows.update(key, change.set);
  const current = rows.get(key);
  if (!current) throw new MissingRowError(rows.table, key, eventType);
  rows.update(key, change.derive(current));
}
