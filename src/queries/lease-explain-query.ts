import { streamIdOf } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import { NotFoundError } from "../domain/errors";
import { explainLease, type LeaseExplanation } from "../history/explain-lease";
import type { EventStore } from "../store/event-store";

/** Reads a lease's stream and the streams of the resources it was acquired on, and explains it. */
export async function explainLeaseById(store: Pick<EventStore, "readStream">, leaseId: string, now: Date): Promise<LeaseExplanation> {
  const events = await store.readStream(streamIdOf("lease", leaseId));
  if (events.length === 0) throw new NotFoundError("lease", leaseId);
  const resourceIds = new Set(events.filter((e) => e.type === "LeaseAcquired").map((e) => (e.data as LeaseEventData<"LeaseAcquired">).resourceId));
  const resourceEvents = (await Promise.all([...resourceIds].map((id) => store.readStream(streamIdOf("resource", id))))).flat();
  return explainLease(events, resourceEvents, now);
}
