import { validateForAppend } from "../../events/catalogue";
import type { EventMetadata, NewEvent, RecordedEvent } from "../../events/envelope";
import { VersionConflictError } from "../domain/errors";
import type { AppendOptions, EventStore, LoadStateOptions, StreamAppend } from "../store/event-store";
import type { WorkClaim } from "../store/projection";
import { evolveState, initialState } from "../store/stream-state";

/**
 * The first events of a new stream, not appended yet: the fast path appends a lease's request in
 * one transaction with the allocator's decision on it. `events` empties once they are stored.
 */
export interface DeferredStart {
  /** Each with who caused it: they are stored under their own actor, whatever append carries them. */
  events: (NewEvent & { metadata: EventMetadata })[];
  at: Date;
}

/**
 * Events after which a lease's next step is due at once, so the process that appended them runs
 * it too: allocation after a request, activation after an acquisition. After any other event the
 * next step waits for something (a retry time, a resource, a client), and the claim is let go.
 */
const NEXT_STEP_DUE_AT_ONCE = new Set(["LeaseRequested", "LeaseAcquired"]);

/**
 * The event store as a worker step sees it while this process holds the claim on the step's
 * stream (the fast path). An append to that stream whose next step is due at once keeps the
 * claim (the work item is stored claimed, and no worker is told); any other append to it lets
 * the claim go, as every append does. Reads of the stream take the state this process appended
 * a moment ago rather than reading its row again.
 */
export class ClaimCarryingStore implements EventStore {
  /** Whether a step appended to the claimed stream, and whether that append kept the claim. */
  outcome: { appended: boolean; kept: boolean } = { appended: false, kept: false };

  constructor(
    private readonly inner: EventStore,
    private readonly claim: WorkClaim,
    /** The claimed stream's first events, when it does not exist yet: they go with its first append. */
    private readonly deferred: DeferredStart = { events: [], at: new Date(0) },
  ) {}

  /** Appends the deferred first events alone (no step appended to the stream): then a worker runs its step. */
  async flush(): Promise<void> {
    const events = this.deferred.events;
    if (events.length === 0) return;
    await this.inner.append(this.claim.streamId, 0, events, events[0]!.metadata, { at: this.deferred.at });
    this.deferred.events = [];
  }

  append(streamId: string, expectedVersion: number, events: NewEvent[], metadata: EventMetadata, options?: AppendOptions) {
    return this.appendMany([{ streamId, expectedVersion, events }], metadata, options);
  }

  async appendMany(appends: readonly StreamAppend[], metadata: EventMetadata, options: AppendOptions = {}): Promise<RecordedEvent[]> {
    const own = appends.find((a) => a.streamId === this.claim.streamId && a.events.length > 0);
    const keep = own !== undefined && NEXT_STEP_DUE_AT_ONCE.has(own.events.at(-1)!.type);
    const deferred = this.deferred.events;
    if (deferred.length > 0 && !own) await this.flush();
    const withStart = deferred.length > 0 && own !== undefined;
    const stored = withStart ? await this.withDeferred(appends, own) : appends;
    // With the deferred start, the whole append is recorded at the request's time: the step
    // decided on the state folded at that time (loadState below), and the log must say the same.
    const recorded = await this.inner.appendMany(stored, metadata, { ...options, ...(keep ? { claim: this.claim } : {}), ...(withStart ? { at: this.deferred.at } : {}) });
    if (own) {
      this.deferred.events = [];
      this.outcome = { appended: true, kept: keep };
    }
    return recorded;
  }

  /**
   * The appends with the stream's deferred first events stored ahead of the step's own: in the
   * same entry when the stream comes first, else as an entry of their own at the front, so the
   * log reads in the order things happened (the request, then the resource built for it).
   */
  private async withDeferred(appends: readonly StreamAppend[], own: StreamAppend): Promise<StreamAppend[]> {
    const deferred = this.deferred.events;
    if (own.expectedVersion !== deferred.length) throw new VersionConflictError(own.streamId, own.expectedVersion, deferred.length);
    if (appends[0] === own) return [{ streamId: own.streamId, expectedVersion: 0, events: [...deferred, ...own.events] }, ...appends.slice(1)];
    const start = await this.loadState(own.streamId);
    return [
      { streamId: own.streamId, expectedVersion: 0, events: deferred },
      ...appends.map((a) => (a === own ? { ...a, expectedState: { status: start!.status, context: start!.context } } : a)),
    ];
  }

  async loadState(streamId: string, options?: LoadStateOptions) {
    if (streamId !== this.claim.streamId) return this.inner.loadState(streamId, options);
    const deferred = this.deferred.events;
    if (deferred.length === 0) return this.inner.loadState(streamId, { ...options, recent: true });
    // Not stored yet: the state its first events will give it, as the append will fold them.
    const events = deferred.map((e, i) => ({ type: e.type, data: validateForAppend(e.type, e.data).data, streamVersion: i + 1 }));
    return { ...evolveState(streamId, initialState(streamId), events, this.deferred.at), version: deferred.length };
  }

  readStream(streamId: string) {
    return this.inner.readStream(streamId);
  }

  readAll(...args: Parameters<EventStore["readAll"]>) {
    return this.inner.readAll(...args);
  }

  readByPosition(after: number, limit: number) {
    return this.inner.readByPosition(after, limit);
  }

  readStreamsUpTo(...args: Parameters<EventStore["readStreamsUpTo"]>) {
    return this.inner.readStreamsUpTo(...args);
  }
}
