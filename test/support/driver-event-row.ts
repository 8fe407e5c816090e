import { upcastAndValidate } from "../../events/catalogue";
import type { EventMetadata, RecordedEvent } from "../../events/envelope";

/**
 * An `events` row read as columns and parsed by the driver (pg or PGlite), as a RecordedEvent: the
 * reference the store's own reads (one JSON text an event: src/store/event-rows.ts) are checked
 * against, by a path that shares none of their SQL or parsing.
 */
export const eventColumns = ["global_position", "transaction_id", "event_id", "stream_id", "stream_version", "event_type", "schema_version", "data", "metadata", "recorded_at"] as const;

export interface EventRow {
  global_position: string | number;
  transaction_id: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  event_type: string;
  schema_version: number;
  data: unknown;
  metadata: unknown;
  recorded_at: Date | string;
}

export function eventFromRow(row: EventRow): RecordedEvent {
  return upcastAndValidate({
    globalPosition: Number(row.global_position),
    transactionId: String(row.transaction_id),
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    type: row.event_type,
    version: row.schema_version,
    data: row.data,
    metadata: row.metadata as EventMetadata,
    recordedAt: new Date(row.recorded_at),
  });
}
