import type { BlueprintEventData } from "../../events/blueprint-events";
import type { RecordedEvent } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import type { ResourceEventData } from "../../events/resource-events";
import { isHoldActive } from "../domain/resource-hold";
import { foldersByStreamType, toMachineEvent, type FoldSnapshot } from "../machines/fold";
import type { ResourceContext } from "../machines/resource-machine";
import type { LeaseContext } from "../machines/lease-machine";
import { QuotaCheck } from "./verify-quotas";

/**
 * Checks the invariants of a whole log, read in global-position order (pure):
 * every transition legal by its machine; nothing after a destroy; stream versions without gaps;
 * no resource ever over its lease slots; no blueprint ever over its resource limit when it
 * built; no destroy of a resource on hold (src/domain/resource-hold.ts: the destroy appends with
 * the resource's version, so a hold that comes first makes it conflict; a lease acquisition is not
 * checked, since one decided just before a hold may land after it, by design);
 * no hold released that was not there; no lease acquired over its owner's quota (verify-quotas.ts); and, at the end, every ended lease and resource destroyed
 * (a resource a hold still keeps is listed as held, not as a violation).
 *
 * `LogVerifier` takes the log one event at a time, so a caller can stream a log of any length
 * through it in batches; it keeps one small entry per stream, and only a tombstone once the
 * stream is destroyed.
 */
export type ViolationRule =
  | "illegal-transition"
  | "after-destroy"
  | "stream-gap"
  | "resource-over-slots"
  | "blueprint-over-limit"
  | "destroyed-while-held"
  | "hold-released-without-hold"
  | "owner-over-quota"
  | "not-destroyed";

export interface Violation {
  rule: ViolationRule;
  streamId: string;
  /** The offending event; null for a rule about the end of the log (not-destroyed). */
  globalPosition: number | null;
  eventType: string | null;
  streamVersion: number | null;
  message: string;
}

/** A stream that ended so recently (within the grace period) that its cleanup may still be running. */
export interface PendingCleanup {
  streamId: string;
  status: string;
  endedAt: string;
}

/** An ended resource a hold keeps from being destroyed, at the end of the log (or at `now`). */
export interface HeldStream {
  streamId: string;
  status: string;
  reason: string;
  until: string | null;
}

export interface VerifyReport {
  events: number;
  streams: number;
  streamsByKind: Record<string, number>;
  firstPosition: number | null;
  lastPosition: number | null;
  violations: Violation[];
  pendingCleanup: PendingCleanup[];
  held: HeldStream[];
  peakLeasesPerResource: Record<string, number>;
  peakResourcesPerBlueprint: Record<string, number>;
}

export interface FinishOptions {
  /** The time the check runs at (data, not a clock read); with `graceMs`, spares streams that just ended. */
  now?: Date;
  /** Streams ended less than this long before `now` are listed as pending cleanup, not as violations. */
  graceMs?: number;
}

const folders = foldersByStreamType;
type Kind = keyof typeof folders;

interface StreamEntry {
  kind: Kind;
  /** Null once the stream is destroyed: nothing may follow, and the snapshot is not needed any more. */
  snap: FoldSnapshot | null;
  version: number;
  /** A refused event stops the checks on this stream: everything after it would be noise. */
  broken: boolean;
  endedAt: Date | null;
}

export class LogVerifier {
  private readonly violations: Violation[] = [];
  private readonly streams = new Map<string, StreamEntry>();
  private readonly slots = new Map<string, number>();
  private readonly liveLeases = new Map<string, number>();
  private readonly leaseOn = new Map<string, string>();
  private readonly limits = new Map<string, number | null>();
  private readonly liveResources = new Map<string, number>();
  private readonly resourceBlueprint = new Map<string, string>();
  private readonly quotas = new QuotaCheck();
  private readonly peakLeases: Record<string, number> = {};
  private readonly peakResources: Record<string, number> = {};
  private count = 0;
  private first: number | null = null;
  private last: number | null = null;
  private lastAt: Date | null = null;

  add(e: RecordedEvent): void {
    this.count++;
    this.first ??= e.globalPosition;
    this.last = e.globalPosition;
    this.lastAt = e.recordedAt;
    const kind = e.streamId.slice(0, e.streamId.indexOf("-")) as Kind;
    const folder = folders[kind];
    if (!folder) return;
    let entry = this.streams.get(e.streamId);
    if (!entry) {
      entry = { kind, snap: folder.start(), version: 0, broken: false, endedAt: null };
      this.streams.set(e.streamId, entry);
    }
    const violation = (rule: ViolationRule, message: string) =>
      this.violations.push({ rule, streamId: e.streamId, globalPosition: e.globalPosition, eventType: e.type, streamVersion: e.streamVersion, message });

    if (e.streamVersion !== entry.version + 1) violation("stream-gap", `version ${e.streamVersion} follows ${entry.version}`);
    entry.version = e.streamVersion;
    if (entry.broken) return;
    if (entry.snap === null) {
      violation("after-destroy", `${e.type} (version ${e.streamVersion}) after the stream was destroyed`);
      entry.broken = true;
      return;
    }
    const event = toMachineEvent(e);
    if (!folder.can(entry.snap, event)) {
      violation("illegal-transition", `${e.type} (version ${e.streamVersion}) is not allowed when ${String(entry.snap.value)}`);
      entry.broken = true;
      return;
    }
    const before = String(entry.snap.value);
    this.checkHolds(e, entry.snap, violation);
    const snap = folder.step(entry.snap, event, e);
    const after = String(snap.value);
    if (after === "released" || after === "broken") entry.endedAt ??= e.recordedAt;
    entry.snap = after === "destroyed" ? null : snap;
    this.countCapacity(e, before, violation);
    if (e.type === "LeaseAcquired") {
      const overQuota = this.quotas.acquired(e.streamId, snap.context as LeaseContext);
      if (overQuota) violation("owner-over-quota", overQuota);
    } else if (e.type === "LeaseReleased" || e.type === "LeaseBroken" || e.type === "LeaseReacquiring") this.quotas.ended(e.streamId);
  }

  /** The hold rules for one legal event, against the resource's state before it. */
  private checkHolds(e: RecordedEvent, before: FoldSnapshot, violation: (rule: ViolationRule, message: string) => void): void {
    if (e.type === "ResourceDestroyed" || e.type === "ResourceHoldReleased") {
      const hold = (before.context as ResourceContext).hold ?? null;
      if (e.type === "ResourceHoldReleased" && hold === null) violation("hold-released-without-hold", "released a hold the resource did not have");
      if (e.type === "ResourceDestroyed" && hold && isHoldActive(hold, e.recordedAt)) violation("destroyed-while-held", `destroyed while on hold (${hold.reason})`);
    }
  }

  /** Capacity bookkeeping for one legal event. */
  private countCapacity(e: RecordedEvent, before: string, violation: (rule: ViolationRule, message: string) => void): void {
    const id = e.streamId.slice(e.streamId.indexOf("-") + 1);
    switch (e.type) {
      case "BlueprintCreated":
        this.limits.set(id, (e.data as BlueprintEventData<"BlueprintCreated">).resourceLimit);
        return;
      case "BlueprintUpdated": {
        const d = e.data as BlueprintEventData<"BlueprintUpdated">;
        if (d.resourceLimit !== undefined) this.limits.set(id, d.resourceLimit);
        return;
      }
      case "ResourceAllocated": {
        const d = e.data as ResourceEventData<"ResourceAllocated">;
        this.slots.set(id, d.leaseSlots);
        this.resourceBlueprint.set(id, d.blueprintId);
        const n = (this.liveResources.get(d.blueprintId) ?? 0) + 1;
        this.liveResources.set(d.blueprintId, n);
        this.peakResources[d.blueprintId] = Math.max(this.peakResources[d.blueprintId] ?? 0, n);
        const limit = this.limits.get(d.blueprintId) ?? null;
        if (limit !== null && n > limit) violation("blueprint-over-limit", `blueprint ${d.blueprintId} has ${n} live resources, limit ${limit}`);
        return;
      }
      case "ResourceDestroyed": {
        const bp = this.resourceBlueprint.get(id)!;
        this.liveResources.set(bp, (this.liveResources.get(bp) ?? 1) - 1);
        this.slots.delete(id);
        return;
      }
      case "LeaseAcquired": {
        const d = e.data as LeaseEventData<"LeaseAcquired">;
        this.leaseOn.set(id, d.resourceId);
        const n = (this.liveLeases.get(d.resourceId) ?? 0) + 1;
        this.liveLeases.set(d.resourceId, n);
        this.peakLeases[d.resourceId] = Math.max(this.peakLeases[d.resourceId] ?? 0, n);
        const max = this.slots.get(d.resourceId);
        if (max !== undefined && n > max) violation("resource-over-slots", `resource ${d.resourceId} has ${n} live leases, ${max} slots`);
        return;
      }
      case "LeaseReleased":
      case "LeaseBroken":
      case "LeaseReacquiring": {
        const resource = this.leaseOn.get(id);
        if (resource && (before === "acquired" || before === "active")) {
          this.liveLeases.set(resource, (this.liveLeases.get(resource) ?? 1) - 1);
          this.leaseOn.delete(id);
        }
        return;
      }
      default:
        return;
    }
  }

  /** The report so far; adds the end-of-log rule (every ended stream destroyed). */
  finish(options: FinishOptions = {}): VerifyReport {
    const graceMs = options.graceMs ?? 0;
    const violations = [...this.violations];
    const pendingCleanup: PendingCleanup[] = [];
    const held: HeldStream[] = [];
    const streamsByKind: Record<string, number> = {};
    for (const [streamId, entry] of this.streams) {
      streamsByKind[entry.kind] = (streamsByKind[entry.kind] ?? 0) + 1;
      if (entry.broken || entry.snap === null) continue;
      const status = String(entry.snap.value);
      if (status !== "released" && status !== "broken") continue;
      const endedAt = entry.endedAt!;
      const hold = entry.kind === "resource" ? ((entry.snap.context as ResourceContext).hold ?? null) : null;
      // A hold keeps it until its end (at `now`; without one, at the log's last event).
      if (hold && isHoldActive(hold, options.now ?? this.lastAt ?? endedAt)) {
        held.push({ streamId, status, reason: hold.reason, until: hold.until });
        continue;
      }
      if (options.now && graceMs > 0 && options.now.getTime() - endedAt.getTime() < graceMs) {
        pendingCleanup.push({ streamId, status, endedAt: endedAt.toISOString() });
      } else {
        violations.push({ rule: "not-destroyed", streamId, globalPosition: null, eventType: null, streamVersion: null, message: `ended ${status} but never destroyed` });
      }
    }
    return {
      events: this.count,
      streams: this.streams.size,
      streamsByKind,
      firstPosition: this.first,
      lastPosition: this.last,
      violations,
      pendingCleanup,
      held,
      peakLeasesPerResource: { ...this.peakLeases },
      peakResourcesPerBlueprint: { ...this.peakResources },
    };
  }
}

/** Verifies a whole log held in memory (or any iterable of it). */
export function verifyLog(events: Iterable<RecordedEvent>, options: FinishOptions = {}): VerifyReport {
  const verifier = new LogVerifier();
  for (const e of events) verifier.add(e);
  return verifier.finish(options);
}
