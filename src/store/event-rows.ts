import { sql } from "kysely";
import { upcastAndValidate } from "../../events/catalogue";
import type { EventMetadata, RecordedEvent } from "../../events/envelope";

/**
 * An event as one JSON array in one text column (the time in milliseconds), for eventFromJson.
 * The store's reads of events (the log, a stream, the rebuild, `drydock verify`) go this way: on
 * PGlite a row crosses to the service's thread as one string where it was ten values, parsed by
 * one JSON.parse where the driver parsed a timestamp, two JSON documents and a bigint. There
 * `drydock verify` went from about 54,000 to 97,000 events a second and the rebuild from 40,000
 * to 65,000 (bench/replay.ts); on PostgreSQL it costs what the columns did. The time is floored
 * to the millisecond, as a Date made from the timestamp is.
 */
export const eventJson = sql<string>`json_build_array(global_position, transaction_id::text, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, floor(extract(epoch FROM recorded_at) * 1000)::float8)::text`;

/** A row of eventJson: position, transaction, id, stream, version, type, schema version, data, metadata, time (ms). */
type EventJson = [number, string, string, string, number, string, number, unknown, unknown, number];

/** An eventJson text as a RecordedEvent, upcast to the current schema version and validated. */
export function eventFromJson(text: string): RecordedEvent {
  const r = JSON.parse(text) as EventJson;
  return upcastAndValidate({
    globalPosition: r[0],
    transactionId: r[1],
    eventId: r[2],
    streamId: r[3],
    streamVersion: r[4],
    type: r[5],
    version: r[6],
    data: r[7],
    metadata: r[8] as EventMetadata,
    recordedAt: new Date(r[9]),
  });
}
