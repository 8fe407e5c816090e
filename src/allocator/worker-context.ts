import type { Kysely } from "kysely";
import type { EventMetadata } from "../../events/envelope";
import type { BlueprintEffects } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import type { Clock } from "../domain/clock";
import type { IdGenerator } from "../domain/ids";
import type { EventStore } from "../store/event-store";
import type { DrydockDatabase } from "../store/schema";
import type { BlueprintRow } from "../queries/json-rows";

/** Everything a worker step needs; the I/O arrives through these, time and randomness too. */
export interface WorkerContext {
  db: Kysely<DrydockDatabase>;
  store: EventStore;
  registry: BlueprintRegistry;
  effects: BlueprintEffects;
  clock: Clock;
  ids: IdGenerator;
  /** A number in [0, 1) for backoff jitter. */
  random: () => number;
  workerId: string;
  /** An active resource idle this long may be reclaimed for a lease that needs room. */
  reclaimIdleMs: number;
  /** Rows the caller read a moment ago, for this step to use instead of reading them again (ReadAhead). */
  readAhead?: ReadAhead;
}

/**
 * What the fast path's request read before its first step runs in the same request: that step
 * (the allocation) takes these rows rather than reading them again. Only the first step of the
 * request gets them, and only its first round: a step that runs later, or decides again after a
 * lost race, reads fresh rows. A view a few instants stale is one the slot locks already guard.
 */
export interface ReadAhead {
  /** The blueprints of the lease's type (prepareLeaseRequest read them to check the request). */
  blueprintsOfType?: readonly BlueprintRow[];
}

export function workerMetadata(ctx: WorkerContext, correlationId: string): EventMetadata {
  return { actor: `allocator:${ctx.workerId}`, correlationId };
}
