import type { Kysely } from "kysely";
import type { EventMetadata, NewEvent, RecordedEvent } from "../../events/envelope";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import type { Clock } from "../domain/clock";
import { NotFoundError, TransitionRefusedError, VersionConflictError } from "../domain/errors";
import type { IdGenerator } from "../domain/ids";
import { toMachineEvent, type Folded } from "../machines/fold";
import type { EventStore } from "../store/event-store";
import type { DrydockDatabase } from "../store/schema";

/** What commands need: the store to append, the projections to check, time and ids as data. */
export interface CommandContext {
  db: Kysely<DrydockDatabase>;
  store: EventStore;
  registry: BlueprintRegistry;
  clock: Clock;
  ids: IdGenerator;
}

/** Who asks: recorded on every event the command appends. */
export type Actor = EventMetadata;

interface Folder<S extends string, C> {
  fold(events: readonly RecordedEvent[]): { snapshot: any; state: Folded<S, C> };
  can(snapshot: any, event: { type: string; data: unknown; at: string }): boolean;
}

/**
 * Runs a command on one stream: fold it, let `decide` produce events, check each is legal for the
 * machine (else TransitionRefused: nothing appended), append with the version folded. A version
 * conflict means someone else moved the stream meanwhile: decide again on the new state.
 */
export async function commandOnStream<S extends string, C>(
  ctx: CommandContext,
  folder: Folder<S, C>,
  kind: string,
  streamId: string,
  id: string,
  command: string,
  decide: (state: Folded<S, C>) => NewEvent[],
  actor: Actor,
): Promise<{ state: Folded<S, C>; events: RecordedEvent[] }> {
  for (let attempt = 0; ; attempt++) {
    const stored = await ctx.store.readStream(streamId);
    if (stored.length === 0) throw new NotFoundError(kind, id);
    const { snapshot, state } = folder.fold(stored);
    const events = decide(state);
    const at = ctx.clock.now();
    for (const e of events) {
      if (!folder.can(snapshot, toMachineEvent({ type: e.type, data: e.data, recordedAt: at }))) {
        throw new TransitionRefusedError(kind, id, state.status, command);
      }
    }
    try {
      const appended = await ctx.store.append(streamId, state.version, events, actor);
      return { state, events: appended };
    } catch (error) {
      if (error instanceof VersionConflictError && attempt < 5) continue;
      throw error;
    }
  }
}
