import { sql, type Kysely, type RawBuilder } from "kysely";
import type { DrydockDatabase, ProjectionTable } from "../schema";

/**
 * Set-based writes for the batched rebuild: a page's rows of one table go to the database in one
 * statement, as one JSON parameter unpacked by `json_to_recordset`, instead of a statement per
 * row (no limit on bind parameters, one round trip). The column list and types come from the
 * catalog, so the writer needs no copy of the schema; a row that lacks a column of its table, or
 * has one the table lacks, stops the rebuild (a migration changed the table and the batch form
 * in projections/batch was not changed with it).
 */
export interface TableShape {
  table: ProjectionTable;
  key: string;
  columns: { name: string; type: string; json: boolean }[];
}

/** Rows per statement: keeps each JSON parameter to a few megabytes. */
const CHUNK = 5000;

export async function readTableShapes(db: Kysely<DrydockDatabase>, keys: Record<ProjectionTable, string>): Promise<Record<ProjectionTable, TableShape>> {
  const shapes = {} as Record<ProjectionTable, TableShape>;
  for (const [table, key] of Object.entries(keys) as [ProjectionTable, string][]) {
    const result = await sql<{ name: string; type: string }>`
      SELECT attname AS name, format_type(atttypid, atttypmod) AS type
        FROM pg_attribute
       WHERE attrelid = ${table}::regclass AND attnum > 0 AND NOT attisdropped
       ORDER BY attnum`.execute(db);
    const columns = result.rows.map((c) => ({ name: c.name, type: c.type, json: c.type === "jsonb" || c.type === "json" }));
    if (!columns.some((c) => c.name === key)) throw new Error(`batched rebuild: ${table} has no column ${key}`);
    shapes[table] = { table, key, columns };
  }
  return shapes;
}

/**
 * Inserts the rows, or replaces every column of those whose key exists (INSERT … ON CONFLICT DO
 * UPDATE). JSON columns travel as their JSON text and are cast to jsonb, as the projections'
 * `JSON.stringify(…)` parameters are, so a null stays the JSON `null` the live rows hold.
 */
export async function upsertRows(db: Kysely<DrydockDatabase>, shape: TableShape, rows: readonly object[]): Promise<void> {
  for (let from = 0; from < rows.length; from += CHUNK) {
    const chunk = rows.slice(from, from + CHUNK);
    const records = chunk.map((row) => recordOf(shape, row as Record<string, unknown>));
    const names = shape.columns.map((c) => sql.id(c.name));
    const definitions = shape.columns.map((c) => sql`${sql.id(c.name)} ${sql.raw(c.json ? "text" : c.type)}`);
    const values = shape.columns.map((c) => (c.json ? sql`r.${sql.id(c.name)}::${sql.raw(c.type)}` : sql`r.${sql.id(c.name)}`));
    const updates = shape.columns.filter((c) => c.name !== shape.key).map((c) => sql`${sql.id(c.name)} = EXCLUDED.${sql.id(c.name)}`);
    await sql`
      INSERT INTO ${sql.table(shape.table)} (${sql.join(names)})
      SELECT ${sql.join(values)} FROM json_to_recordset(${JSON.stringify(records)}::json) AS r(${sql.join(definitions)})
      ON CONFLICT (${sql.id(shape.key)}) DO UPDATE SET ${sql.join(updates)}`.execute(db);
  }
}

export async function deleteRows(db: Kysely<DrydockDatabase>, shape: TableShape, keys: readonly string[]): Promise<void> {
  for (let from = 0; from < keys.length; from += CHUNK) {
    await sql`DELETE FROM ${sql.table(shape.table)} WHERE ${sql.id(shape.key)} IN (${keyList(keys.slice(from, from + CHUNK))})`.execute(db);
  }
}

export async function selectRows(db: Kysely<DrydockDatabase>, shape: TableShape, keys: readonly string[]): Promise<Map<string, object>> {
  const found = new Map<string, object>();
  for (let from = 0; from < keys.length; from += CHUNK) {
    const result = await sql<Record<string, unknown>>`
      SELECT * FROM ${sql.table(shape.table)} WHERE ${sql.id(shape.key)} IN (${keyList(keys.slice(from, from + CHUNK))})`.execute(db);
    for (const row of result.rows) found.set(String(row[shape.key]), row);
  }
  return found;
}

function keyList(keys: readonly string[]): RawBuilder<unknown> {
  return sql`SELECT json_array_elements_text(${JSON.stringify(keys)}::json)`;
}

function recordOf(shape: TableShape, row: Record<string, unknown>): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const c of shape.columns) {
    const value = row[c.name];
    if (value === undefined) throw new Error(`batched rebuild: a ${shape.table} row has no ${c.name}; its batch form (projections/batch) must set every column`);
    record[c.name] = c.json ? JSON.stringify(value) : value;
  }
  if (Object.keys(row).length !== shape.columns.length) {
    const extra = Object.keys(row).filter((k) => !shape.columns.some((c) => c.name === k));
    throw new Error(`batched rebuild: a ${shape.table} row has ${extra.join(", ")}, which ${shape.table} has no column for`);
  }
  return record;
}
