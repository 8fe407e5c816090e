import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordedEvent } from "../../events/envelope";
import { MAX_REACQUIRES } from "../../src/allocator/steps/reacquire";
import { createBlueprint, updateBlueprint } from "../../src/commands/blueprint-commands";
import { requestLease } from "../../src/commands/lease-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * Provider errors, sorted: a temporary one is retried with growing backoff until it clears; a
 * permanent one breaks the resource with its reason, and a lease whose resources keep dying
 * breaks instead of waiting for ever.
 */
let database: TestDatabase;
let drydock: Drydock;
const actor = { actor: "operator" };

beforeAll(async () => {
  database = await createTestDatabase();
  // Jitter fixed near its top, so each backoff step is predictable.
  drydock = await createDrydock({ database, localHost: false, blueprints: [memoryPoolBlueprint()], random: () => 0.99 });
});
afterAll(async () => {
  await drydock.close();
  await database.close();
});

const resourceEventsOf = async (leaseId: string) => {
  const rows = await drydock.database.db.selectFrom("resources").select("resource_id").where("for_lease_id", "=", leaseId).orderBy("resource_id").execute();
  return Promise.all(rows.map((r) => drydock.store.readStream(`resource-${r.resource_id}`)));
};

describe("provider failures", () => {
  it("a permanent failure breaks the resource; after repeated failures the lease breaks with the reason", async () => {
    await createBlueprint(drydock.commands, { name: "broken-images", kind: "memory-pool", config: { labels: ["broken"], failActivation: "permanent" }, resourceLimit: 5 }, actor);
    const leaseId = await requestLease(drydock.commands, { resourceType: "sandbox", attributes: { labels: ["broken"] } }, "ci", actor);
    const lease = await waitForLeaseStatus(drydock, leaseId, ["broken", "destroyed"], 30_000);
    expect(lease.endReason).toMatch(new RegExp(`${MAX_REACQUIRES} resources ended under this lease.*the image does not exist`));

    const history = (await drydock.store.readStream(`lease-${leaseId}`)).map((e) => e.type);
    expect(history.filter((t) => t === "LeaseReacquiring")).toHaveLength(MAX_REACQUIRES - 1);
    expect(history.filter((t) => t === "LeaseBroken")).toHaveLength(1);
    const resources = await resourceEventsOf(leaseId);
    expect(resources).toHaveLength(MAX_REACQUIRES);
    for (const events of resources) {
      const broken = events.find((e) => e.type === "ResourceBroken")!;
      expect(broken.data).toMatchObject({ error: { code: "image_missing", message: "the image does not exist" } });
      // Broken at the first failure: a permanent error is not retried.
      expect(events.filter((e) => e.type === "ResourceActivationYielded")).toHaveLength(0);
    }
  });

  it("a temporary failure is retried with growing backoff, and the lease is served once it clears", async () => {
    const blueprintId = await createBlueprint(drydock.commands, { name: "busy-provider", kind: "memory-pool", config: { labels: ["busy"], failActivation: "temporary" }, resourceLimit: 1 }, actor);
    const leaseId = await requestLease(drydock.commands, { resourceType: "sandbox", attributes: { labels: ["busy"] } }, "ci", actor);

    // Wait for two retries to be scheduled, then let the provider recover.
    let yields: RecordedEvent[] = [];
    for (let i = 0; i < 100 && yields.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      yields = (await resourceEventsOf(leaseId)).flat().filter((e) => e.type === "ResourceActivationYielded");
    }
    expect(yields.length).toBeGreaterThanOrEqual(2);
    const delays = yields.map((e) => new Date((e.data as { retryAt: string }).retryAt).getTime() - e.recordedAt.getTime());
    expect(delays[1]!).toBeGreaterThan(delays[0]! * 1.5);
    expect((yields[0]!.data as { reason: string }).reason).toMatch(/will retry: the provider is busy/);

    await updateBlueprint(drydock.commands, blueprintId, { config: { labels: ["busy"], failActivation: "none" } }, actor);
    const lease = await waitForLeaseStatus(drydock, leaseId, ["active"], 30_000);
    expect(lease.status).toBe("active");
    const history = (await drydock.store.readStream(`lease-${leaseId}`)).map((e) => e.type);
    expect(history).not.toContain("LeaseReacquiring");
  });
});
