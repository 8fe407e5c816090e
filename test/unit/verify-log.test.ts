import { describe, expect, it } from "vitest";
import { validateForAppend, type DomainEvent, type DomainEventType } from "../../events/catalogue";
import type { RecordedEvent } from "../../events/envelope";
import { LogVerifier, verifyLog, type Violation } from "../../src/history/verify-log";

/* ------------------------------------------------------------------ a small log builder */

const T0 = Date.parse("2024-05-01T10:00:00.000Z");

/**
 * Appends events in global order, numbering stream versions per stream. Every event's data is
 * validated against its zod schema, so the logs are ones the store could really hold.
 */
class Log {
  readonly events: RecordedEvent[] = [];
  private readonly versions = new Map<string, number>();

  add<T extends DomainEventType>(streamId: string, type: T, data: Extract<DomainEvent, { type: T }>["data"], opts: { streamVersion?: number } = {}): number {
    const { data: valid, version } = validateForAppend(type, data);
    const streamVersion = opts.streamVersion ?? (this.versions.get(streamId) ?? 0) + 1;
    this.versions.set(streamId, streamVersion);
    const globalPosition = this.events.length + 1;
    this.events.push({
      globalPosition,
      transactionId: String(500 + globalPosition),
      eventId: `event-${globalPosition}`,
      streamId,
      streamVersion,
      type,
      version,
      data: valid,
      metadata: { actor: "test" },
      recordedAt: new Date(T0 + globalPosition * 1000),
    });
    return globalPosition;
  }

  blueprint(id: string, resourceLimit: number | null): number {
    return this.add(`blueprint-${id}`, "BlueprintCreated", { blueprintId: id, name: `${id} hosts`, kind: "local-host", resourceType: "host", config: {}, resourceLimit });
  }
  allocateResource(id: string, blueprintId: string, leaseSlots: number, forLeaseId: string | null = null): number {
    return this.add(`resource-${id}`, "ResourceAllocated", {
      resourceId: id,
      blueprintId,
      resourceType: "host",
      attributes: {},
      leaseSlots,
      locks: [`blueprint:${blueprintId}:limit:0`],
      forLeaseId,
    });
  }
  activateResource(id: string): number {
    return this.add(`resource-${id}`, "ResourceActivated", { attributes: { ip: "10.0.0.1" } });
  }
  releaseResource(id: string): number {
    return this.add(`resource-${id}`, "ResourceReleased", { reason: "idle" });
  }
  destroyResource(id: string): number {
    return this.add(`resource-${id}`, "ResourceDestroyed", {});
  }
  request(leaseId: string, who: { owner?: string; quota?: { maxLiveLeases?: number; maxLiveLeasesOfType?: number } } = {}): number {
    return this.add(`lease-${leaseId}`, "LeaseRequested", {
      leaseId,
      resourceType: "host",
      attributes: {},
      blueprintIds: null,
      owner: who.owner ?? "alice",
      ownerResourceId: null,
      ttlSeconds: null,
      expiresAt: null,
      ...(who.quota ? { quota: who.quota } : {}),
    });
  }
  acquire(leaseId: string, resourceId: string, slot = 0, blueprintId = "bp-1"): number {
    return this.add(`lease-${leaseId}`, "LeaseAcquired", { resourceId, blueprintId, slot, locks: [`resource:${resourceId}:slot:${slot}`] });
  }
  activate(leaseId: string): number {
    return this.add(`lease-${leaseId}`, "LeaseActivated", { workingDirectory: null });
  }
  release(leaseId: string): number {
    return this.add(`lease-${leaseId}`, "LeaseReleased", { reason: "requested", detail: null });
  }
  destroy(leaseId: string): number {
    return this.add(`lease-${leaseId}`, "LeaseDestroyed", { cleanupError: null });
  }
}

/** A blueprint with one active one-slot resource. */
function withHost(limit: number | null = 1, slots = 1): Log {
  const log = new Log();
  log.blueprint("bp-1", limit);
  log.allocateResource("res-1", "bp-1", slots);
  log.activateResource("res-1");
  return log;
}

/** End everything cleanly so only the violation under test is reported. */
function endResource(log: Log, id = "res-1") {
  log.releaseResource(id);
  log.destroyResource(id);
}

const rules = (violations: Violation[]) => violations.map((v) => v.rule);

/* ------------------------------------------------------------------ tests */

describe("verifyLog", () => {
  it("finds nothing wrong in a clean lease lifecycle on a resource", () => {
    const log = withHost();
    log.request("l1");
    log.add("lease-l1", "AllocationAttempted", {
      attempt: 1,
      decision: "acquire",
      candidates: [{ kind: "resource", id: "res-1", blueprintId: "bp-1", outcome: "chosen", reason: "free: 0/1 slots in use" }],
      summary: "acquire slot 0 of res-1",
      durationMs: 2,
    });
    log.acquire("l1", "res-1");
    log.activate("l1");
    log.add("lease-l1", "LeaseRenewed", { ttlSeconds: 600, expiresAt: "2024-05-01T11:00:00.000Z" });
    log.release("l1");
    log.destroy("l1");
    endResource(log);

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([]);
    expect(report.events).toBe(log.events.length);
    expect(report.streams).toBe(3);
    expect(report.peakLeasesPerResource).toEqual({ "res-1": 1 });
    expect(report.peakResourcesPerBlueprint).toEqual({ "bp-1": 1 });
  });

  it("accepts an empty log", () => {
    expect(verifyLog([])).toEqual({
      events: 0,
      streams: 0,
      streamsByKind: {},
      firstPosition: null,
      lastPosition: null,
      violations: [],
      pendingCleanup: [],
      held: [],
      peakLeasesPerResource: {},
      peakResourcesPerBlueprint: {},
    });
  });

  it("reports two leases on a one-slot resource at once", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.acquire("l1", "res-1", 0);
    const second = log.acquire("l2", "res-1", 0);
    for (const l of ["l1", "l2"]) {
      log.release(l);
      log.destroy(l);
    }
    endResource(log);

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([
      { rule: "resource-over-slots", streamId: "lease-l2", globalPosition: second, eventType: "LeaseAcquired", streamVersion: 2, message: expect.stringContaining("res-1") },
    ]);
    expect(report.violations[0]!.message).toContain("2 live leases, 1 slots");
    expect(report.peakLeasesPerResource).toEqual({ "res-1": 2 });
  });

  it("allows as many leases as the resource has slots", () => {
    const log = withHost(1, 2);
    log.request("l1");
    log.request("l2");
    log.acquire("l1", "res-1", 0);
    log.acquire("l2", "res-1", 1);
    for (const l of ["l1", "l2"]) {
      log.release(l);
      log.destroy(l);
    }
    endResource(log);
    const report = verifyLog(log.events);
    expect(report.violations).toEqual([]);
    expect(report.peakLeasesPerResource).toEqual({ "res-1": 2 });
  });

  it("reports a blueprint over its resource limit", () => {
    const log = new Log();
    log.blueprint("bp-1", 1);
    log.allocateResource("res-1", "bp-1", 1);
    const second = log.allocateResource("res-2", "bp-1", 1);
    endResource(log, "res-1");
    endResource(log, "res-2");

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([
      { rule: "blueprint-over-limit", streamId: "resource-res-2", globalPosition: second, eventType: "ResourceAllocated", streamVersion: 1, message: expect.stringContaining("bp-1") },
    ]);
    expect(report.violations[0]!.message).toContain("2 live resources, limit 1");
    expect(report.peakResourcesPerBlueprint).toEqual({ "bp-1": 2 });
  });

  it("counts a resource against the limit until it is destroyed, not merely released", () => {
    const log = new Log();
    log.blueprint("bp-1", 1);
    log.allocateResource("res-1", "bp-1", 1);
    log.releaseResource("res-1");
    const early = log.allocateResource("res-2", "bp-1", 1);
    log.destroyResource("res-1");
    endResource(log, "res-2");
    log.allocateResource("res-3", "bp-1", 1);
    expect(verifyLog(log.events).violations).toEqual([expect.objectContaining({ rule: "blueprint-over-limit", globalPosition: early })]);

    const ok = new Log();
    ok.blueprint("bp-1", 1);
    ok.allocateResource("res-1", "bp-1", 1);
    endResource(ok, "res-1");
    ok.allocateResource("res-2", "bp-1", 1);
    endResource(ok, "res-2");
    const report = verifyLog(ok.events);
    expect(report.violations).toEqual([]);
    expect(report.peakResourcesPerBlueprint).toEqual({ "bp-1": 1 });
  });

  it("follows limit changes and ignores the limit when there is none", () => {
    const log = new Log();
    log.blueprint("bp-1", 1);
    log.add("blueprint-bp-1", "BlueprintUpdated", { resourceLimit: 2 });
    log.allocateResource("res-1", "bp-1", 1);
    log.allocateResource("res-2", "bp-1", 1);
    log.add("blueprint-bp-1", "BlueprintUpdated", { resourceLimit: null });
    log.allocateResource("res-3", "bp-1", 1);
    for (const r of ["res-1", "res-2", "res-3"]) endResource(log, r);
    expect(verifyLog(log.events).violations).toEqual([]);
  });

  it("reports an illegal transition, naming the event type and the status", () => {
    const log = new Log();
    log.request("l1");
    const bad = log.activate("l1");
    // Later events of a stream already broken are not checked again.
    log.release("l1");

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([{ rule: "illegal-transition", streamId: "lease-l1", globalPosition: bad, eventType: "LeaseActivated", streamVersion: 2, message: expect.any(String) }]);
    expect(report.violations[0]!.message).toContain("LeaseActivated");
    expect(report.violations[0]!.message).toContain("pending");
  });

  it("reports an illegal transition on a resource stream", () => {
    const log = new Log();
    log.blueprint("bp-1", null);
    const bad = log.add("resource-res-1", "ResourceActivated", { attributes: {} });
    const report = verifyLog(log.events);
    expect(report.violations).toEqual([expect.objectContaining({ rule: "illegal-transition", streamId: "resource-res-1", globalPosition: bad })]);
    expect(report.violations[0]!.message).toContain("ResourceActivated");
    expect(report.violations[0]!.message).toContain("new");
  });

  it("reports a stream version gap", () => {
    const log = new Log();
    log.request("l1");
    const gap = log.add("lease-l1", "LeaseReleased", { reason: "requested", detail: null }, { streamVersion: 3 });
    log.destroy("l1");

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([{ rule: "stream-gap", streamId: "lease-l1", globalPosition: gap, eventType: "LeaseReleased", streamVersion: 3, message: "version 3 follows 1" }]);
  });

  it("reports a stream that does not start at version 1", () => {
    const log = new Log();
    const first = log.add("lease-l1", "LeaseRequested", {
      leaseId: "l1",
      resourceType: "host",
      attributes: {},
      blueprintIds: null,
      owner: "alice",
      ownerResourceId: null,
      ttlSeconds: null,
      expiresAt: null,
    }, { streamVersion: 2 });
    expect(rules(verifyLog(log.events).violations)).toEqual(["stream-gap"]);
    expect(verifyLog(log.events).violations[0]!.globalPosition).toBe(first);
  });

  it("reports a released lease that was never destroyed", () => {
    const log = withHost();
    log.request("l1");
    log.acquire("l1", "res-1");
    log.activate("l1");
    log.release("l1");
    endResource(log);

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([{ rule: "not-destroyed", streamId: "lease-l1", globalPosition: null, eventType: null, streamVersion: null, message: expect.stringContaining("released") }]);
  });

  it("reports a broken resource that was never destroyed", () => {
    const log = new Log();
    log.blueprint("bp-1", null);
    log.allocateResource("res-1", "bp-1", 1);
    log.add("resource-res-1", "ResourceBroken", { reason: "build failed", error: { code: "EBUILD", message: "exit 1" } });

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([{ rule: "not-destroyed", streamId: "resource-res-1", globalPosition: null, eventType: null, streamVersion: null, message: expect.stringContaining("broken") }]);
  });

  it("does not report live leases and resources at the end of the log as not destroyed", () => {
    const log = withHost();
    log.request("l1");
    log.acquire("l1", "res-1");
    log.activate("l1");
    log.request("l2");
    expect(verifyLog(log.events).violations).toEqual([]);
  });

  it("frees the slot on release, so another lease may reuse it", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.acquire("l1", "res-1", 0);
    log.activate("l1");
    log.release("l1");
    log.acquire("l2", "res-1", 0);
    log.destroy("l1");
    log.activate("l2");
    log.release("l2");
    log.destroy("l2");
    endResource(log);

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([]);
    expect(report.peakLeasesPerResource).toEqual({ "res-1": 1 });
  });

  it("frees the slot on LeaseReacquiring", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.acquire("l1", "res-1", 0);
    log.add("lease-l1", "LeaseReacquiring", { resourceId: "res-1", reason: "resource broke before activation" });
    log.acquire("l2", "res-1", 0);

    const report = verifyLog(log.events);
    expect(report.violations).toEqual([]);
    expect(report.peakLeasesPerResource).toEqual({ "res-1": 1 });
  });

  it("frees the slot when a lease breaks", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.acquire("l1", "res-1", 0);
    log.add("lease-l1", "LeaseBroken", { reason: "activation failed", error: null });
    log.acquire("l2", "res-1", 0);
    log.destroy("l1");

    expect(verifyLog(log.events).violations).toEqual([]);
  });

  it("does not free a slot twice: a lease released while pending frees nothing", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.request("l3");
    log.acquire("l1", "res-1", 0);
    log.release("l2"); // never acquired
    log.destroy("l2");
    const over = log.acquire("l3", "res-1", 0);

    expect(verifyLog(log.events).violations).toEqual([expect.objectContaining({ rule: "resource-over-slots", streamId: "lease-l3", globalPosition: over })]);
  });

  it("a lease that reacquires and is then released frees its slot only once", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.request("l3");
    log.acquire("l1", "res-1", 0);
    log.add("lease-l1", "LeaseReacquiring", { resourceId: "res-1", reason: "resource broke" });
    log.acquire("l2", "res-1", 0);
    log.release("l1"); // from pending: must not free l2's slot
    const over = log.acquire("l3", "res-1", 0);

    expect(rules(verifyLog(log.events).violations)).toEqual(["resource-over-slots", "not-destroyed"]);
    expect(verifyLog(log.events).violations[0]).toMatchObject({ streamId: "lease-l3", globalPosition: over });
  });

  it("reports several violations in log order", () => {
    const log = withHost();
    log.request("l1");
    log.request("l2");
    log.acquire("l1", "res-1", 0);
    log.acquire("l2", "res-1", 0);
    log.allocateResource("res-2", "bp-1", 1);
    log.release("l1");

    expect(rules(verifyLog(log.events).violations)).toEqual(["resource-over-slots", "blueprint-over-limit", "not-destroyed"]);
  });

  it("reports any event after a destroy, naming it", () => {
    const log = withHost();
    log.request("l1");
    log.release("l1");
    log.destroy("l1");
    const late = log.add("lease-l1", "LeaseRenewed", { ttlSeconds: 60, expiresAt: "2024-05-01T11:00:00.000Z" });
    log.add("lease-l1", "LeaseDestroyed", { cleanupError: null });

    expect(verifyLog(log.events).violations).toEqual([
      { rule: "after-destroy", streamId: "lease-l1", globalPosition: late, eventType: "LeaseRenewed", streamVersion: 4, message: expect.stringContaining("destroyed") },
    ]);
  });

  it("spares streams that ended within the grace period, as pending cleanup", () => {
    const log = withHost();
    log.request("l1");
    log.release("l1");
    const endedAt = log.events.at(-1)!.recordedAt;
    const soon = verifyLog(log.events, { now: new Date(endedAt.getTime() + 5_000), graceMs: 60_000 });
    expect(soon.violations).toEqual([]);
    expect(soon.pendingCleanup).toEqual([{ streamId: "lease-l1", status: "released", endedAt: endedAt.toISOString() }]);
    const late = verifyLog(log.events, { now: new Date(endedAt.getTime() + 120_000), graceMs: 60_000 });
    expect(rules(late.violations)).toEqual(["not-destroyed"]);
  });

  it("takes the log one event at a time, with the same report as a whole log", () => {
    const log = withHost();
    log.request("l1");
    log.acquire("l1", "res-1");
    log.request("l2");
    log.acquire("l2", "res-1");
    const verifier = new LogVerifier();
    for (const e of log.events) verifier.add(e);
    expect(verifier.finish()).toEqual(verifyLog(log.events));
    expect(verifier.finish()).toMatchObject({ events: 7, streams: 4, streamsByKind: { blueprint: 1, resource: 1, lease: 2 }, firstPosition: 1, lastPosition: 7 });
  });

  it("accepts any iterable", () => {
    const log = withHost();
    function* gen() {
      yield* log.events;
    }
    expect(verifyLog(gen())).toMatchObject({ events: 3, streams: 2, violations: [] });
  });
});

describe("verifyLog: quotas", () => {
  it("reports a lease acquired while its owner already held its quota of live leases, naming owner and quota", () => {
    const log = withHost(1, 4);
    const quota = { maxLiveLeases: 2 };
    for (const l of ["q1", "q2", "q3"]) log.request(l, { owner: "team-q", quota });
    log.acquire("q1", "res-1", 0);
    log.acquire("q2", "res-1", 1);
    const third = log.acquire("q3", "res-1", 2);
    const report = verifyLog(log.events);
    expect(report.violations).toEqual([
      { rule: "owner-over-quota", streamId: "lease-q3", globalPosition: third, eventType: "LeaseAcquired", streamVersion: 2, message: "team-q already held 2 live leases, its quota 2" },
    ]);
  });

  it("counts the per-type quota, every token of the owner, and frees the count when a lease ends or moves", () => {
    const log = withHost(1, 4);
    log.request("a", { owner: "team-t" });
    log.request("b", { owner: "team-t", quota: { maxLiveLeasesOfType: 1 } });
    log.request("c", { owner: "team-t", quota: { maxLiveLeasesOfType: 1 } });
    log.request("other", { owner: "team-o", quota: { maxLiveLeasesOfType: 1 } });
    log.acquire("a", "res-1", 0); // no quota of its own, but it counts for the owner's next leases
    log.acquire("other", "res-1", 1); // another owner's count
    const b = log.acquire("b", "res-1", 2);
    log.release("a");
    log.add("lease-b", "LeaseReacquiring", { resourceId: "res-1", reason: "resource broke" });
    log.acquire("c", "res-1", 0); // a ended and b went back to pending: team-t holds none
    const report = verifyLog(log.events);
    expect(report.violations.filter((v) => v.rule !== "not-destroyed")).toEqual([expect.objectContaining({ rule: "owner-over-quota", globalPosition: b, message: "team-t already held 1 live host leases, its quota 1" })]);
  });

  it("judges by the quota the lease carries now: a raise while it waits lets it through", () => {
    const log = withHost(1, 4);
    for (const l of ["r1", "r2"]) log.request(l, { owner: "team-r", quota: { maxLiveLeases: 1 } });
    log.acquire("r1", "res-1", 0);
    log.add("lease-r2", "LeaseQuotaChanged", { quota: { maxLiveLeases: 2 }, reason: "token tk_1: maxLiveLeases 2" });
    log.acquire("r2", "res-1", 1);
    expect(verifyLog(log.events).violations).toEqual([]);
  });
});
