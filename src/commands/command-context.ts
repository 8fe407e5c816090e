import type { Kysely } from "kysely";
import type { EventMetadata, NewEvent, RecordedEvent } from "../../events/envelope";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import type { CapacityViewCache } from "../allocator/capacity-view-cache";
import type { Clock } from "../domain/clock";
import { NotFoundError, TransitionRefusedError, VersionConflictError } from "../domain/errors";
import type { IdGenerator } from "../domain/ids";
import type { Folded } from "../machines/fold";
import { asFolded } from "../store/stream-state";
import type { AppendOptions, EventStore } from "../store/event-store";
import type { DrydockDatabase } from "../store/schema";

/** What commands need: the store to append, the projections to check, time and ids as data. */
export interface CommandContext {
  db: Kysely<DrydockDatabase>;
  store: EventStore;
  registry: BlueprintRegistry;
  clock: Clock;
  ids: IdGenerator;
  /**
   * The service's default lease TTL in seconds (DRYDOCK_DEFAULT_LEASE_TTL; src/domain/lease-ttl.ts);
   * null: none. Undefined: DEFAULT_LEASE_TTL_SECONDS.
   */
  defaultLeaseTtlSeconds?: number | null;
  /** Capacity views kept from earlier lease requests, for the optimistic acquire (capacity-view-cache.ts); absent: every request reads its own. */
  capacityViews?: CapacityViewCache;
}

/** Who asks: recorded on every event the command appends. */
export type Actor = EventMetadata;

/** A stream type's folder (machines/fold.ts): its types, and which transitions its machine allows. */
interface Folder<S extends string, C> {
  start(): { value: S; context: C };
  allows(status: string, eventType: string): boolean;
}

/**
 * Runs a command on one stream: load its state (one row), let `decide` produce events, check each
 * is legal for the machine (else TransitionRefused: nothing appended), append with the version
 * loaded. A version conflict means someone else moved the stream meanwhile: decide again on the
 * new state. The store checks legality again inside the append, for every writer.
 */
export async function commandOnStream<S extends string, C>(
  ctx: Pick<CommandContext, "store">,
  folder: Folder<S, C>,
  kind: string,
  streamId: string,
  id: string,
  command: string,
  decide: (state: Folded<S, C>) => NewEvent[],
  actor: Actor,
  options?: AppendOptions,
): Promise<{ state: Folded<S, C>; events: RecordedEvent[] }> {
  for (let attempt = 0; ; attempt++) {
    // First the state this process last saw (it often appended it a moment ago); a stale one
    // costs a version conflict, or a refusal, and the next attempt reads the row.
    const recent = attempt === 0;
    const stored = await ctx.store.loadState(streamId, { recent });
    if (!stored) throw new NotFoundError(kind, id);
    const state = asFolded<S, C>(stored);
    const events = decide(state);
    // The first event must be legal from the current status; the store folds the rest in order.
    if (events.length > 0 && !folder.allows(state.status, events[0]!.type)) {
      if (recent) continue;
      throw new TransitionRefusedError(kind, id, state.status, command);
    }
    try {
      const appended = await ctx.store.appendMany([{ streamId, expectedVersion: state.version, events, expectedState: stored }], actor, options);
      return { state, events: appended };
    } catch (error) {
      if (error instanceof VersionConflictError && attempt < 5) continue;
      throw error;
    }
  }
}
