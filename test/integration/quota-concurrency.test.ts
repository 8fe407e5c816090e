import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LeaseEventData } from "../../events/lease-events";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { prepareLeaseRequest, releaseLease, requestLease } from "../../src/commands/lease-commands";
import { waitForLease } from "../../src/api/lease-wait";
import type { LeaseQuota } from "../../src/domain/lease-quota";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import type { Drydock } from "../../src/service/drydock";
import { startAllocatorInstances, type AllocatorInstances } from "../support/allocator-instances";
import { readWholeLog } from "../support/read-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * Per-client quotas under several allocator instances at once: each lease that carries a quota
 * takes one of its owner's quota numbers (src/allocator/slot-keys.ts) with its slot, so two
 * allocators deciding at once for one owner cannot both let a lease through. The pool has more
 * free slots than the quotas allow, so only the quota keeps the owners' leases waiting. Checked
 * from the log: verify's quota rule, and each owner's peak of live leases.
 */
const INSTANCES = 4;
const PER_OWNER = testDialect === "postgres" ? 40 : 24;
const OWNERS: { owner: string; quota: LeaseQuota | null; most: number }[] = [
  { owner: "team-q", quota: { maxLiveLeases: 2 }, most: 2 },
  { owner: "team-t", quota: { byResourceType: { sandbox: 3 } }, most: 3 },
  { owner: "team-both", quota: { maxLiveLeases: 4, byResourceType: { sandbox: 1 } }, most: 1 },
  { owner: "team-free", quota: null, most: Number.POSITIVE_INFINITY },
];

let database: TestDatabase;
let allocators: AllocatorInstances;
let instances: Drydock[];
let errors: unknown[];

beforeAll(async () => {
  database = await createTestDatabase({ poolSize: 4 });
  allocators = await startAllocatorInstances(database, INSTANCES, { blueprints: [memoryPoolBlueprint()], concurrency: 4 });
  ({ instances, errors } = allocators);
});

afterAll(async () => {
  await allocators?.close();
  await database.close();
});

describe("quotas under many allocators", () => {
  it("no owner ever holds more live leases than its quota, and every lease is still served", async () => {
    const actor = { actor: "load-test" };
    await createBlueprint(instances[0]!.commands, { name: "pool", kind: "memory-pool", config: { slots: 4 }, resourceLimit: 4 }, actor);

    const asked = OWNERS.flatMap(({ owner, quota }) => Array.from({ length: PER_OWNER }, () => ({ owner, quota })));
    // Half ask as a client that waits does over HTTP (the fast path: the asking process decides
    // before the request is stored, so no other allocator sees it queued ahead), half as one that
    // does not (stored, then decided by the workers).
    const leaseIds: string[] = [];
    await Promise.all(
      asked.map(async ({ owner, quota }, i) => {
        const drydock = instances[i % INSTANCES]!;
        const options = { clientQuota: quota };
        let id: string;
        if (i % 2 === 0) {
          // As the route does: the first decision is over the view the request was checked against.
          const prepared = await prepareLeaseRequest(drydock.commands, { resourceType: "sandbox" }, owner, { actor: owner }, { ...options, withAllocationSnapshot: true });
          id = prepared.leaseId;
          leaseIds[i] = id;
          await waitForLease(drydock, id, 1, undefined, prepared);
        } else {
          id = await requestLease(drydock.commands, { resourceType: "sandbox" }, owner, { actor: owner }, options);
          leaseIds[i] = id;
        }
        const other = instances[(i + 1) % INSTANCES]!;
        await waitForLeaseStatus(other, id, ["active"], 120_000);
        await new Promise((r) => setTimeout(r, Math.random() * 20));
        await releaseLease(other.commands, id, { actor: owner });
      }),
    );
    await Promise.all(leaseIds.map((id, i) => waitForLeaseStatus(instances[i % INSTANCES]!, id, ["destroyed"], 60_000)));

    // verify judges every acquisition against the quota its lease carried (rule owner-over-quota).
    const report = await verifyStoredLog(instances[0]!.store);
    expect(report.violations).toEqual([]);
    const log = await readWholeLog(instances[0]!.store);
    const ownerOf = new Map(leaseIds.map((id, i) => [`lease-${id}`, asked[i]!.owner]));
    const live = new Map<string, number>();
    const peak = new Map<string, number>();
    for (const e of log) {
      const owner = ownerOf.get(e.streamId);
      if (!owner) continue;
      if (e.type === "LeaseAcquired") {
        live.set(owner, (live.get(owner) ?? 0) + 1);
        peak.set(owner, Math.max(peak.get(owner) ?? 0, live.get(owner)!));
        const quotaLocks = (e.data as LeaseEventData<"LeaseAcquired">).locks.filter((l) => l.startsWith("quota:"));
        // One number per limit that applies: none without a quota, two with both limits.
        expect(quotaLocks.length).toBe(owner === "team-free" ? 0 : owner === "team-both" ? 2 : 1);
      }
      if (e.type === "LeaseReleased") live.set(owner, live.get(owner)! - 1);
    }
    for (const { owner, most } of OWNERS) {
      if (Number.isFinite(most)) expect(peak.get(owner), owner).toBe(most);
    }
    // The owner without a quota was held back by nothing but the 16 slots.
    expect(peak.get("team-free")).toBeGreaterThan(3);
    // Every lease was served once and released by its client; the quota numbers all went back.
    for (const id of leaseIds) expect(log.filter((e) => e.streamId === `lease-${id}` && e.type === "LeaseActivated")).toHaveLength(1);
    const left = await instances[0]!.database.db.selectFrom("slot_locks").select("lock_key").where("lock_key", "like", "quota:%").execute();
    expect(left).toEqual([]);
    expect(errors).toEqual([]);
  }, 240_000);
});
