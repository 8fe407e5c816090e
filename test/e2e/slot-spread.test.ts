import { afterAll, beforeAll, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * An allocator takes a random free slot, not the lowest: allocators in other processes decide over
 * views like its own, and when each took the lowest free slot, two processes serving 32 clients
 * lost a third of their acquisitions to each other (a failed append, a fresh read, another try).
 * Here one lease at a time on a free 64-slot host: were the lowest taken, every lease would get slot
 * 0; at random, twenty leases all on one slot would happen once in 64^19 runs.
 */
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({}, { localHost: { slots: 64 } });
});
afterAll(async () => {
  await api?.close();
});

it("spreads leases over a host's free slots", async () => {
  const slots: number[] = [];
  for (let i = 0; i < 20; i++) {
    const lease = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    const events = (await api.call("GET", `/v1/leases/${lease.body.id}/events`)).body.items as { type: string; data: { slot: number } }[];
    slots.push(events.find((e) => e.type === "LeaseAcquired")!.data.slot);
    expect((await api.call("POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
  }
  expect(slots.every((slot) => Number.isInteger(slot) && slot >= 0 && slot < 64)).toBe(true);
  expect(new Set(slots).size).toBeGreaterThan(1);
});
