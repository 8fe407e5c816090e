import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { requestLease } from "../../src/commands/lease-commands";
import { getLease } from "../../src/queries/lease-queries";
import { getResource } from "../../src/queries/resource-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import type { EventStore } from "../../src/store/event-store";
import { scratchOnLocalHost } from "../support/scratch-on-local-host";
import { scratchBlueprint } from "../support/test-blueprints";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * A resource built on a lease it holds (a scratch directory on a leased host) waits for that
 * lease to activate. When the lease activates while the resource's step is deciding to wait,
 * the lease's wake-up finds the resource's work item still due (claimed by that step) and moves
 * nothing; the wait then puts the item off for a minute. The step must look again once its wait
 * is stored. The worker is off: the test runs each step, and activates the host lease at the
 * worst moment, just before the resource's wait is appended.
 */
let database: TestDatabase;
let drydock: Drydock;
let root: string;
const actor = { actor: "tester" };

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-held-race-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 4 }, blueprints: [scratchBlueprint()], worker: false });
  await scratchOnLocalHost(drydock, actor);
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

it("a resource whose held lease activates while it decides to wait activates at once, not a minute later", async () => {
  const db = drydock.database.db;
  const leaseId = await requestLease(drydock.commands, { resourceType: "scratch" }, "ci", actor);
  expect(await drydock.worker.runNow(`lease-${leaseId}`)).toBe(true);
  const resourceId = (await getLease(db, leaseId)).resourceId!;
  expect(resourceId).toBeTruthy();
  const host = await db.selectFrom("leases").select(["lease_id", "status"]).where("owner_resource_id", "=", resourceId).executeTakeFirstOrThrow();
  expect(host.status).toBe("pending");

  // The host lease is served just before the resource's step stores its wait.
  const store = drydock.store as EventStore;
  const append = store.append.bind(store);
  let raced = false;
  store.append = async (streamId, version, events, metadata, options) => {
    if (!raced && streamId === `resource-${resourceId}` && events.some((e) => e.type === "ResourceActivationYielded")) {
      raced = true;
      // Its host (the local host, built for it) and then the lease itself: every other due step.
      for (let i = 0; i < 10 && (await getLease(db, host.lease_id)).status !== "active"; i++) {
        const due = await db.selectFrom("work_items").select("stream_id").where("run_at", "<=", new Date()).where("claimed_by", "is", null).execute();
        for (const { stream_id } of due) await drydock.worker.runNow(stream_id);
      }
      expect((await getLease(db, host.lease_id)).status).toBe("active");
    }
    return append(streamId, version, events, metadata, options);
  };
  try {
    expect(await drydock.worker.runNow(`resource-${resourceId}`)).toBe(true);
  } finally {
    store.append = append;
  }
  expect(raced).toBe(true);
  expect((await getResource(db, resourceId)).status).toBe("active");
});
