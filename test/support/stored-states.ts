import type { Kysely } from "kysely";
import { eventColumns, eventFromRow, type EventRow } from "./driver-event-row";
import type { RecordedEvent } from "../../events/envelope";
import { foldEvents } from "../../src/store/stream-state";
import type { DrydockDatabase } from "../../src/store/schema";

/**
 * Streams whose stored state (the `streams` row commands and steps decide from) is not the fold
 * of their log: what a replay would rebuild. Empty when every writer stored what it appended.
 * The rows and the log are read in one snapshot (REPEATABLE READ), so a step that commits
 * meanwhile (a background teardown) cannot make a row and its log look apart.
 */
export async function statesDifferingFromLog(db: Kysely<DrydockDatabase>): Promise<{ streamId: string; stored: unknown; folded: unknown }[]> {
  const { rows, events } = await db
    .transaction()
    .setIsolationLevel("repeatable read")
    .execute(async (trx) => ({
      rows: await trx.selectFrom("streams").select(["stream_id", "state"]).execute(),
      events: await trx.selectFrom("events").select(eventColumns).orderBy("stream_id").orderBy("stream_version").execute(),
    }));
  const byStream = new Map<string, RecordedEvent[]>();
  for (const row of events) {
    const event = eventFromRow(row as EventRow);
    const stream = byStream.get(event.streamId);
    if (stream) stream.push(event);
    else byStream.set(event.streamId, [event]);
  }
  const differing: { streamId: string; stored: unknown; folded: unknown }[] = [];
  for (const row of rows) {
    if (!row.state) continue;
    const folded = JSON.parse(JSON.stringify(foldEvents(row.stream_id, byStream.get(row.stream_id) ?? [])));
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
