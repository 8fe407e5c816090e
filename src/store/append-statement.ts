import { randomUUID } from "node:crypto";
import { CompiledQuery, type Kysely } from "kysely";
import type { EventMetadata, RecordedEvent } from "../../events/envelope";
import { CapacityConflictError } from "../domain/errors";
import { CONDITION_REFUSED, type AppendCondition } from "./append-condition";
import type { InlineProjection, PlannedWrite, ProjectedEvent, WorkClaim } from "./projection";
import type { DrydockDatabase } from "./schema";
import type { StreamState } from "./stream-state";
import { streamMoveQuery, versionConflict } from "./stream-move";

/** An event of a planned append: validated, at its stream version, not stored yet. */
export interface AppendingEvent extends ProjectedEvent {
  /** Schema version of `data`. */
  version: number;
  metadata: EventMetadata;
}

/** One stream's append, with the state its events fold to (checked against its machine already). */
export interface PlannedStreamAppend {
  streamId: string;
  expectedVersion: number;
  events: readonly AppendingEvent[];
  state: StreamState;
}

/** An append as one statement, ready to send; and what the append's projections share. */
export interface AppendStatement {
  query: CompiledQuery;
  stream: PlannedStreamAppend;
  eventIds: string[];
  /** Data as the statement stores it (JSON text), parsed back for the recorded events. */
  dataJson: string[];
  workDueAt: number | null;
  /** The condition the statement checks (append-condition.ts), if the append carries one. */
  condition: AppendCondition | undefined;
}

/** The SQLSTATE drydock_refuse_append raises (migration 017). */
const REFUSED = "DY409";
const UNIQUE_VIOLATION = "23505";

/**
 * Plans one stream's append as a single data-modifying statement, or returns null when a
 * projection needs the transaction for it (InlineProjection.plan).
 *
 * Why one statement: an append in a transaction is BEGIN, the stream's row, its slot locks, the
 * events, the projections' rows, its work item and COMMIT: seven round trips, each costing the
 * service about 0.25 ms of CPU in the driver. Sent without BEGIN, a statement is its own
 * transaction, and every write in it commits or none does.
 *
 * The concurrency rules stay in the schema, as in the transaction:
 * - the stream moves only from the expected version: a new stream is a plain INSERT (its key
 *   refuses a second creator), an existing one an UPDATE at the expected version, and when that
 *   finds no row the guard raises (drydock_refuse_append). The events' unique (stream, version)
 *   refuses a concurrent writer of the same version too;
 * - slot locks are taken by a plain INSERT: a lock another lease holds is a unique violation,
 *   which aborts the whole statement, reported as a capacity conflict naming the lock;
 * - the lock writes run before the events draw their positions (the events' INSERT reads them
 *   first), as `claim` does in the transaction, so a replay in position order takes and frees
 *   slots in the order they really happened;
 * - a condition the append carries (append-condition.ts) is read, and its rows locked, in the
 *   statement; when it does not hold, drydock_refuse_condition aborts the whole statement.
 */
export function planAppendStatement(
  db: Kysely<DrydockDatabase>,
  projections: readonly InlineProjection[],
  stream: PlannedStreamAppend,
  claim: WorkClaim | undefined,
  recordedAt: Date,
  condition?: AppendCondition,
): AppendStatement | null {
  const writes: PlannedWrite[] = [];
  for (const p of projections) {
    const planned = p.plan?.({ streamId: stream.streamId, events: stream.events, state: stream.state, claim, db });
    if (!planned) return null;
    writes.push(...planned);
  }
  // The statement's text depends only on its parts' texts and how many events it stores: made
  // once per shape (the parts are compiled once too, compiled-once.ts), then only its parameters
  // are gathered, in the order the text numbers them.
  const move = streamMoveQuery(db, { streamId: stream.streamId, expectedVersion: stream.expectedVersion, eventCount: stream.events.length, state: stream.state, at: recordedAt }, "fail");
  const shape = `${stream.events.length}:${textId(move.sql)}:${condition ? textId(condition.query.sql) : ""}:${writes.map((w) => `${w.beforeEvents ? "b" : w.returnsRow ? "r" : "-"}${textId(w.query.sql)}`).join(",")}`;
  const cached = statementTexts.get(shape);
  const text = new StatementText(cached === undefined);
  const ctes = [`moved AS (${text.add(move)})`];
  ctes.push(`guard AS (SELECT CASE WHEN (SELECT count(*) FROM moved) = 1 THEN 0 ELSE drydock_refuse_append(${text.param(stream.streamId)}, ${text.param(stream.expectedVersion)}) END AS ok)`);
  if (condition) {
    ctes.push(`held AS (${text.add(condition.query)})`);
    ctes.push(`holds AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM held) THEN 0 ELSE drydock_refuse_condition(${text.param(condition.name)}) END AS ok)`);
  }
  // The writes that must run before the events (slot locks), and the one returning the stream's row.
  const before: string[] = [];
  let rowCte: string | null = null;
  writes.forEach((w, i) => {
    const name = `w${i}`;
    ctes.push(`${name} AS (${text.add(w.query)})`);
    if (w.beforeEvents) before.push(name);
    else if (w.returnsRow) rowCte = name;
  });
  const eventIds = stream.events.map(() => randomUUID());
  const dataJson = stream.events.map((e) => JSON.stringify(e.data));
  const at = text.param(recordedAt);
  const values = stream.events.map(
    (e, i) =>
      `(${text.param(eventIds[i])}::uuid, ${text.param(stream.streamId)}::text, ${text.param(e.streamVersion)}::integer, ${text.param(e.type)}::text, ` +
      `${text.param(e.version)}::smallint, ${text.param(dataJson[i])}::jsonb, ${text.param(JSON.stringify(e.metadata))}::jsonb, ${at}::timestamptz)`,
  );
  let sql = cached;
  if (sql === undefined) {
    // Reading the guard and the lock writes in the WHERE runs them before any event row is formed.
    const ready = ["(SELECT ok FROM guard) = 0", ...(condition ? ["(SELECT ok FROM holds) = 0"] : []), ...before.map((n) => `(SELECT count(*) FROM ${n}) >= 0`)].join(" AND ");
    const events =
      `appended AS (INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at) ` +
      `SELECT * FROM (VALUES ${values.join(", ")}) AS v (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at) ` +
      `WHERE ${ready} RETURNING global_position, transaction_id, event_id)`;
    sql =
      `WITH ${[...ctes, events].join(", ")} ` +
      `SELECT appended.global_position, appended.transaction_id::text AS transaction_id, appended.event_id` +
      `${rowCte ? `, (SELECT row_to_json(${rowCte}) FROM ${rowCte}) AS projected_row` : ""} FROM appended ORDER BY appended.global_position`;
    if (statementTexts.size < MAX_STATEMENT_TEXTS) statementTexts.set(shape, sql);
  }
  const due = writes.map((w) => w.workDueAt).filter((t): t is number => t !== undefined);
  return {
    query: CompiledQuery.raw(sql, text.params),
    stream,
    eventIds,
    dataJson,
    workDueAt: due.length ? Math.min(...due) : null,
    condition,
  };
}

interface AppendedRow {
  global_position: string | number;
  transaction_id: string;
  event_id: string;
  projected_row?: Record<string, unknown> | string | null;
}

/** Sends the statement; the recorded events, and the stream's projected row when a write returned it. */
export async function runAppendStatement(
  db: Kysely<DrydockDatabase>,
  statement: AppendStatement,
  recordedAt: Date,
): Promise<{ recorded: RecordedEvent[]; row: Record<string, unknown> | undefined }> {
  const { stream } = statement;
  let rows: AppendedRow[];
  try {
    rows = (await db.executeQuery<AppendedRow>(statement.query)).rows;
  } catch (error) {
    if ((error as { code?: string }).code === CONDITION_REFUSED && statement.condition) throw statement.condition.refused();
    throw await conflictOf(db, error, stream);
  }
  const byId = new Map(rows.map((r) => [r.event_id, r]));
  const recorded = stream.events.map((e, i): RecordedEvent => {
    const row = byId.get(statement.eventIds[i]!)!;
    return {
      globalPosition: Number(row.global_position),
      transactionId: String(row.transaction_id),
      eventId: statement.eventIds[i]!,
      streamId: stream.streamId,
      streamVersion: e.streamVersion,
      type: e.type,
      version: e.version,
      data: JSON.parse(statement.dataJson[i]!),
      metadata: e.metadata,
      recordedAt,
    };
  });
  const projected = rows[0]?.projected_row;
  const row = projected == null ? undefined : typeof projected === "string" ? (JSON.parse(projected) as Record<string, unknown>) : projected;
  return { recorded, row };
}

/** A refused statement as the typed conflict the transaction would have thrown; other errors as they are. */
async function conflictOf(db: Kysely<DrydockDatabase>, error: unknown, stream: PlannedStreamAppend): Promise<unknown> {
  const e = error as { code?: string; table?: string; detail?: string };
  if (e.code === UNIQUE_VIOLATION && e.table === "slot_locks") {
    const key = /^Key \(lock_key\)=\((.*)\) already exists\.$/.exec(e.detail ?? "")?.[1];
    return new CapacityConflictError(key ? [key] : []);
  }
  if (e.code === REFUSED || (e.code === UNIQUE_VIOLATION && (e.table === "streams" || e.table === "events"))) {
    return versionConflict(db, stream.streamId, stream.expectedVersion);
  }
  return error;
}

/** Statement texts by shape (planAppendStatement); a few dozen in practice, bounded in case. */
const statementTexts = new Map<string, string>();
const MAX_STATEMENT_TEXTS = 1000;

/**
 * A short number for each part's text, so a shape is named by a few digits rather than by its
 * parts' texts joined, a few kilobytes that were built and hashed anew at every append (about 2 %
 * of the service thread's CPU in a lease cycle). The parts come from compiled-once templates, so
 * the same text is the same string and its hash is computed once. Past the bound, a text is its
 * own name, quoted (JSON): longer, still one name per text.
 */
const textIds = new Map<string, number>();
const MAX_TEXT_IDS = 10_000;

function textId(text: string): string {
  let id = textIds.get(text);
  if (id === undefined) {
    if (textIds.size >= MAX_TEXT_IDS) return JSON.stringify(text);
    textIds.set(text, (id = textIds.size));
  }
  return String(id);
}

/**
 * A statement's parameters gathered from compiled queries and values, and, when `writing`, its
 * text: their `$n` placeholders renumbered into one list. Not writing, the text's pieces come
 * back empty: the statement's text is known already, only its parameters are wanted.
 */
class StatementText {
  readonly params: unknown[] = [];

  constructor(private readonly writing: boolean) {}

  param(value: unknown): string {
    this.params.push(value);
    return this.writing ? `$${this.params.length}` : "";
  }

  add(query: CompiledQuery): string {
    const offset = this.params.length;
    this.params.push(...query.parameters);
    return this.writing ? renumber(query.sql, offset) : "";
  }
}

/** Shifts `$n` placeholders by `offset`, leaving quoted literals and identifiers alone. */
export function renumber(sql: string, offset: number): string {
  if (offset === 0) return sql;
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\$(\d+)/g, (match, n: string | undefined) => (n === undefined ? match : `$${Number(n) + offset}`));
}
