import type { CompiledQuery, Kysely } from "kysely";
import type { RecordedEvent } from "../../events/envelope";
import type { DrydockDatabase } from "./schema";
import type { StreamState } from "./stream-state";

export type Executor = Kysely<DrydockDatabase>;

/** What a projection's row changes read of an event: all but where the log put it. */
export type ProjectedEvent = Pick<RecordedEvent, "streamId" | "streamVersion" | "type" | "data" | "recordedAt" | "metadata">;

/** An event about to be stored: known stream and version, no global position yet. */
export interface PendingEvent {
  streamId: string;
  streamVersion: number;
  type: string;
  data: unknown;
  recordedAt: Date;
}

/**
 * Work this process will run itself, next, on one stream (the fast path: a request that runs its
 * lease's steps). The append that schedules the stream's work item stores it claimed by `token`
 * until `until`, so no other worker takes it, and tells no worker about it.
 */
export interface WorkClaim {
  streamId: string;
  token: string;
  until: Date;
}

/**
 * A work item whose step failed keeps its claim until the retry is due (worker.ts), held by
 * `retry:<token>` rather than by the token of the run that failed: a claim with this prefix is a
 * wait, one without is a step running now. A blueprint's fix ends the waits only
 * (work-projection.ts), never a run's claim, which would let a second worker run the same step.
 */
export const RETRY_WAIT_CLAIM = "retry:";

/** What the projections of one append share, for that append's transaction only. */
export interface AppendContext {
  /** A stream's projected row as written (the columns asked for with RETURNING), by stream id. */
  rows: Map<string, Record<string, unknown>>;
  claim: WorkClaim | undefined;
  /** The earliest due time (ms) of unclaimed work the append scheduled; null: none. */
  workDueAt: number | null;
}

/** One stream's events in an append and the state they fold to: what a projection plans from. */
export interface StreamPlanInput {
  streamId: string;
  events: readonly ProjectedEvent[];
  /** The stream's state after the events (the fold the append stores on its row). */
  state: StreamState;
  claim: WorkClaim | undefined;
  /** To compile statements with; a plan runs nothing. */
  db: Executor;
}

/** One write of a planned append (see InlineProjection.plan). */
export interface PlannedWrite {
  query: CompiledQuery;
  /** Takes or frees slot locks: runs before the events draw their positions (see `claim`). Has a RETURNING clause. */
  beforeEvents?: true;
  /** Its RETURNING row is the stream's projected row, handed to afterCommit (AppendContext.rows). */
  returnsRow?: true;
  /** The due time (ms) of unclaimed work it schedules (AppendContext.workDueAt). */
  workDueAt?: number;
}

/**
 * A read model updated inside the append transaction.
 *
 * `claim` runs before any event row of the transaction is inserted, and is where contended rows
 * (slot locks) are taken and freed. Doing it before the events draw their global positions means
 * that when two transactions contend for one slot, the one that waits also draws the later
 * position; so replaying the log in position order frees and takes slots in the order they
 * really happened, and a rebuild reproduces the live tables.
 */
export interface InlineProjection {
  readonly name: string;
  claim?(db: Executor, event: PendingEvent): Promise<void>;
  apply(db: Executor, event: RecordedEvent): Promise<void>;
  /**
   * The events one append stored on one stream, in order, applied at once: what an append runs
   * instead of `apply` per event, so a stream's rows are written once per append. Must leave the
   * rows as `apply` over each event would (a rebuild still applies event by event).
   */
  applyStream?(db: Executor, events: readonly RecordedEvent[], append: AppendContext): Promise<void>;
  /**
   * The writes `claim` and `applyStream` would make for one stream's events, compiled and not
   * run, so the store can send the whole append as one statement with no BEGIN or COMMIT
   * (append-statement.ts). Each write must read no row it does not name in its own SQL and
   * need no other write's result. [] when the events change nothing here; null when they need
   * the transaction (a write that depends on a read), and the append then runs in one.
   * Must leave the rows exactly as `claim` and `applyStream` would.
   */
  plan?(input: StreamPlanInput): PlannedWrite[] | null;
  /**
   * True when `apply` recomputes the projection of the event's stream from that stream's
   * projected rows and the event's time, and accumulates nothing: only a stream's latest event
   * matters. A rebuild then applies it once per stream and batch, at the stream's last event in
   * the batch, instead of at every event (the rebuild runs a third as many queries).
   */
  readonly recomputes?: boolean;
  /**
   * Best-effort follow-up after the append committed, outside its transaction (wake-ups). Not
   * part of the projection: a rebuild does not run it, and a failure here loses no event.
   * `append` is what the append's projections shared (the rows they wrote), when there was one.
   */
  afterCommit?(db: Executor, events: readonly RecordedEvent[], states: ReadonlyMap<string, StreamState>, append?: AppendContext): Promise<void>;
}
