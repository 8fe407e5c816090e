import type { RecordedEvent } from "../../events/envelope";
import type { AllocationCandidate, LeaseEventData, LeaseEventType } from "../../events/lease-events";
import { assertNever } from "../domain/errors";
import { summarize, titleOf } from "./explain-text";

/**
 * Why did my lease wait? A pure function from a lease's events (and the events of the resources
 * it was acquired on) to a timeline and the time spent in each kind of wait. Time comes in as
 * data: `now` ends the last step of a lease that is still live.
 *
 * Between its request and becoming active a lease is always waiting for something, and the
 * last event tells what: an allocator to look at it (after the request), a free slot (after a
 * LeaseWaiting), a retry after a failure (after a LeaseYielded), its resource to activate
 * (acquired on a resource that is not active yet) or the blueprint to set the lease up
 * (acquired on an active resource). The allocator's own deciding time (AllocationAttempted
 * `durationMs`, which ends when the event is recorded) is cut out of the wait before it.
 */
export type WaitCause =
  | "queue"
  | "allocator"
  | "slot"
  | "behind-leases"
  | "quota"
  | "blueprint"
  | "configuration"
  | "reclaim"
  | "retry"
  | "resource-activation"
  | "lease-activation";

export interface TimelineStep {
  at: string;
  /** Until the next step; for the last step of a live lease, until `now`; null at the very end. */
  durationMs: number | null;
  streamId: string;
  streamVersion: number;
  event: string;
  /** The lease's status after this step. */
  leaseStatus: string;
  title: string;
  /** An allocation attempt's candidates, each with why it was chosen or skipped. */
  candidates?: AllocationCandidate[];
}

export interface WaitShare {
  cause: WaitCause;
  ms: number;
  /** What it waited for, from the longest wait of this cause (the wait reason, the resource). */
  detail: string | null;
}

export interface LeaseExplanation {
  leaseId: string;
  status: string;
  requestedAt: string;
  activatedAt: string | null;
  endedAt: string | null;
  /** From the request until active, or until it ended without becoming active, or until now. */
  waitedMs: number;
  stillWaiting: boolean;
  /** The waited time by cause, longest first; they add up to `waitedMs`. */
  waits: WaitShare[];
  attempts: number;
  /** From active until it ended (or until now). */
  heldMs: number | null;
  timeline: TimelineStep[];
  summary: string;
}

type LeaseStatus = "pending" | "acquired" | "active" | "released" | "broken" | "destroyed";

function statusAfter(type: LeaseEventType, status: LeaseStatus): LeaseStatus {
  switch (type) {
    case "LeaseRequested":
    case "LeaseReacquiring":
      return "pending";
    case "LeaseAcquired":
      return "acquired";
    case "LeaseActivated":
      return "active";
    case "LeaseReleased":
      return "released";
    case "LeaseBroken":
      return "broken";
    case "LeaseDestroyed":
      return "destroyed";
    case "AllocationAttempted":
    case "LeaseWaiting":
    case "LeaseYielded":
    case "LeaseRenewed":
    case "LeaseQuotaChanged":
      return status;
    default:
      return assertNever(type, "lease event type");
  }
}

/** decideAllocation's summaries for a wait with no usable blueprint at all (disabled, not authorized). */
const NO_USABLE_BLUEPRINT = /^waiting: (blueprints disabled|not authorized)$/;

interface Segment {
  from: number;
  to: number;
  cause: WaitCause;
  detail: string | null;
}

export function explainLease(leaseEvents: readonly RecordedEvent[], resourceEvents: readonly RecordedEvent[], now: Date): LeaseExplanation {
  const first = leaseEvents[0];
  if (!first || first.type !== "LeaseRequested") throw new Error("a lease's events start with LeaseRequested");
  const leaseId = (first.data as LeaseEventData<"LeaseRequested">).leaseId;
  const t = (e: RecordedEvent) => e.recordedAt.getTime();
  const activationOf = new Map<string, number>();
  for (const e of resourceEvents) if (e.type === "ResourceActivated") activationOf.set(e.streamId.slice("resource-".length), t(e));

  // Walk the lease's events: status, the wait segments, and the windows it spent on each resource.
  let status: LeaseStatus = "pending";
  const statusAt = new Map<RecordedEvent, LeaseStatus>();
  const segments: Segment[] = [];
  const onResource: { resourceId: string; from: number; to: number }[] = [];
  let cause: { cause: WaitCause; detail: string | null; resourceId?: string } = { cause: "queue", detail: null };
  let waitEnd: number | null = null;
  let activatedAt: number | null = null;
  let endedAt: number | null = null;
  let attempts = 0;
  let lastSummary = "";
  leaseEvents.forEach((e, i) => {
    const type = e.type as LeaseEventType;
    const before = status;
    status = statusAfter(type, status);
    statusAt.set(e, status);
    const d = e.data as Record<string, unknown>;
    switch (type) {
      case "LeaseRequested":
      case "LeaseReacquiring":
        cause = { cause: "queue", detail: null };
        break;
      case "AllocationAttempted": {
        attempts++;
        lastSummary = (d as LeaseEventData<"AllocationAttempted">).summary;
        const ms = (d as LeaseEventData<"AllocationAttempted">).durationMs;
        if (ms) segments.push({ from: t(e) - ms, to: t(e), cause: "allocator", detail: null });
        break;
      }
      case "LeaseWaiting":
        if (before === "pending") cause = { cause: waitCauseOf(d as LeaseEventData<"LeaseWaiting">, lastSummary), detail: String(d.reason) };
        break;
      case "LeaseYielded":
        cause = { cause: "retry", detail: String(d.reason) };
        break;
      case "LeaseAcquired":
        cause = { cause: "lease-activation", detail: String(d.resourceId), resourceId: String(d.resourceId) };
        onResource.push({ resourceId: String(d.resourceId), from: t(e), to: Number.POSITIVE_INFINITY });
        break;
      default:
        break;
    }
    const holding = (x: LeaseStatus) => x === "acquired" || x === "active";
    if (holding(before) && !holding(status)) onResource.at(-1)!.to = t(e);
    if (status === "active" && activatedAt === null) activatedAt = t(e);
    if ((status === "released" || status === "broken") && endedAt === null) endedAt = t(e);
    const live = status === "pending" || status === "acquired";
    if (!live && waitEnd === null) waitEnd = t(e);
    if (!live) return;
    const next = leaseEvents[i + 1];
    const to = next ? t(next) : now.getTime();
    const c = cause;
    const activation = c.resourceId ? activationOf.get(c.resourceId) : undefined;
    if (status === "acquired" && c.cause === "lease-activation" && (activation === undefined || activation > t(e))) {
      // Acquired on a resource still being built: first its activation, then the lease's own setup.
      const split = Math.min(Math.max(activation ?? to, t(e)), to);
      segments.push({ from: t(e), to: split, cause: "resource-activation", detail: c.resourceId! });
      segments.push({ from: split, to, cause: "lease-activation", detail: c.resourceId! });
    } else {
      segments.push({ from: t(e), to, cause: c.cause, detail: c.detail });
    }
  });
  const requestedAt = t(first);
  const end = waitEnd ?? now.getTime();
  const waits = shareOut(segments, requestedAt, end);
  const waitedMs = Math.max(0, end - requestedAt);

  // The timeline: the lease's events and those of its resources while it held them.
  const steps = [
    ...leaseEvents.map((e) => ({ e, lease: true })),
    ...resourceEvents
      .filter((e) => onResource.some((w) => e.streamId === `resource-${w.resourceId}` && t(e) >= w.from && t(e) <= w.to) || heldFor(leaseId, resourceEvents, e) || byPoolPolicy(e, onResource))
      .map((e) => ({ e, lease: false })),
  ].sort((a, b) => t(a.e) - t(b.e) || a.e.globalPosition - b.e.globalPosition);
  let leaseStatus: LeaseStatus = "pending";
  const timeline: TimelineStep[] = steps.map(({ e, lease }, i) => {
    if (lease) leaseStatus = statusAt.get(e)!;
    const next = steps[i + 1];
    const last = status !== "destroyed" ? now.getTime() - t(e) : null;
    const step: TimelineStep = {
      at: e.recordedAt.toISOString(),
      durationMs: next ? t(next.e) - t(e) : last,
      streamId: e.streamId,
      streamVersion: e.streamVersion,
      event: e.type,
      leaseStatus,
      title: titleOf(e),
    };
    if (e.type === "AllocationAttempted") step.candidates = (e.data as LeaseEventData<"AllocationAttempted">).candidates;
    return step;
  });

  const heldMs = activatedAt === null ? null : (endedAt ?? now.getTime()) - activatedAt;
  const explanation = {
    leaseId,
    status,
    requestedAt: first.recordedAt.toISOString(),
    activatedAt: activatedAt === null ? null : new Date(activatedAt).toISOString(),
    endedAt: endedAt === null ? null : new Date(endedAt).toISOString(),
    waitedMs,
    stillWaiting: waitEnd === null,
    waits,
    attempts,
    heldMs,
    timeline,
  };
  return { ...explanation, summary: summarize(explanation, leaseEvents) };
}

/**
 * What a pending lease's LeaseWaiting waits for: its `cause` when the allocator said (a
 * configuration error), else from its reason and the attempt that decided it.
 */
function waitCauseOf(waiting: LeaseEventData<"LeaseWaiting">, attemptSummary: string): WaitCause {
  if (waiting.cause === "configuration") return "configuration";
  // The policies that keep a lease off free capacity: its owner's quota, and the fair queue.
  if (waiting.cause === "quota") return "quota";
  if (attemptSummary.startsWith("waiting: queued behind")) return "behind-leases";
  if (waiting.reason.startsWith("waiting for reclaimed")) return "reclaim";
  return NO_USABLE_BLUEPRINT.test(attemptSummary) ? "blueprint" : "slot";
}

/**
 * Adds up the segments by cause within [from, to]. Allocator time overlaps the wait it ended:
 * it is taken out of the other causes, so the shares add up to the whole wait.
 */
function shareOut(segments: readonly Segment[], from: number, to: number): WaitShare[] {
  const clip = (s: Segment) => Math.max(0, Math.min(s.to, to) - Math.max(s.from, from));
  const byCause = new Map<WaitCause, { ms: number; longest: number; detail: string | null }>();
  const add = (cause: WaitCause, ms: number, detail: string | null) => {
    const share = byCause.get(cause) ?? { ms: 0, longest: -1, detail: null };
    share.ms += ms;
    if (ms > share.longest) Object.assign(share, { longest: ms, detail });
    byCause.set(cause, share);
  };
  const allocator = segments.filter((s) => s.cause === "allocator");
  for (const s of allocator) add("allocator", clip(s), null);
  for (const s of segments) {
    if (s.cause === "allocator") continue;
    const overlap = allocator.reduce((n, a) => n + Math.max(0, Math.min(s.to, a.to, to) - Math.max(s.from, a.from, from)), 0);
    add(s.cause, Math.max(0, clip(s) - overlap), s.detail);
  }
  return [...byCause.entries()]
    .map(([cause, s]) => ({ cause, ms: s.ms, detail: s.detail }))
    .filter((s) => s.ms > 0)
    .sort((a, b) => b.ms - a.ms);
}

/**
 * A pool policy's doing on a resource the lease used, outside the lease's time on it
 * (src/domain/pool-policy.ts): the warm pool that built it before the lease came, or the recycling
 * that released it after the lease left (maxLeasesPerResource, maxAgeSeconds), so explain names them.
 */
function byPoolPolicy(e: RecordedEvent, onResource: readonly { resourceId: string }[]): boolean {
  if (!onResource.some((w) => e.streamId === `resource-${w.resourceId}`)) return false;
  if (e.type === "ResourceAllocated") return (e.data as { reason?: string }).reason !== undefined;
  return e.type === "ResourceReleased" && String((e.data as { reason: string }).reason).startsWith("recycled:");
}

/**
 * Whether a resource event belongs to the hold this lease's failure put on the resource
 * (holdOnFailure): the hold itself, and what its resource did after it until the hold ended
 * (the destroy it kept waiting, the release or expiry, the destroy after), so the timeline says
 * what the hold kept, and for how long, even after the lease let go.
 */
function heldFor(leaseId: string, resourceEvents: readonly RecordedEvent[], e: RecordedEvent): boolean {
  const held = resourceEvents.find((h) => h.streamId === e.streamId && h.type === "ResourceHeld" && (h.data as { leaseId: string | null }).leaseId === leaseId);
  if (!held || e.globalPosition < held.globalPosition) return false;
  return e.type === "ResourceHeld" ? e === held : ["ResourceHoldReleased", "ResourceDestroyDeferred", "ResourceDestroyed"].includes(e.type);
}
