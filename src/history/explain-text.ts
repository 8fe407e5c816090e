import type { RecordedEvent } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import type { ResourceEventData } from "../../events/resource-events";
import { assertNever } from "../domain/errors";
import { describeHold } from "../domain/resource-hold";
import type { LeaseExplanation, WaitShare } from "./explain-lease";

/** The words of a lease's explanation (pure): a title for each step, and the summary. */
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function titleOf(e: RecordedEvent): string {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case "LeaseRequested":
      return `requested a ${d.resourceType} by ${d.owner}`;
    case "AllocationAttempted": {
      const a = d as LeaseEventData<"AllocationAttempted">;
      return `allocation attempt ${a.attempt}: ${a.decision}, ${a.summary}${a.durationMs === null ? "" : ` (decided in ${a.durationMs} ms)`}`;
    }
    case "LeaseWaiting":
    case "LeaseYielded":
      return `${e.type === "LeaseWaiting" ? "waiting" : "yielded"}: ${d.reason}`;
    case "LeaseAcquired": {
      const ttl = (d as LeaseEventData<"LeaseAcquired">).blueprintTtl;
      const capped = (d as LeaseEventData<"LeaseAcquired">).capped;
      return `acquired slot ${d.slot} of ${d.resourceId}${ttl ? `; its blueprint's default TTL of ${ttl.ttlSeconds} s: expires at ${ttl.expiresAt}` : ""}${capped ? `; ${capText(capped)}` : ""}`;
    }
    case "LeaseActivated":
      return "active";
    case "LeaseReacquiring":
      return `back to pending: ${d.reason}`;
    case "LeaseQuotaChanged":
      return `its quota changed: ${d.reason}`;
    case "LeaseRenewed": {
      const r = d as LeaseEventData<"LeaseRenewed">;
      return `renewed until ${r.expiresAt}${r.capped ? ` (${capText(r.capped)})` : ""}`;
    }
    case "LeaseReleased":
      return `released (${d.reason}${d.detail ? `: ${d.detail}` : ""}) by ${e.metadata.actor}`;
    case "LeaseBroken":
      return `broken: ${d.reason}`;
    case "LeaseDestroyed": {
      const killed = killedText(d as LeaseEventData<"LeaseDestroyed">);
      return `destroyed${killed ? `, ${killed}` : ""}${d.cleanupError ? ` (cleanup failed: ${d.cleanupError})` : ""}`;
    }
    case "ResourceAllocated": {
      // A resource no lease asked for says which policy built it (the warm pool).
      const why = (d as ResourceEventData<"ResourceAllocated">).reason;
      return why ? `resource ${d.resourceId} built from ${d.blueprintId} (${why})` : `resource ${d.resourceId} built for it from ${d.blueprintId}`;
    }
    case "ResourceActivated":
      return `resource ${e.streamId.slice("resource-".length)} active`;
    case "ResourceActivationYielded":
    case "ResourceReleased":
    case "ResourceBroken":
    case "ResourceSuspected":
    case "ResourceRecovered":
      return `resource ${e.streamId.slice("resource-".length)} ${e.type.slice("Resource".length).toLowerCase()}: ${d.reason}`;
    case "ResourceHeld": {
      const h = d as ResourceEventData<"ResourceHeld">;
      return `resource ${e.streamId.slice("resource-".length)} ${describeHold(h)}`;
    }
    case "ResourceHoldReleased":
      return `resource ${e.streamId.slice("resource-".length)} hold released: ${d.reason}`;
    case "ResourceDestroyDeferred":
      return `resource ${e.streamId.slice("resource-".length)} not destroyed yet: ${d.reason}`;
    case "ResourceDestroyed":
      return `resource ${e.streamId.slice("resource-".length)} destroyed`;
    default:
      return e.type;
  }
}

/** The words for a blueprint's cap that cut an expiry (src/domain/lease-ttl.ts). */
function capText(cap: { maxLeaseSeconds: number; at: string }): string {
  return `capped by its blueprint's maxLeaseSeconds of ${cap.maxLeaseSeconds} s: expires at ${cap.at}, its request time plus the cap`;
}

/** `killed 2 processes it left running: 4242 sleep 1000, 4243 sleep 1001` (the first three named), or "". */
export function killedText(d: Pick<LeaseEventData<"LeaseDestroyed">, "killedProcesses" | "killedProcessesOmitted">): string {
  const listed = d.killedProcesses ?? [];
  const total = listed.length + (d.killedProcessesOmitted ?? 0);
  if (total === 0) return "";
  const named = listed.slice(0, 3).map((p) => `${p.pid} ${p.command}`.trim());
  const more = total - named.length;
  return `killed ${total} process${total === 1 ? "" : "es"} it left running: ${named.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

function describeWait(w: WaitShare): string {
  switch (w.cause) {
    case "queue":
      return `${secs(w.ms)} for an allocator to pick it up`;
    case "allocator":
      return `${secs(w.ms)} in the allocator deciding`;
    case "slot":
      return `${secs(w.ms)} for a free slot (${w.detail})`;
    case "behind-leases":
      return `${secs(w.ms)} in the fair queue, behind leases with a higher priority or asked earlier (${w.detail})`;
    case "quota":
      return `${secs(w.ms)} on its owner's lease quota (${w.detail})`;
    case "blueprint":
      return `${secs(w.ms)} for a usable blueprint (${w.detail})`;
    case "configuration":
      return `${secs(w.ms)} for a configuration error to be fixed (${w.detail})`;
    case "reclaim":
      return `${secs(w.ms)} for an idle resource to be reclaimed (${w.detail})`;
    case "retry":
      return `${secs(w.ms)} retrying after failures (${w.detail})`;
    case "resource-activation":
      return `${secs(w.ms)} for resource ${w.detail} to activate`;
    case "lease-activation":
      return `${secs(w.ms)} for the lease to be set up on ${w.detail}`;
    default:
      return assertNever(w.cause, "wait cause");
  }
}

export function summarize(x: Omit<LeaseExplanation, "summary">, events: readonly RecordedEvent[]): string {
  const shares = x.waits.filter((w) => w.ms >= 50 || x.waits.length === 1).map(describeWait);
  const why = shares.length > 0 ? `: ${shares.join(", ")}` : "";
  const ending = events.find((e) => e.type === "LeaseReleased" || e.type === "LeaseBroken");
  const endText = ending ? titleOf(ending) : "";
  const moves = events.filter((e) => e.type === "LeaseReacquiring").map((e) => e.data as LeaseEventData<"LeaseReacquiring">);
  const moved = moves.length === 0 ? "" : `; moved off ${moves.map((m) => `${m.resourceId} (${m.reason})`).join(", then off ")}`;
  const attempts = `${x.attempts} allocation attempt${x.attempts === 1 ? "" : "s"}${moved}`;
  if (x.stillWaiting) return `${x.leaseId} is ${x.status} and has waited ${secs(x.waitedMs)} so far${why} (${attempts}).`;
  if (x.activatedAt === null) return `${x.leaseId} never became active: it was ${endText} after waiting ${secs(x.waitedMs)}${why} (${attempts}).`;
  if (x.status === "pending" || x.status === "acquired") {
    // Active once, then its resource broke under it and it moved (leasesMoveWhenBroken).
    const back = [...events].reverse().find((e) => e.type === "LeaseReacquiring")!;
    return `${x.leaseId} waited ${secs(x.waitedMs)} before it was active${why} (${attempts}); it went back to pending at ${back.recordedAt.toISOString()} and is ${x.status} again.`;
  }
  const held = x.endedAt === null ? `it has been active for ${secs(x.heldMs!)}` : `it was active for ${secs(x.heldMs!)}, then ${endText}`;
  return `${x.leaseId} waited ${secs(x.waitedMs)} before it was active${why} (${attempts}); ${held}.`;
}
