import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import { createBlueprint, setBlueprintEnabled, updateBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { releaseResource } from "../../src/commands/resource-commands";
import { dumpProjections, rebuildProjections } from "../../src/store/rebuild-projections";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

let database: TestDatabase;
let drydock: Drydock;
let root: string;

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-rebuild-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 3 }, blueprints: [memoryPoolBlueprint()] });
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

describe("projections rebuilt from the log", () => {
  it("are identical to the live tables after a varied run", async () => {
    const actor = { actor: "tester" };
    const pool = await createBlueprint(drydock.commands, { name: "pool", kind: "memory-pool", config: { slots: 2 }, resourceLimit: 3 }, actor);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await requestLease(drydock.commands, { resourceType: "sandbox" }, "ci", actor));
    for (let i = 0; i < 3; i++) ids.push(await requestLease(drydock.commands, { resourceType: "host" }, "dev", actor));
    // A pending lease cancelled, leases released, a resource released under its leases.
    const leases = await Promise.all(ids.slice(0, 4).map((id) => waitForLeaseStatus(drydock, id, ["active"])));
    await releaseLease(drydock.commands, ids[0]!, actor);
    await releaseResource(drydock.commands, leases[2]!.resourceId!, "operator drained it", actor);
    // A pool policy gives the blueprint a work item of its own (projections/work-schedule.ts).
    await updateBlueprint(drydock.commands, pool, { resourceLimit: 4, minReady: 1, maxLeasesPerResource: 3, idleDestroySeconds: 3600 }, actor);
    await setBlueprintEnabled(drydock.commands, pool, false, "maintenance", actor);
    // Requested while the only sandbox blueprint is disabled, so it is still pending when cancelled.
    const late = await requestLease(drydock.commands, { resourceType: "sandbox" }, "ci", { actor: "ci" });
    await releaseLease(drydock.commands, late, actor);
    await setBlueprintEnabled(drydock.commands, pool, true, null, actor);
    for (const id of ids.slice(6)) await waitForLeaseStatus(drydock, id, ["active"]);
    await releaseLease(drydock.commands, ids[6]!, actor);
    await waitForLeaseStatus(drydock, ids[6]!, ["destroyed"]);
    await waitForLeaseStatus(drydock, ids[0]!, ["destroyed"]);
    const cancelled = await waitForLeaseStatus(drydock, late, ["destroyed"]);
    expect(cancelled.resourceId).toBeNull();
    const lateEvents = (await drydock.store.readStream(`lease-${late}`)).map((e) => e.type);
    expect(lateEvents).toContain("LeaseReleased");
    expect(lateEvents).not.toContain("LeaseAcquired");

    // Stop the worker so the tables hold still while we compare.
    await drydock.worker.stop();
    const live = await dumpProjections(drydock.database.db);
    expect(live.leases.length).toBe(10);
    expect(live.slot_locks.length).toBeGreaterThan(0);
    expect(live.work_items).toContainEqual(expect.objectContaining({ stream_id: `blueprint-${pool}`, kind: "pool" }));
    const { events } = await rebuildProjections(drydock.database.db, inlineProjections, { batchSize: 7 });
    const rebuilt = await dumpProjections(drydock.database.db);
    expect(events).toBeGreaterThan(40);
    expect(rebuilt).toEqual(live);
  });
});
