import type { Kysely } from "kysely";
import { foldEvents } from "../../src/store/stream-state";
import type { EventStore } from "../../src/store/event-store";
import type { DrydockDatabase } from "../../src/store/schema";

/**
 * Streams whose stored state (the `streams` row commands and steps decide from) is not the fold
 * of their log: what a replay would rebuild. Empty when every writer stored what it appended.
 */
export async function statesDifferingFromLog(db: Kysely<DrydockDatabase>, store: EventStore): Promise<{ streamId: string; stored: unknown; folded: unknown }[]> {
  const rows = await db.selectFrom("streams").select(["stream_id", "state"]).execute();
  const differing: { streamId: string; stored: unknown; folded: unknown }[] = [];
  for (const row of rows) {
    if (!row.state) continue;
    const folded = JSON.parse(JSON.stringify(foldEvents(row.stream_id, await store.readStream(row.stream_id))));
    const stored = typeof row.state === "string" ? JSON.parse(row.state) : row.state;
    if (JSON.stringify(sortKeys(stored)) !== JSON.stringify(sortKeys(folded))) differing.push({ streamId: row.stream_id, stored, folded });
  }
  return differing;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortKeys(v)]));
}
