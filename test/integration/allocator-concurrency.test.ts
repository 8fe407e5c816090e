import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import type { Drydock } from "../../src/service/drydock";
import { startAllocatorInstances, type AllocatorInstances } from "../support/allocator-instances";
import { readWholeLog } from "../support/read-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * Hundreds of clients against a small pool (4 resources x 3 slots), served by several allocator
 * instances at once. On PostgreSQL each instance has its own connection pool and LISTEN session,
 * as separate processes would. The log must show capacity never exceeded, every transition legal
 * and every lease served and cleaned up.
 */
const INSTANCES = 4;
const LEASES = testDialect === "postgres" ? 300 : 200;
const SLOTS = 3;
const LIMIT = 4;

let database: TestDatabase;
let allocators: AllocatorInstances;
let instances: Drydock[];
let errors: unknown[];

beforeAll(async () => {
  database = await createTestDatabase({ poolSize: 10 });
  allocators = await startAllocatorInstances(database, INSTANCES, { blueprints: [memoryPoolBlueprint()], concurrency: 4 });
  ({ instances, errors } = allocators);
});

afterAll(async () => {
  await allocators?.close();
  await database.close();
});

describe("many allocators, one database", () => {
  it(`serves ${LEASES} concurrent leases without exceeding slots or limits`, async () => {
    const actor = { actor: "load-test" };
    const blueprintId = await createBlueprint(instances[0]!.commands, { name: "pool", kind: "memory-pool", config: { slots: SLOTS }, resourceLimit: LIMIT }, actor);

    const leaseIds = await Promise.all(
      Array.from({ length: LEASES }, (_, i) => requestLease(instances[i % INSTANCES]!.commands, { resourceType: "sandbox" }, `client-${i % 7}`, actor)),
    );
    await Promise.all(
      leaseIds.map(async (id, i) => {
        const drydock = instances[(i + 1) % INSTANCES]!;
        await waitForLeaseStatus(drydock, id, ["active"], 120_000);
        await new Promise((r) => setTimeout(r, Math.random() * 10));
        await releaseLease(drydock.commands, id, { actor: `client-${i % 7}` });
      }),
    );
    await Promise.all(leaseIds.map((id, i) => waitForLeaseStatus(instances[i % INSTANCES]!, id, ["destroyed"], 60_000)));

    // The same check as `drydock verify`: the whole stored log, streamed through the verifier.
    const report = await verifyStoredLog(instances[0]!.store);
    expect(report.violations).toEqual([]);
    expect(report.pendingCleanup).toEqual([]);
    const log = await readWholeLog(instances[0]!.store);
    expect(Math.max(...Object.values(report.peakLeasesPerResource))).toBeLessThanOrEqual(SLOTS);
    expect(report.peakResourcesPerBlueprint[blueprintId]).toBeLessThanOrEqual(LIMIT);
    // The pool was really used to its capacity, not served one lease at a time.
    expect(Math.max(...Object.values(report.peakLeasesPerResource))).toBe(SLOTS);

    // Nothing lost: every lease was requested, activated, released by its client and destroyed, once.
    for (const id of leaseIds) {
      const types = log.filter((e) => e.streamId === `lease-${id}`).map((e) => e.type);
      expect(types.filter((t) => t === "LeaseActivated")).toHaveLength(1);
      expect(types.at(-2)).toBe("LeaseReleased");
      expect(types.at(-1)).toBe("LeaseDestroyed");
    }
    // Several allocators did the work.
    const actors = new Set(log.filter((e) => e.type === "LeaseAcquired").map((e) => e.metadata.actor));
    expect(actors.size).toBeGreaterThan(1);
    expect(errors).toEqual([]);
  }, 240_000);
});
