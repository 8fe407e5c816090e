import { describe, expect, it } from "vitest";
import { leaseWork, resourceWork, type LeaseScheduleInput } from "../../projections/work-schedule";

const AT = new Date("2024-05-01T10:00:00.000Z");
const EARLIER = new Date("2024-05-01T09:00:00.000Z");
const SOON = new Date("2024-05-01T10:05:00.000Z");
const LATER = new Date("2024-05-01T11:00:00.000Z");

const lease = (status: string, retry_at: Date | null = null, expires_at: Date | null = null): LeaseScheduleInput => ({ status, retry_at, expires_at });

describe("leaseWork", () => {
  describe("pending", () => {
    it("allocates now when there is no retry time", () => {
      expect(leaseWork(lease("pending"), AT)).toEqual({ kind: "allocate", runAt: AT });
      // An expiry alone does not delay the first attempt.
      expect(leaseWork(lease("pending", null, LATER), AT)).toEqual({ kind: "allocate", runAt: AT });
    });

    it("allocates at the retry time when there is no expiry", () => {
      expect(leaseWork(lease("pending", SOON), AT)).toEqual({ kind: "allocate", runAt: SOON });
    });

    it("allocates at the retry time when it comes before the expiry", () => {
      expect(leaseWork(lease("pending", SOON, LATER), AT)).toEqual({ kind: "allocate", runAt: SOON });
    });

    it("allocates at the expiry when it comes before the retry time", () => {
      expect(leaseWork(lease("pending", LATER, SOON), AT)).toEqual({ kind: "allocate", runAt: SOON });
    });

    it("keeps a retry time in the past (the worker runs it at once)", () => {
      expect(leaseWork(lease("pending", EARLIER, LATER), AT)).toEqual({ kind: "allocate", runAt: EARLIER });
    });
  });

  describe("acquired", () => {
    it("activates now, or at min(retryAt, expiresAt)", () => {
      expect(leaseWork(lease("acquired"), AT)).toEqual({ kind: "activate", runAt: AT });
      expect(leaseWork(lease("acquired", null, LATER), AT)).toEqual({ kind: "activate", runAt: AT });
      expect(leaseWork(lease("acquired", SOON), AT)).toEqual({ kind: "activate", runAt: SOON });
      expect(leaseWork(lease("acquired", SOON, LATER), AT)).toEqual({ kind: "activate", runAt: SOON });
      expect(leaseWork(lease("acquired", LATER, SOON), AT)).toEqual({ kind: "activate", runAt: SOON });
    });
  });

  describe("active", () => {
    it("expires at expiresAt", () => {
      expect(leaseWork(lease("active", null, LATER), AT)).toEqual({ kind: "expire", runAt: LATER });
      expect(leaseWork(lease("active", SOON, LATER), AT)).toEqual({ kind: "expire", runAt: LATER });
    });

    it("has nothing to do without an expiry", () => {
      expect(leaseWork(lease("active"), AT)).toBeNull();
      expect(leaseWork(lease("active", SOON), AT)).toBeNull();
    });
  });

  it("destroys a released or broken lease now", () => {
    expect(leaseWork(lease("released"), AT)).toEqual({ kind: "destroy", runAt: AT });
    expect(leaseWork(lease("broken", SOON, LATER), AT)).toEqual({ kind: "destroy", runAt: AT });
  });

  it("has nothing to do for a destroyed lease (or an unknown status)", () => {
    expect(leaseWork(lease("destroyed", SOON, LATER), AT)).toBeNull();
    expect(leaseWork(lease("new"), AT)).toBeNull();
    expect(leaseWork(lease("bogus"), AT)).toBeNull();
  });
});

describe("resourceWork", () => {
  it("activates a pending resource now, or at its retry time", () => {
    expect(resourceWork({ status: "pending", retry_at: null }, AT)).toEqual({ kind: "activate", runAt: AT });
    expect(resourceWork({ status: "pending", retry_at: SOON }, AT)).toEqual({ kind: "activate", runAt: SOON });
  });

  it("has nothing to do for an active resource", () => {
    expect(resourceWork({ status: "active", retry_at: null }, AT)).toBeNull();
    expect(resourceWork({ status: "active", retry_at: SOON }, AT)).toBeNull();
  });

  it("destroys a released or broken resource now", () => {
    expect(resourceWork({ status: "released", retry_at: null }, AT)).toEqual({ kind: "destroy", runAt: AT });
    expect(resourceWork({ status: "broken", retry_at: SOON }, AT)).toEqual({ kind: "destroy", runAt: AT });
  });

  it("runs a hold's end at its time, and makes an ended held resource's destroy wait for it", () => {
    const held = { hold_reason: "look at it", hold_until: LATER, destroy_deferred: false };
    expect(resourceWork({ status: "active", retry_at: null, ...held }, AT)).toEqual({ kind: "end-hold", runAt: LATER });
    expect(resourceWork({ status: "active", retry_at: null, ...held, hold_until: null }, AT)).toBeNull();
    // Ended: the destroy step runs once now (it lets the leases go and records that it waits) ...
    expect(resourceWork({ status: "broken", retry_at: null, ...held }, AT)).toEqual({ kind: "destroy", runAt: AT });
    // ... then the item is the hold's end (none for a hold without one), and the destroy after it.
    expect(resourceWork({ status: "broken", retry_at: null, ...held, destroy_deferred: true }, AT)).toEqual({ kind: "end-hold", runAt: LATER });
    expect(resourceWork({ status: "released", retry_at: null, ...held, hold_until: null, destroy_deferred: true }, AT)).toBeNull();
    expect(resourceWork({ status: "released", retry_at: null, hold_reason: null, hold_until: null, destroy_deferred: true }, AT)).toEqual({ kind: "destroy", runAt: AT });
    expect(resourceWork({ status: "pending", retry_at: SOON, ...held }, AT)).toEqual({ kind: "activate", runAt: SOON });
  });

  it("has nothing to do for a destroyed resource", () => {
    expect(resourceWork({ status: "destroyed", retry_at: null }, AT)).toBeNull();
    expect(resourceWork({ status: "new", retry_at: null }, AT)).toBeNull();
  });
});
