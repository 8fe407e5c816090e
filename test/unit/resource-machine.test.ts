import { describe, expect, it } from "vitest";
import { resourceEventSchemas, type ResourceEventType } from "../../events/resource-events";
import { resourceFolder } from "../../src/machines/fold";
import { resourceMachine, type ResourceStatus } from "../../src/machines/resource-machine";
import { describeMachineContract } from "../support/machine-contract";
import { machineHarness, type TransitionTable } from "../support/machine-harness";
import { resourceSampleEvents } from "../support/machine-events";

/** The legal transitions of a resource: a missing event type is refused in that state (see TransitionTable). */
const TRANSITIONS: TransitionTable<ResourceStatus, ResourceEventType> = {
  new: {
    ResourceAllocated: "pending",
  },
  pending: {
    ResourceActivationYielded: "pending",
    ResourceActivated: "active",
    ResourceReleased: "released",
    ResourceBroken: "broken",
    ResourceHeld: "pending",
    ResourceHoldReleased: "pending",
  },
  active: {
    ResourceSuspected: "active",
    ResourceRecovered: "active",
    ResourceReleased: "released",
    ResourceBroken: "broken",
    ResourceHeld: "active",
    ResourceHoldReleased: "active",
  },
  // A hold is context, not a status: an ended resource may be held (its destroy then waits).
  released: {
    ResourceDestroyed: "destroyed",
    ResourceHeld: "released",
    ResourceHoldReleased: "released",
    ResourceDestroyDeferred: "released",
  },
  broken: {
    ResourceDestroyed: "destroyed",
    ResourceHeld: "broken",
    ResourceHoldReleased: "broken",
    ResourceDestroyDeferred: "broken",
  },
  destroyed: {},
};

const resource = machineHarness({
  name: "resource",
  machine: resourceMachine,
  folder: resourceFolder,
  streamId: "resource-res-1",
  states: ["new", "pending", "active", "released", "broken", "destroyed"],
  eventSchemas: resourceEventSchemas,
  samples: resourceSampleEvents,
});
const { ev, fold } = resource;

describeMachineContract({
  harness: resource,
  transitions: TRANSITIONS,
  shortestPaths: {
    new: [],
    pending: ["ResourceAllocated"],
    active: ["ResourceAllocated", "ResourceActivated"],
    released: ["ResourceAllocated", "ResourceReleased"],
    broken: ["ResourceAllocated", "ResourceBroken"],
    destroyed: ["ResourceAllocated", "ResourceReleased", "ResourceDestroyed"],
  },
  refusals: [
    [[ev("ResourceActivated")], 1, "ResourceActivated", "new"],
    [[ev("ResourceAllocated"), ev("ResourceAllocated")], 2, "ResourceAllocated", "pending"],
    [[ev("ResourceAllocated"), ev("ResourceActivated"), ev("ResourceActivated")], 3, "ResourceActivated", "active"],
    [[ev("ResourceAllocated"), ev("ResourceActivated"), ev("ResourceActivationYielded")], 3, "ResourceActivationYielded", "active"],
    [[ev("ResourceAllocated"), ev("ResourceReleased"), ev("ResourceBroken")], 3, "ResourceBroken", "released"],
    [[ev("ResourceAllocated"), ev("ResourceBroken"), ev("ResourceDestroyed"), ev("ResourceDestroyed")], 4, "ResourceDestroyed", "destroyed"],
  ],
});

describe("resource machine graph", () => {
  it("spot checks a reviewer cares about", () => {
    const nodes = resource.snapshotsByState();
    const accepted = resource.acceptedIn;
    expect(accepted("new")).toEqual(["ResourceAllocated"]);
    // Only an active resource is suspect: a pending one's activation reports its own failures.
    expect(accepted("active")).toEqual(["ResourceReleased", "ResourceBroken", "ResourceSuspected", "ResourceRecovered", "ResourceHeld", "ResourceHoldReleased"]);
    // Only an ended resource's destroy waits for a hold.
    expect(accepted("released")).toEqual(["ResourceDestroyed", "ResourceHeld", "ResourceHoldReleased", "ResourceDestroyDeferred"]);
    expect(accepted("broken")).toEqual(["ResourceDestroyed", "ResourceHeld", "ResourceHoldReleased", "ResourceDestroyDeferred"]);
    expect(accepted("destroyed")).toEqual([]);
    expect(nodes.get("destroyed")!.state.status).toBe("done");
  });
});

describe("resource context", () => {
  const allocated = ev("ResourceAllocated");

  it("ResourceAllocated records the resource", () => {
    const { status, context } = fold([allocated]);
    expect(status).toBe("pending");
    expect(context).toMatchObject({
      resourceId: "res-1",
      blueprintId: "bp-1",
      resourceType: "host",
      attributes: { region: "eu" },
      leaseSlots: 2,
      forLeaseId: "lease-1",
      allocatedAt: allocated.at,
      activatedAt: null,
    });
  });

  it("ResourceActivated merges attributes (new keys added, existing keys overwritten)", () => {
    const activated = ev("ResourceActivated");
    const { status, context } = fold([allocated, activated]);
    expect(status).toBe("active");
    expect(context.attributes).toEqual({ region: "eu-west", ip: "10.0.0.1" });
    expect(context.activatedAt).toBe(activated.at);
    // the allocation's attributes object is not mutated
    expect(allocated.data.attributes).toEqual({ region: "eu" });
  });

  it("ResourceActivationYielded counts failures; activation resets them", () => {
    const yielded = ev("ResourceActivationYielded");
    const waiting = fold([allocated, yielded, yielded]);
    expect(waiting.status).toBe("pending");
    expect(waiting.context).toMatchObject({ failures: 2, retryAt: yielded.data.retryAt });
    const active = fold([allocated, yielded, ev("ResourceActivated")]);
    expect(active.context).toMatchObject({ failures: 0, retryAt: null });
  });

  it("ResourceReleased and ResourceBroken record why and when it ended", () => {
    const released = fold([allocated, ev("ResourceActivated"), ev("ResourceReleased")]);
    expect(released.context).toMatchObject({ endReason: "idle", endedAt: ev("ResourceReleased").at, retryAt: null });
    const broken = fold([allocated, ev("ResourceActivationYielded"), ev("ResourceBroken")]);
    expect(broken.context).toMatchObject({ endReason: "build failed", endedAt: ev("ResourceBroken").at, retryAt: null });
    const destroyed = fold([allocated, ev("ResourceBroken"), ev("ResourceDestroyed")]);
    expect(destroyed).toMatchObject({ status: "destroyed", version: 3, context: { endReason: "build failed" } });
  });
});
