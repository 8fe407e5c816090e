import type { Kysely } from "kysely";
import type { EventMetadata } from "../../events/envelope";
import type { BlueprintEffects } from "../blueprints/blueprint";
import type { BlueprintRegistry } from "../blueprints/blueprint-registry";
import type { Clock } from "../domain/clock";
import type { IdGenerator } from "../domain/ids";
import type { EventStore } from "../store/event-store";
import type { DrydockDatabase } from "../store/schema";
import type { InlineTeardowns } from "./inline-teardowns";
import type { LeaseActivations } from "./lease-activations";
import type { SlotsInFlight } from "./slots-in-flight";

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
  /** The slots this instance's allocations are taking now (slots-in-flight.ts); absent: none are tracked. */
  slotsInFlight?: SlotsInFlight;
  /** The leases this instance activated inline, with what their teardown needs (inline-teardowns.ts); absent: none are kept. */
  inlineTeardowns?: InlineTeardowns;
  /** Keeps a lease's activations, their undo and its teardown from overlapping in this process (lease-activations.ts). */
  leaseActivations: LeaseActivations;
}

export function workerMetadata(ctx: WorkerContext, correlationId: string): EventMetadata {
  return { actor: `allocator:${ctx.workerId}`, correlationId };
}
