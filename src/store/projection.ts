import type { Kysely } from "kysely";
import type { RecordedEvent } from "../../events/envelope";
import type { DrydockDatabase } from "./schema";

export type Executor = Kysely<DrydockDatabase>;

/** An event about to be stored: known stream and version, no global position yet. */
export interface PendingEvent {
  streamId: string;
  streamVersion: number;
  type: string;
  data: unknown;
  recordedAt: Date;
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
   * True when `apply` recomputes the projection of the event's stream from that stream's
   * projected rows and the event's time, and accumulates nothing: only a stream's latest event
   * matters. A rebuild then applies it once per stream and batch, at the stream's last event in
   * the batch, instead of at every event (the rebuild runs a third as many queries).
   */
  readonly recomputes?: boolean;
  /**
   * Best-effort follow-up after the append committed, outside its transaction (wake-ups). Not
   * part of the projection: a rebuild does not run it, and a failure here loses no event.
   */
  afterCommit?(db: Executor, events: readonly RecordedEvent[]): Promise<void>;
}
