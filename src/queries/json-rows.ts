import type { Selectable } from "kysely";
import type { BlueprintsTable, ResourcesTable } from "../store/schema";

/**
 * Rows that came back inside JSON (to_json, json_agg) as the driver gives the same rows read
 * plainly: a JSON timestamp is an ISO string, the driver's is a Date; jsonb columns and numbers
 * come back alike. The timestamp columns are listed here; a column added to these tables must be
 * added too (test/integration/allocation-snapshot.test.ts compares both reads of every column).
 */
const BLUEPRINT_TIMES = ["created_at", "updated_at"] as const satisfies readonly (keyof BlueprintsTable)[];
const RESOURCE_TIMES = ["retry_at", "allocated_at", "activated_at", "ended_at", "hold_until", "held_at", "updated_at"] as const satisfies readonly (keyof ResourcesTable)[];

export type BlueprintRow = Selectable<BlueprintsTable>;
export type ResourceRow = Selectable<ResourcesTable>;

export function blueprintRowOfJson(json: Record<string, unknown>): BlueprintRow {
  return withDates(json, BLUEPRINT_TIMES) as unknown as BlueprintRow;
}

export function resourceRowOfJson(json: Record<string, unknown>): ResourceRow {
  return withDates(json, RESOURCE_TIMES) as unknown as ResourceRow;
}

function withDates(json: Record<string, unknown>, columns: readonly string[]): Record<string, unknown> {
  const row = { ...json };
  for (const column of columns) {
    const value = row[column];
    if (typeof value === "string") row[column] = new Date(value);
  }
  return row;
}
