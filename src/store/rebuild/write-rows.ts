import { sql, type Kysely, type RawBuilder } from "kysely";
import type { DrydockDatabase, ProjectionTable } from "../schema";

/**
 * Set-based writes for the batched rebuild: a page's rows of one table go to the database in one
 * statement, a parameter per column holding that column's values as a JSON array, unpacked by
 * `json_array_elements` side by side (ROWS FROM). Column-wise JSON is cheap to build (arrays of
 * plain values), and a parameter has no limit on rows. One parameter per column, not one document
 * of every column: `doc -> i` on a json value parses the whole document again, once per column
 * (30 for leases). The columns and their types come from the catalog, so the
 * writer holds no copy of the schema; a row that lacks a column of its table, or has one the
 * table lacks, stops the rebuild (a migration changed the table, and the batch form in
 * projections/batch was not changed with it).
 */
export interface TableShape {
  table: ProjectionTable;
  key: string;
  columns: Column[];
}

interface Column {
  name: string;
  /** As format_type prints it, e.g. `integer`, `timestamp with time zone`, `jsonb`. */
  type: string;
  encoding: "json" | "time" | "text";
}

/** Rows per statement: keeps each parameter to a few megabytes. */
const CHUNK = 5000;

export async function readTableShapes(db: Kysely<DrydockDatabase>, keys: Record<ProjectionTable, string>): Promise<Record<ProjectionTable, TableShape>> {
  const shapes = {} as Record<ProjectionTable, TableShape>;
  for (const [table, key] of Object.entries(keys) as [ProjectionTable, string][]) {
    const result = await sql<{ name: string; type: string }>`
      SELECT attname AS name, format_type(atttypid, atttypmod) AS type
        FROM pg_attribute
       WHERE attrelid = ${table}::regclass AND attnum > 0 AND NOT attisdropped
       ORDER BY attnum`.execute(db);
    const columns = result.rows.map((c): Column => ({ name: c.name, type: c.type, encoding: encodingOf(c.type) }));
    if (!columns.some((c) => c.name === key)) throw new Error(`batched rebuild: ${table} has no column ${key}`);
    shapes[table] = { table, key, columns };
  }
  return shapes;
}

function encodingOf(type: string): Column["encoding"] {
  if (type === "jsonb" || type === "json") return "json";
  if (type === "timestamp with time zone") return "time";
  return "text";
}

/**
 * Inserts the rows, or replaces every column of those whose key exists (INSERT … ON CONFLICT DO
 * UPDATE). Values travel as:
 *  - JSON columns: the value itself, cast to jsonb, as the projections' `JSON.stringify(…)`
 *    parameters are (so a null is the JSON `null` the live rows hold, not SQL NULL);
 *  - times: milliseconds since the epoch (a Date holds no more), added to the epoch exactly;
 *  - the rest: JSON strings, numbers and booleans, cast from their text to the column type.
 */
export async function upsertRows(db: Kysely<DrydockDatabase>, shape: TableShape, rows: readonly object[]): Promise<void> {
  for (let from = 0; from < rows.length; from += CHUNK) {
    const chunk = rows.slice(from, from + CHUNK) as Record<string, unknown>[];
    checkColumns(shape, chunk);
    const columns = shape.columns.map((c) => chunk.map((row) => encode(c, row[c.name])));
    const elements = shape.columns.map((c, i) =>
      c.encoding === "json" ? sql`json_array_elements(${JSON.stringify(columns[i])}::json)` : sql`json_array_elements_text(${JSON.stringify(columns[i])}::json)`,
    );
    const names = shape.columns.map((c) => sql.id(c.name));
    const values = shape.columns.map((c, i) => valueOf(c, sql.ref(`r.c${i}`)));
    const aliases = shape.columns.map((_, i) => sql.id(`c${i}`));
    const updates = shape.columns.filter((c) => c.name !== shape.key).map((c) => sql`${sql.id(c.name)} = EXCLUDED.${sql.id(c.name)}`);
    await sql`
      INSERT INTO ${sql.table(shape.table)} (${sql.join(names)})
      SELECT ${sql.join(values)}
        FROM ROWS FROM (${sql.join(elements)}) AS r(${sql.join(aliases)})
      ON CONFLICT (${sql.id(shape.key)}) DO UPDATE SET ${sql.join(updates)}`.execute(db);
  }
}

function encode(column: Column, value: unknown): unknown {
  if (column.encoding === "time") return value === null ? null : (value as Date).getTime();
  return value;
}

function valueOf(column: Column, ref: RawBuilder<unknown> | ReturnType<typeof sql.ref>): RawBuilder<unknown> {
  switch (column.encoding) {
    case "json":
      return sql`${ref}::${sql.raw(column.type)}`;
    case "time":
      return sql`(timestamptz 'epoch' + ${ref}::bigint * interval '1 millisecond')`;
    case "text":
      return sql`${ref}::${sql.raw(column.type)}`;
    default: {
      const never: never = column.encoding;
      throw new Error(`unknown column encoding ${String(never)}`);
    }
  }
}

function checkColumns(shape: TableShape, rows: readonly Record<string, unknown>[]): void {
  for (const row of rows) {
    for (const c of shape.columns) {
      if (row[c.name] === undefined) throw new Error(`batched rebuild: a ${shape.table} row has no ${c.name}; its batch form (projections/batch) must set every column`);
    }
    if (Object.keys(row).length !== shape.columns.length) {
      const extra = Object.keys(row).filter((k) => !shape.columns.some((c) => c.name === k));
      throw new Error(`batched rebuild: a ${shape.table} row has ${extra.join(", ")}, which ${shape.table} has no column for`);
    }
  }
}
