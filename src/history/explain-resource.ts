import type { RecordedEvent } from "../../events/envelope";
import { titleOf } from "./explain-text";

/** A stored event as the API serves it (GET /v1/resources/{id}/events). */
export interface EventOfResource {
  type: string;
  streamId: string;
  data: unknown;
  metadata: { actor: string };
  recordedAt: string;
}

/**
 * `drydock explain resource ID` (pure): the resource's history, a line per event with who did it,
 * in the words of `drydock explain lease`. Who built it and why (a lease, or a policy: the warm
 * pool), and what ended it (a lease's failure, a health check, a hold, a pool policy: recycled
 * after maxLeasesPerResource or maxAgeSeconds, idle past idleDestroySeconds) are in its events'
 * reasons, so this only has to say them.
 */
export function explainResourceLines(events: readonly EventOfResource[]): string[] {
  const first = events[0];
  if (!first || first.type !== "ResourceAllocated") throw new Error("a resource's events start with ResourceAllocated");
  const d = first.data as { resourceId: string; forLeaseId: string | null; reason?: string };
  const built = d.reason ? `built by policy: ${d.reason}` : d.forLeaseId ? `built for lease ${d.forLeaseId}` : "built with no lease asking";
  const end = events.find((e) => e.type === "ResourceReleased" || e.type === "ResourceBroken");
  const ended = end ? `; ${end.type === "ResourceReleased" ? "released" : "broken"}: ${(end.data as { reason: string }).reason}` : "";
  return [
    `resource ${d.resourceId}: ${built}${ended}`,
    ...events.map((e) => `${e.recordedAt}  ${titleOf({ ...e, recordedAt: new Date(e.recordedAt) } as unknown as RecordedEvent)}  (${e.metadata.actor})`),
  ];
}
