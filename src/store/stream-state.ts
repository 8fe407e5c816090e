/**
 * Each stream's folded state, kept on its `streams` row (migration 007) and moved with its version
 * by the append that moves the version. It is the one source of a stream's current state for
 * commands and worker steps: they read this row, decide, and append with the version they read;
 * nothing re-reads and re-folds the stream but replay, verify and as-of queries.
 *
 * Invariant: `state` is the fold of the stream's events 1..`version` through its machine. The
 * append that writes it folds only the new events, from the state at the expected version; the
 * conditional update (`WHERE version = expected`) guarantees that is the state it started from.
 */
import { sql, type Kysely } from "kysely";
import { setNewest } from "../domain/bounded-map";
import { parseStreamId, type StreamType } from "../../events/envelope";
import type { RecordedEvent } from "../../events/envelope";
import { DomainError } from "../domain/errors";
import { foldersByStreamType, IllegalTransitionError, type Folded, type MachineEventOf } from "../machines/fold";
import { eventFromJson, eventJson } from "./event-rows";
import type { DrydockDatabase } from "./schema";

export interface StreamState {
  status: string;
  context: unknown;
}

interface StateFolder {
  start(): { value: string; context: unknown };
  step(snap: { value: string; context: unknown }, event: MachineEventOf, where: { streamId: string; streamVersion: number }): { value: string; context: unknown };
}

const folders: Record<StreamType, StateFolder> = foldersByStreamType;

/**
 * An append the stream's machine refuses: an event of another stream type, or a transition not
 * legal from the stored state. Nothing of the append is stored. Commands check legality first and
 * answer 409 with the status; this guards every other writer (worker steps, tools, tests).
 */
export class IllegalAppendError extends DomainError {
  constructor(streamId: string, version: number, eventType: string, status: string) {
    super("transition_refused", `${streamId}: ${eventType} is not allowed when ${status} (at version ${version}); nothing was appended`, {
      streamId,
      eventType,
      status,
    });
  }
}

export function initialState(streamId: string): StreamState {
  const start = folderOf(streamId).start();
  return { status: start.value, context: start.context };
}

/** The state after `events`, folded from `from`; throws IllegalAppendError on the first refusal. */
export function evolveState(streamId: string, from: StreamState, events: readonly { type: string; data: unknown; streamVersion: number }[], at: Date): StreamState {
  const folder = folderOf(streamId);
  let snap = { value: from.status, context: from.context };
  const when = at.toISOString();
  for (const e of events) {
    try {
      snap = folder.step(snap, { type: e.type, data: e.data, at: when }, { streamId, streamVersion: e.streamVersion });
    } catch (error) {
      if (error instanceof IllegalTransitionError) throw new IllegalAppendError(streamId, e.streamVersion, e.type, String(snap.value));
      throw error;
    }
  }
  return { status: snap.value, context: snap.context };
}

/** The fold of stored events (for streams whose state predates migration 007). */
export function foldEvents(streamId: string, events: readonly RecordedEvent[]): StreamState {
  const folder = folderOf(streamId);
  let snap = folder.start();
  for (const e of events) snap = folder.step(snap, { type: e.type, data: e.data, at: e.recordedAt.toISOString() }, e);
  return { status: snap.value, context: snap.context };
}

/**
 * The stream's version and state from its one row; null when it does not exist. A row without a
 * state (appended before migration 007) is folded from its events once and written back.
 */
export async function loadStreamState(db: Kysely<DrydockDatabase>, streamId: string): Promise<(StreamState & { version: number }) | null> {
  const row = await db.selectFrom("streams").select(["version", "state"]).where("stream_id", "=", streamId).executeTakeFirst();
  if (!row) return null;
  if (row.state) return { ...(row.state as StreamState), version: row.version };
  const { rows } = await sql<{ r: string }>`SELECT ${eventJson} AS r FROM events WHERE stream_id = ${streamId} AND stream_version <= ${row.version} ORDER BY stream_version`.execute(db);
  const state = foldEvents(streamId, rows.map((r) => eventFromJson(r.r)));
  await db
    .updateTable("streams")
    .set({ state: JSON.stringify(state) })
    .where("stream_id", "=", streamId)
    .where("version", "=", row.version)
    .execute();
  return { ...state, version: row.version };
}

/** The state as the folders' typed `Folded` view. */
export function asFolded<S extends string, C>(state: StreamState & { version: number }): Folded<S, C> {
  return { status: state.status as S, context: state.context as C, version: state.version };
}

function folderOf(streamId: string): StateFolder {
  return folders[parseStreamId(streamId).type];
}

/**
 * States this process has loaded or appended, by stream and version. The state at a version is
 * the same whoever folded it, so a worker step that loaded a stream's state and then appends
 * with that version needs no second read of it inside the append. Bounded: least recently used
 * streams are forgotten. The states are shared, never to be mutated.
 */
export class StreamStateCache {
  private readonly states = new Map<string, { version: number; state: StreamState }>();

  constructor(private readonly capacity = 4096) {}

  get(streamId: string, version: number): StreamState | undefined {
    const hit = this.states.get(streamId);
    if (!hit || hit.version !== version) return undefined;
    this.states.delete(streamId);
    this.states.set(streamId, hit);
    return hit.state;
  }

  /** The latest version of the stream this process loaded or appended, if it still remembers it. */
  latest(streamId: string): { version: number; state: StreamState } | undefined {
    return this.states.get(streamId);
  }

  put(streamId: string, version: number, state: StreamState): void {
    setNewest(this.states, streamId, { version, state }, this.capacity);
  }
}
