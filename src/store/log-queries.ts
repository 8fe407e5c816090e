import { sql, type Kysely, type RawBuilder } from "kysely";
import type { RecordedEvent } from "../../events/envelope";
import { eventFromJson, eventJson } from "./event-rows";
import type { DrydockDatabase } from "./schema";

/** Where a reader of the global log stands: the last (transaction id, position) it has seen. */
export interface LogCheckpoint {
  transactionId: string;
  position: number;
}
export const LOG_START: LogCheckpoint = { transactionId: "0", position: 0 };

/** Which events of the global log a reader wants; every field narrows, absent ones do not. */
export interface LogFilter {
  types?: readonly string[];
  streamIds?: readonly string[];
  /** `metadata.actor`: who appended it. */
  actor?: string;
  /** recordedAt >= since. */
  since?: Date;
  /** recordedAt < until. */
  until?: Date;
}

export interface ReadAllOptions extends LogFilter {
  limit?: number;
}

function filterSql(filter: LogFilter): RawBuilder<unknown>[] {
  const where: RawBuilder<unknown>[] = [];
  if (filter.types && filter.types.length > 0) where.push(sql`event_type = ANY(${[...filter.types]})`);
  if (filter.streamIds && filter.streamIds.length > 0) where.push(sql`stream_id = ANY(${[...filter.streamIds]})`);
  if (filter.actor !== undefined) where.push(sql`metadata->>'actor' = ${filter.actor}`);
  if (filter.since) where.push(sql`recorded_at >= ${filter.since}`);
  if (filter.until) where.push(sql`recorded_at < ${filter.until}`);
  return where;
}

/**
 * A page of the global log after `after`, in (transaction id, position) order, only below the
 * oldest transaction still in flight (`pg_snapshot_xmin`): every xid below it has committed or
 * aborted and no new transaction can get one, so a row read here can never be preceded later
 * by a late commit.
 *
 * With a filter, the checkpoint must still move past the rows that were scanned and did not
 * match, or a reader of a rare event type would rescan the whole tail on every poll (and page
 * through nothing for ever). When the page is not full, every committed row below the horizon
 * was scanned, so the checkpoint moves to the last of them. The page and that last row are read
 * in one statement, under one snapshot: with two statements, a row committed in between could
 * match, be missing from the page, and be stepped over by the checkpoint.
 */
export async function readLogPage(
  db: Kysely<DrydockDatabase>,
  after: LogCheckpoint,
  options: ReadAllOptions = {},
): Promise<{ events: RecordedEvent[]; checkpoint: LogCheckpoint }> {
  const limit = options.limit ?? 500;
  const where = filterSql(options);
  const afterSql = sql`(transaction_id, global_position) > (${after.transactionId}::xid8, ${after.position})`;
  if (where.length === 0) {
    const result = await sql<{ r: string }>`
      SELECT ${eventJson} AS r FROM events
       WHERE ${afterSql} AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY transaction_id, global_position
       LIMIT ${limit}`.execute(db);
    const events = result.rows.map((row) => eventFromJson(row.r));
    const last = events.at(-1);
    return { events, checkpoint: last ? { transactionId: last.transactionId, position: last.globalPosition } : after };
  }
  const result = await sql<{ scan_tx: string | null; scan_pos: string | number | null; r: string | null }>`
    WITH horizon AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
    page AS (
      SELECT transaction_id, global_position, ${eventJson} AS r FROM events
       WHERE ${afterSql} AND transaction_id < (SELECT xmin FROM horizon) AND ${sql.join(where, sql` AND `)}
       ORDER BY transaction_id, global_position
       LIMIT ${limit}),
    scanned AS (
      SELECT transaction_id AS scan_tx, global_position AS scan_pos FROM events
       WHERE ${afterSql} AND transaction_id < (SELECT xmin FROM horizon)
       ORDER BY transaction_id DESC, global_position DESC
       LIMIT 1)
    SELECT scanned.scan_tx, scanned.scan_pos, page.r
      FROM (SELECT 1) one LEFT JOIN scanned ON true LEFT JOIN page ON true
     ORDER BY page.transaction_id, page.global_position`.execute(db);
  const events = result.rows.flatMap((row) => (row.r === null ? [] : [eventFromJson(row.r)]));
  const last = events.at(-1);
  if (events.length === limit && last) return { events, checkpoint: { transactionId: last.transactionId, position: last.globalPosition } };
  const end = result.rows[0];
  const checkpoint = end?.scan_tx != null ? { transactionId: String(end.scan_tx), position: Number(end.scan_pos) } : after;
  return { events, checkpoint };
}

/**
 * Up to `limit` events after global position `after`, in position order: `drydock verify`'s
 * pages (readByPosition) and the rebuild's, batched or event by event.
 */
export async function readEventsAfter(db: Kysely<DrydockDatabase>, after: number, limit: number): Promise<RecordedEvent[]> {
  const { rows } = await sql<{ r: string }>`SELECT ${eventJson} AS r FROM events WHERE global_position > ${after} ORDER BY global_position LIMIT ${limit}`.execute(db);
  return rows.map((row) => eventFromJson(row.r));
}

/** Where a historical read stops: events recorded at or before `asOf`, and/or at or before `toPosition`. */
export interface StreamBound {
  asOf?: Date;
  toPosition?: number;
}

function boundSql(bound: StreamBound): RawBuilder<unknown>[] {
  const where: RawBuilder<unknown>[] = [];
  if (bound.asOf) where.push(sql`recorded_at <= ${bound.asOf}`);
  if (bound.toPosition !== undefined) where.push(sql`global_position <= ${bound.toPosition}`);
  return where;
}

/** The events of these streams within the bound, by stream and version (time travel). */
export async function readStreamsUpTo(db: Kysely<DrydockDatabase>, streamIds: readonly string[], bound: StreamBound): Promise<RecordedEvent[]> {
  if (streamIds.length === 0) return [];
  const where = [sql`stream_id = ANY(${[...streamIds]})`, ...boundSql(bound)];
  const result = await sql<{ r: string }>`
    SELECT ${eventJson} AS r FROM events WHERE ${sql.join(where, sql` AND `)} ORDER BY stream_id, stream_version`.execute(db);
  return result.rows.map((row) => eventFromJson(row.r));
}

/** Lease streams that were ever acquired on one of these resources within the bound. */
export async function leaseStreamsAcquiredOn(db: Kysely<DrydockDatabase>, resourceIds: readonly string[], bound: StreamBound): Promise<string[]> {
  if (resourceIds.length === 0) return [];
  const where = [sql`event_type = 'LeaseAcquired'`, sql`data->>'resourceId' = ANY(${[...resourceIds]})`, ...boundSql(bound)];
  const result = await sql<{ stream_id: string }>`SELECT DISTINCT stream_id FROM events WHERE ${sql.join(where, sql` AND `)}`.execute(db);
  return result.rows.map((r) => r.stream_id);
}
