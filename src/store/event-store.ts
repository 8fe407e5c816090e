import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import { upcastAndValidate, validateForAppend } from "../../events/catalogue";
import type { EventMetadata, NewEvent, RecordedEvent } from "../../events/envelope";
import type { Clock } from "../domain/clock";
import { VersionConflictError } from "../domain/errors";
import type { InlineProjection, PendingEvent } from "./projection";
import type { DrydockDatabase } from "./schema";

export const EVENTS_CHANNEL = "drydock_events";

export interface StreamAppend {
  streamId: string;
  /** The stream's current version as the caller saw it; 0 for a stream that must not exist yet. */
  expectedVersion: number;
  events: NewEvent[];
}

/** Where a reader of the global log stands: the last (transaction id, position) it has seen. */
export interface LogCheckpoint {
  transactionId: string;
  position: number;
}
export const LOG_START: LogCheckpoint = { transactionId: "0", position: 0 };

export interface ReadAllOptions {
  limit?: number;
  types?: readonly string[];
}

export interface EventStore {
  append(streamId: string, expectedVersion: number, events: NewEvent[], metadata: EventMetadata): Promise<RecordedEvent[]>;
  /** Appends to several streams in one transaction: all or nothing. */
  appendMany(appends: readonly StreamAppend[], metadata: EventMetadata): Promise<RecordedEvent[]>;
  readStream(streamId: string): Promise<RecordedEvent[]>;
  /**
   * Committed events after `after`, in (transaction id, position) order, never past the oldest
   * transaction still in flight: a slower writer that commits later with a lower position is
   * read later, never skipped.
   */
  readAll(after: LogCheckpoint, options?: ReadAllOptions): Promise<{ events: RecordedEvent[]; checkpoint: LogCheckpoint }>;
  /** Every committed event after `position`, in position order (rebuild and verify). */
  readByPosition(after: number, limit: number): Promise<RecordedEvent[]>;
}

interface EventRow {
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

const columns = [
  "global_position",
  "transaction_id",
  "event_id",
  "stream_id",
  "stream_version",
  "event_type",
  "schema_version",
  "data",
  "metadata",
  "recorded_at",
] as const;

export class PostgresEventStore implements EventStore {
  constructor(
    private readonly db: Kysely<DrydockDatabase>,
    private readonly projections: readonly InlineProjection[],
    private readonly clock: Clock,
  ) {}

  append(streamId: string, expectedVersion: number, events: NewEvent[], metadata: EventMetadata) {
    return this.appendMany([{ streamId, expectedVersion, events }], metadata);
  }

  async appendMany(appends: readonly StreamAppend[], metadata: EventMetadata): Promise<RecordedEvent[]> {
    const recordedAt = this.clock.now();
    const pending: (PendingEvent & { version: number })[] = [];
    for (const a of appends) {
      a.events.forEach((e, i) => {
        const { data, version } = validateForAppend(e.type, e.data);
        pending.push({ streamId: a.streamId, streamVersion: a.expectedVersion + i + 1, type: e.type, data, version, recordedAt });
      });
    }
    if (pending.length === 0) return [];

    const recorded = await retryOnDeadlock(() => this.db.transaction().execute(async (trx) => {
      for (const a of appends) {
        if (a.events.length > 0) await moveStreamVersion(trx, a, recordedAt);
      }
      for (const e of pending) for (const p of this.projections) await p.claim?.(trx, e);

      const rows = await trx
        .insertInto("events")
        .values(
          pending.map((e) => ({
            event_id: randomUUID(),
            stream_id: e.streamId,
            stream_version: e.streamVersion,
            event_type: e.type,
            schema_version: e.version,
            data: JSON.stringify(e.data),
            metadata: JSON.stringify(metadata),
            recorded_at: recordedAt,
          })),
        )
        .returning(columns)
        .execute();
      const recorded = rows.map((r) => eventFromRow(r as EventRow));
      for (const e of recorded) for (const p of this.projections) await p.apply(trx, e);

      return recorded;
    }));
    // NOTIFY after the commit, not in the transaction: PostgreSQL serializes the commits of
    // transactions that NOTIFY on one global lock, which made every append wait for the previous
    // one's fsync. A notification lost to a crash here only delays workers until their next look.
    const streams = [...new Set(appends.map((a) => a.streamId))].join(",");
    await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${streams.length < 7000 ? streams : "*"})`.execute(this.db).catch(() => {});
    for (const p of this.projections) {
      // Best effort: the events are committed whatever happens here.
      await p.afterCommit?.(this.db, recorded).catch(() => {});
    }
    return recorded;
  }

  async readStream(streamId: string): Promise<RecordedEvent[]> {
    const rows = await this.db
      .selectFrom("events")
      .select(columns)
      .where("stream_id", "=", streamId)
      .orderBy("stream_version")
      .execute();
    return rows.map((r) => eventFromRow(r as EventRow));
  }

  async readAll(after: LogCheckpoint, options: ReadAllOptions = {}) {
    const limit = options.limit ?? 500;
    const types = options.types && options.types.length > 0 ? options.types : null;
    const result = await sql<EventRow>`
      SELECT ${sql.join(columns.map((c) => sql.ref(c)))}
        FROM events
       WHERE (transaction_id, global_position) > (${after.transactionId}::xid8, ${after.position})
         AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ${types ? sql`AND event_type = ANY(${types as string[]})` : sql``}
       ORDER BY transaction_id, global_position
       LIMIT ${limit}`.execute(this.db);
    const events = result.rows.map(eventFromRow);
    const last = events.at(-1);
    return {
      events,
      checkpoint: last ? { transactionId: last.transactionId, position: last.globalPosition } : after,
    };
  }

  async readByPosition(after: number, limit: number): Promise<RecordedEvent[]> {
    const rows = await this.db
      .selectFrom("events")
      .select(columns)
      .where("global_position", ">", after)
      .orderBy("global_position")
      .limit(limit)
      .execute();
    return rows.map((r) => eventFromRow(r as EventRow));
  }
}

/**
 * PostgreSQL may abort a transaction to break a deadlock or a serialization conflict; nothing of
 * it was kept, so running it again is safe (a version conflict then surfaces as usual).
 */
async function retryOnDeadlock<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if ((code !== "40P01" && code !== "40001") || attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}

/** The optimistic concurrency check: the stream row moves only from the version the caller saw. */
async function moveStreamVersion(trx: Kysely<DrydockDatabase>, a: StreamAppend, at: Date): Promise<void> {
  const next = a.expectedVersion + a.events.length;
  const moved =
    a.expectedVersion === 0
      ? await trx
          .insertInto("streams")
          .values({ stream_id: a.streamId, stream_type: a.streamId.slice(0, a.streamId.indexOf("-")), version: next, updated_at: at })
          .onConflict((oc) => oc.column("stream_id").doNothing())
          .returning("stream_id")
          .executeTakeFirst()
      : await trx
          .updateTable("streams")
          .set({ version: next, updated_at: at })
          .where("stream_id", "=", a.streamId)
          .where("version", "=", a.expectedVersion)
          .returning("stream_id")
          .executeTakeFirst();
  if (!moved) {
    const current = await trx.selectFrom("streams").select("version").where("stream_id", "=", a.streamId).executeTakeFirst();
    throw new VersionConflictError(a.streamId, a.expectedVersion, current?.version ?? null);
  }
}
