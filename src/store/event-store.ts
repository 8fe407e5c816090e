import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { validateForAppend } from "../../events/catalogue";
import type { EventMetadata, NewEvent, RecordedEvent } from "../../events/envelope";
import type { Clock } from "../domain/clock";
import { VersionConflictError } from "../domain/errors";
import type { AppendContext, Executor, InlineProjection, WorkClaim } from "./projection";
import { streamMoveQuery, versionConflict } from "./stream-move";
import { planAppendStatement, runAppendStatement, type AppendingEvent, type AppendStatement } from "./append-statement";
import type { AppendCondition } from "./append-condition";
import { ChangeNotifier, sqlAnnouncer } from "./change-notifier";
import { eventFromJson, eventJson } from "./event-rows";
import { readEventsAfter, readLogPage, readStreamsUpTo, type LogCheckpoint, type ReadAllOptions, type StreamBound } from "./log-queries";
import type { DrydockDatabase } from "./schema";
import { evolveState, initialState, loadStreamState, StreamStateCache, type StreamState } from "./stream-state";

export { LOG_START, type LogCheckpoint, type LogFilter, type ReadAllOptions, type StreamBound } from "./log-queries";

export { EVENTS_CHANNEL } from "./change-notifier";

export interface StreamAppend {
  streamId: string;
  /** The stream's current version as the caller saw it; 0 for a stream that must not exist yet. */
  expectedVersion: number;
  events: NewEvent[];
  /**
   * The state at `expectedVersion` the caller decided from (loadState), so the store need not
   * read it again. Safe to trust: the append stores nothing unless the stream is still at that
   * version, and the state at a version is the same whoever folded it.
   */
  expectedState?: StreamState;
}

export interface AppendOptions {
  /**
   * A rule over other rows that must hold when the events are stored (an owner name keeps its
   * role): runs first in the append transaction, may lock and read, and throws to refuse the
   * append, which then stores nothing. It guards new appends only; a rebuild does not run it.
   */
  precondition?: (trx: Executor) => Promise<void>;
  /**
   * A condition on other rows checked in the append's own statement (or first in its
   * transaction), with the rows it reads locked until the commit: the appending request's token
   * still works (append-condition.ts). Unlike a precondition, it keeps the one-statement path.
   */
  condition?: AppendCondition;
  /** The caller runs this stream's next step itself, at once: its work item is stored claimed (WorkClaim). */
  claim?: WorkClaim;
  /**
   * The time to record the events at, instead of the clock's now: for a caller that folded and
   * decided on events before storing them (the fast path's deferred request), so the state it
   * decided from and the log agree on when they happened.
   */
  at?: Date;
}

export interface LoadStateOptions {
  /**
   * Take the latest state this process appended or loaded, if it has one, instead of reading the
   * row: for a caller that appended to the stream a moment ago. Safe, since an append stores
   * nothing unless the stream is still at the version it was decided from; the price of a stale
   * state is a version conflict.
   */
  recent?: boolean;
}

export interface EventStore {
  append(streamId: string, expectedVersion: number, events: NewEvent[], metadata: EventMetadata, options?: AppendOptions): Promise<RecordedEvent[]>;
  /** Appends to several streams in one transaction: all or nothing. */
  appendMany(appends: readonly StreamAppend[], metadata: EventMetadata, options?: AppendOptions): Promise<RecordedEvent[]>;
  readStream(streamId: string): Promise<RecordedEvent[]>;
  /** A stream's current version and folded state, from its one row (null: no such stream). */
  loadState(streamId: string, options?: LoadStateOptions): Promise<(StreamState & { version: number }) | null>;
  /**
   * Committed events after `after`, in (transaction id, position) order, never past the oldest
   * transaction still in flight: a slower writer that commits later with a lower position is
   * read later, never skipped. Filters (type, stream, actor, time) narrow the events returned;
   * the checkpoint still moves past the rows scanned (see readLogPage).
   */
  readAll(after: LogCheckpoint, options?: ReadAllOptions): Promise<{ events: RecordedEvent[]; checkpoint: LogCheckpoint }>;
  /** Every committed event after `position`, in position order (rebuild and verify). */
  readByPosition(after: number, limit: number): Promise<RecordedEvent[]>;
  /** The events of these streams up to a time and/or position, by stream and version (time travel). */
  readStreamsUpTo(streamIds: readonly string[], bound: StreamBound): Promise<RecordedEvent[]>;
}

/** Told about every committed append, and every append refused for a conflict (metrics). Must not throw. */
export interface AppendObserver {
  committed(events: readonly RecordedEvent[], states: ReadonlyMap<string, StreamState>, seconds: number): void;
  conflicted(code: "version_conflict" | "capacity_conflict"): void;
}

/** What an append stored: its events, each stream's new version and state, and what its projections shared. */
interface AppendOutcome {
  recorded: RecordedEvent[];
  moved: { streamId: string; version: number; state: StreamState }[];
  append: AppendContext;
}

export class PostgresEventStore implements EventStore {
  private readonly states = new StreamStateCache();

  constructor(
    private readonly db: Kysely<DrydockDatabase>,
    private readonly projections: readonly InlineProjection[],
    private readonly clock: Clock,
    private readonly observer?: AppendObserver,
    /** Sends each append's NOTIFY; by default one of the store's own that the append waits for. */
    private readonly notifier = new ChangeNotifier(sqlAnnouncer(db)),
  ) {
    this.afterCommits = projections.filter((p) => p.afterCommit !== undefined);
  }

  /** The projections with work after the commit (their wake-ups), picked once. */
  private readonly afterCommits: readonly InlineProjection[];

  append(streamId: string, expectedVersion: number, events: NewEvent[], metadata: EventMetadata, options?: AppendOptions) {
    return this.appendMany([{ streamId, expectedVersion, events }], metadata, options);
  }

  async appendMany(appends: readonly StreamAppend[], metadata: EventMetadata, options: AppendOptions = {}): Promise<RecordedEvent[]> {
    const recordedAt = options.at ?? this.clock.now();
    const pending: AppendingEvent[] = [];
    for (const a of appends) {
      a.events.forEach((e, i) => {
        const { data, version } = validateForAppend(e.type, e.data);
        pending.push({ streamId: a.streamId, streamVersion: a.expectedVersion + i + 1, type: e.type, data, version, recordedAt, metadata: e.metadata ?? metadata });
      });
    }
    if (pending.length === 0) return [];

    const started = performance.now();
    const statement = this.planStatement(appends, pending, recordedAt, options);
    const { recorded, moved, append } = await (statement
      ? this.appendInOneStatement(statement, recordedAt, options)
      : this.appendInTransaction(appends, pending, recordedAt, options)
    ).catch((error: unknown) => {
      const code = (error as { code?: unknown }).code;
      if (code === "version_conflict" || code === "capacity_conflict") this.observer?.conflicted(code);
      throw error;
    });
    options.condition?.held();
    for (const m of moved) this.states.put(m.streamId, m.version, m.state);
    const states = new Map(moved.map((m) => [m.streamId, m.state]));
    this.observer?.committed(recorded, states, (performance.now() - started) / 1000);
    // NOTIFY after the commit, not in the transaction: PostgreSQL serializes the commits of
    // transactions that NOTIFY on one global lock, which made every append wait for the previous
    // one's fsync. A notification lost to a crash here only delays workers until their next look.
    const streams = [...new Set(appends.filter((a) => a.events.length > 0).map((a) => a.streamId))];
    await this.notifier.notify(streams, append.workDueAt);
    // Best effort: the events are committed whatever happens here (change-notifier.ts followUp).
    if (this.afterCommits.length > 0) {
      await this.notifier.followUp(async () => {
        for (const p of this.afterCommits) await p.afterCommit!(this.db, recorded, states, append).catch(() => {});
      });
    }
    return recorded;
  }

  /**
   * The append as one statement (append-statement.ts) when it can be: one stream, its state at
   * the expected version known without a read, no precondition, and every projection able to
   * write its part without reading. Null: it runs in a transaction.
   */
  private planStatement(appends: readonly StreamAppend[], pending: readonly AppendingEvent[], recordedAt: Date, options: AppendOptions): AppendStatement | null {
    if (options.precondition) return null;
    const entries = appends.filter((a) => a.events.length > 0);
    const first = entries[0]!;
    // Entries of one stream that follow each other (a deferred start) are one append from the first's version.
    for (let i = 1; i < entries.length; i++) {
      const previous = entries[i - 1]!;
      if (entries[i]!.streamId !== first.streamId || entries[i]!.expectedVersion !== previous.expectedVersion + previous.events.length) return null;
    }
    const from = first.expectedVersion === 0 ? initialState(first.streamId) : (first.expectedState ?? this.states.get(first.streamId, first.expectedVersion));
    if (!from) return null;
    // Every append, from every writer, is checked against the stream's machine before anything is written.
    const state = evolveState(first.streamId, from, pending, recordedAt);
    return planAppendStatement(this.db, this.projections, { streamId: first.streamId, expectedVersion: first.expectedVersion, events: pending, state }, options.claim, recordedAt, options.condition);
  }

  private async appendInOneStatement(statement: AppendStatement, recordedAt: Date, options: AppendOptions): Promise<AppendOutcome> {
    const { stream } = statement;
    const { recorded, row } = await retryOnDeadlock(() => runAppendStatement(this.db, statement, recordedAt));
    return {
      recorded,
      moved: [{ streamId: stream.streamId, version: stream.expectedVersion + stream.events.length, state: stream.state }],
      append: { rows: new Map(row ? [[stream.streamId, row]] : []), claim: options.claim, workDueAt: statement.workDueAt },
    };
  }

  private async appendInTransaction(appends: readonly StreamAppend[], pending: readonly AppendingEvent[], recordedAt: Date, options: AppendOptions): Promise<AppendOutcome> {
    const moved: AppendOutcome["moved"] = [];
    let append: AppendContext = { rows: new Map(), claim: options.claim, workDueAt: null };
    const recorded = await retryOnDeadlock(() => this.db.transaction().execute(async (trx) => {
      moved.length = 0;
      if (options.condition && (await trx.executeQuery(options.condition.query)).rows.length === 0) throw options.condition.refused();
      await options.precondition?.(trx);
      for (const a of appends) {
        if (a.events.length === 0) continue;
        // Every append, from every writer, is checked against the stream's machine here, before
        // anything is written: an illegal event is refused, never committed to wedge the stream.
        const from =
          a.expectedVersion === 0
            ? initialState(a.streamId)
            : (a.expectedState ?? this.states.get(a.streamId, a.expectedVersion) ?? (await stateAt(trx, a)));
        // This entry's events only: one append may hold two entries for one stream (a deferred start).
        const own = pending.filter((e) => e.streamId === a.streamId && e.streamVersion > a.expectedVersion && e.streamVersion <= a.expectedVersion + a.events.length);
        const next = evolveState(a.streamId, from, own, recordedAt);
        await moveStreamVersion(trx, a, recordedAt, next);
        moved.push({ streamId: a.streamId, version: a.expectedVersion + a.events.length, state: next });
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
            metadata: JSON.stringify(e.metadata),
            recorded_at: recordedAt,
          })),
        )
        .returning(eventJson.as("r"))
        .execute();
      const recorded = rows.map((row) => eventFromJson(row.r));
      // Once per stream, not per event: a stream's rows are written once whatever the append holds.
      const byStream = groupByStream(recorded);
      append = { rows: new Map(), claim: options.claim, workDueAt: null };
      for (const p of this.projections) {
        for (const events of byStream) {
          if (p.applyStream) await p.applyStream(trx, events, append);
          else for (const e of events) await p.apply(trx, e);
        }
      }

      return recorded;
    }));
    return { recorded, moved, append };
  }

  async loadState(streamId: string, options: LoadStateOptions = {}) {
    const recent = options.recent ? this.states.latest(streamId) : undefined;
    if (recent) return { ...recent.state, version: recent.version };
    const loaded = await loadStreamState(this.db, streamId);
    if (loaded) this.states.put(streamId, loaded.version, { status: loaded.status, context: loaded.context });
    return loaded;
  }

  readStream(streamId: string): Promise<RecordedEvent[]> {
    return readStreamsUpTo(this.db, [streamId], {});
  }

  readAll(after: LogCheckpoint, options: ReadAllOptions = {}) {
    return readLogPage(this.db, after, options);
  }

  readStreamsUpTo(streamIds: readonly string[], bound: StreamBound): Promise<RecordedEvent[]> {
    return readStreamsUpTo(this.db, streamIds, bound);
  }

  readByPosition(after: number, limit: number): Promise<RecordedEvent[]> {
    return readEventsAfter(this.db, after, limit);
  }
}

/** Events grouped by stream, each group in append order, the groups in order of first appearance. */
function groupByStream(events: readonly RecordedEvent[]): RecordedEvent[][] {
  const groups = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    const group = groups.get(e.streamId);
    if (group) group.push(e);
    else groups.set(e.streamId, [e]);
  }
  return [...groups.values()];
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
async function moveStreamVersion(trx: Kysely<DrydockDatabase>, a: StreamAppend, at: Date, state: StreamState): Promise<void> {
  const [moved] = (await trx.executeQuery(streamMoveQuery(trx, { streamId: a.streamId, expectedVersion: a.expectedVersion, eventCount: a.events.length, state, at }, "skip"))).rows;
  if (!moved) throw await versionConflict(trx, a.streamId, a.expectedVersion);
}

/** The state the append starts from, when the caller did not pass it; a moved stream is a conflict. */
async function stateAt(trx: Kysely<DrydockDatabase>, a: StreamAppend): Promise<StreamState> {
  const current = await loadStreamState(trx, a.streamId);
  if (!current || current.version !== a.expectedVersion) throw new VersionConflictError(a.streamId, a.expectedVersion, current?.version ?? null);
  return { status: current.status, context: current.context };
}
