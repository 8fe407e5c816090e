import type { Kysely } from "kysely";
import type { DrydockDatabase } from "./schema";
import type { StreamState } from "./stream-state";

/**
 * The write that moves a stream from the version its append expected to the version after it,
 * with the state the new events fold to; RETURNING the stream id when it moved, nothing when
 * it did not. A new stream (expected 0) is an INSERT: `whenTaken: "skip"` lets a stream that
 * exists already return nothing (the transaction then reports the conflict), `"fail"` lets its
 * key refuse the statement (a one-statement append, which cannot look before it fails). An
 * existing stream is an UPDATE at the expected version only.
 */
export function streamMoveQuery(
  db: Kysely<DrydockDatabase>,
  move: { streamId: string; expectedVersion: number; eventCount: number; state: StreamState; at: Date },
  whenTaken: "skip" | "fail",
) {
  const version = move.expectedVersion + move.eventCount;
  const state = JSON.stringify(move.state);
  if (move.expectedVersion === 0) {
    const insert = db.insertInto("streams").values({ stream_id: move.streamId, stream_type: move.streamId.slice(0, move.streamId.indexOf("-")), version, state, updated_at: move.at });
    return (whenTaken === "skip" ? insert.onConflict((oc) => oc.column("stream_id").doNothing()) : insert).returning("stream_id");
  }
  return db.updateTable("streams").set({ version, state, updated_at: move.at }).where("stream_id", "=", move.streamId).where("version", "=", move.expectedVersion).returning("stream_id");
}
