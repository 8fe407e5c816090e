import { describe, expect, it } from "vitest";
import { decideAllocation, type AllocationView, type ResourceCandidate } from "../../src/allocator/decide-allocation";
import { yes } from "../../src/blueprints/blueprint";
import { capExpiry, decideRenewal, leaseCapOf } from "../../src/domain/lease-ttl";
import { describeHold, failureHold, isHoldActive } from "../../src/domain/resource-hold";

const NOW = new Date("2026-07-01T09:00:00.000Z");
const at = (ms: number) => new Date(NOW.getTime() + ms).toISOString();

describe("holds (pure)", () => {
  it("a hold counts until its end, or until released when it has none", () => {
    expect(isHoldActive({ until: null }, NOW)).toBe(true);
    expect(isHoldActive({ until: at(1) }, NOW)).toBe(true);
    expect(isHoldActive({ until: at(0) }, NOW)).toBe(false);
    expect(isHoldActive(null, NOW)).toBe(false);
    expect(describeHold({ reason: "disk", until: null, by: "admin" })).toBe("on hold: disk (by admin, until released)");
  });

  it("a failure hold extends a hold, never shortens one", () => {
    const lease = { leaseId: "ls_1", holdOnFailureSeconds: 60 };
    expect(failureHold(null, lease, "boom", NOW)).toEqual({ reason: "lease ls_1 failed on it: boom", until: at(60_000), by: "lease ls_1", leaseId: "ls_1" });
    expect(failureHold(null, { ...lease, holdOnFailureSeconds: null }, "boom", NOW)).toBeNull();
    const admin = { reason: "x", by: "admin", leaseId: null, since: at(-1) };
    expect(failureHold({ ...admin, until: null }, lease, "boom", NOW)).toBeNull();
    expect(failureHold({ ...admin, until: at(120_000) }, lease, "boom", NOW)).toBeNull();
    expect(failureHold({ ...admin, until: at(30_000) }, lease, "boom", NOW)?.until).toBe(at(60_000));
  });

  it("the allocator skips a held resource, names the hold in its wait, and never reclaims it", () => {
    const resource = (id: string, hold: ResourceCandidate["hold"]): ResourceCandidate => ({
      resource: { resourceId: id, blueprintId: "bp", resourceType: "host", status: "active", attributes: {}, leaseSlots: 1, liveLeases: 0, suspectReason: null } as ResourceCandidate["resource"],
      acquire: yes,
      supplemental: false,
      usedSlots: [],
      idleSince: new Date(NOW.getTime() - 3_600_000),
      hold,
    });
    const view: AllocationView = {
      lease: { leaseId: "ls_1", resourceType: "host", attributes: {}, owner: "a", blueprintIds: null } as unknown as AllocationView["lease"],
      blueprints: [{ blueprint: { blueprintId: "bp", name: "hosts", kind: "k", resourceType: "host", config: {}, resourceLimit: 1, enabled: true, liveResources: 1, failingTargets: [] }, ever: yes, plan: { ok: false, reason: "full" } as never, usedLimitSlots: [0] }],
      resources: [resource("rs_1", { reason: "disk check", until: null, by: "admin" })],
      now: NOW,
      reclaimIdleMs: 0,
    };
    const out = decideAllocation(view);
    expect(out.decision.kind).toBe("wait");
    expect(out.candidates).toContainEqual({ kind: "resource", id: "rs_1", blueprintId: "bp", outcome: "skipped", reason: "on hold: disk check (by admin, until released)" });
    expect(out.decision.kind === "wait" && out.decision.reason).toContain("rs_1 on hold: disk check");
    // Past its end the hold no longer counts, even before the worker releases it.
    const expired = decideAllocation({ ...view, resources: [resource("rs_1", { reason: "disk check", until: new Date(NOW.getTime() - 1), by: "admin" })] });
    expect(expired.decision).toMatchObject({ kind: "acquire", resourceId: "rs_1" });
  });
});

describe("the cap on a lease's life (pure)", () => {
  const cap = leaseCapOf(at(-1_800_000), 3600)!;

  it("is the request time plus maxLeaseSeconds; none without a setting", () => {
    expect(cap).toEqual({ maxLeaseSeconds: 3600, at: at(1_800_000) });
    expect(leaseCapOf(at(0), null)).toBeNull();
  });

  it("cuts an expiry past it (or none at all), and leaves one within it", () => {
    expect(capExpiry(at(3_600_000), cap)).toEqual({ expiresAt: cap.at, capped: cap });
    expect(capExpiry(null, cap)).toEqual({ expiresAt: cap.at, capped: cap });
    expect(capExpiry(at(60_000), cap)).toEqual({ expiresAt: at(60_000), capped: null });
    expect(capExpiry(null, null)).toEqual({ expiresAt: null, capped: null });
  });

  it("renews as asked within the cap, to the cap past it, and not at all once it has passed", () => {
    expect(decideRenewal(600, NOW, cap)).toEqual({ kind: "renew", ttlSeconds: 600, expiresAt: at(600_000), capped: null });
    expect(decideRenewal(7200, NOW, cap)).toEqual({ kind: "renew", ttlSeconds: 1800, expiresAt: cap.at, capped: cap });
    expect(decideRenewal(60, new Date(Date.parse(cap.at) - 500), cap)).toEqual({ kind: "past-cap", cap });
    expect(decideRenewal(7200, NOW, null)).toMatchObject({ kind: "renew", capped: null });
  });
});
