import type { CompiledQuery, Kysely } from "kysely";
import { VersionConflictError } from "../domain/errors";
import { CompiledShapes } from "./compiled-once";
import type { DrydockDatabase } from "./schema";
import type { StreamState } from "./stream-state";

const shapes = new CompiledShapes();

/**
 * The write that moves a stream from the version its append expected to the version after it,
 * with the state the new events fold to; RETURNING the stream id when it moved, nothing when
 * it did not. A new stream (expected 0) is an INSERT: `whenTaken: "skip"` lets a stream that
 * exists already return nothing (the transaction then reports the conflict), `"fail"` lets its
 * key refuse the statement (a one-statement append, which cannot look before it fails). An
 * existing stream is an UPDATE at the expected version only. Compiled once per shape
 * (compiled-once.ts): every append sends it.
 */
export function streamMoveQuery(
  db: Kysely<DrydockDatabase>,
  move: { streamId: string; expectedVersion: number; eventCount: number; state: StreamState; at: Date },
  whenTaken: "skip" | "fail",
): CompiledQuery<{ stream_id: string }> {
  const version = move.expectedVersion + move.eventCount;
  const state = JSON.stringify(move.state);
  if (move.expectedVersion === 0) {
    const args = { streamId: move.streamId, streamType: move.streamId.slice(0, move.streamId.indexOf("-")), version, state, at: move.at };
    return shapes.compile(db, `insert-${whenTaken}`, args, (db, a) => {
      const insert = db.insertInto("streams").values({ stream_id: a.streamId, stream_type: a.streamType, version: a.version, state: a.state, updated_at: a.at });
      return (whenTaken === "skip" ? insert.onConflict((oc) => oc.column("stream_id").doNothing()) : insert).returning("stream_id");
    });
  }
  const args = { version, state, at: move.at, streamId: move.streamId, expectedVersion: move.expectedVersion };
  return shapes.compile(db, "update", args, (db, a) =>
    db.updateTable("streams").set({ version: a.version, state: a.state, updated_at: a.at }).where("stream_id", "=", a.streamId).where("version", "=", a.expectedVersion).returning("stream_id"),
  );
}

/** The conflict of an append whose stream was not at `expectedVersion`, naming the version it is at (null: no stream). */
export async function versionConflict(db: Kysely<DrydockDatabase>, streamId: string, expectedVersion: number): Promise<VersionConflictError> {
  const current = await db.selectFrom("streams").select("version").where("stream_id", "=", streamId).executeTakeFirst();
  return new VersionConflictError(streamId, expectedVersion, current?.version ?? null);
}
