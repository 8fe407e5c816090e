import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestLease } from "../../src/commands/lease-commands";
import { createDrydock } from "../../src/service/drydock";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * Pending work lives in the database, not in a process: a lease requested while no worker runs
 * is served by the next one to start, and an item claimed by a worker that died is taken over
 * once its claim times out.
 */
let database: TestDatabase | undefined;
let dataDir: string;
let root: string;
const actor = { actor: "tester" };

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "drydock-durable-"));
  dataDir = path.join(root, "data");
  if (testDialect === "postgres") database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
  await rm(root, { recursive: true, force: true });
});

/** A fresh process's view of the same database: PGlite from its directory, or PostgreSQL. */
async function start(worker: boolean) {
  const where = database ? { databaseUrl: database.url } : { dataDir };
  return createDrydock({ ...where, worker, localHost: { root: path.join(root, "hosts"), slots: 2 }, workerOptions: { claimTimeoutMs: 1_000 } });
}

describe("work survives", () => {
  it("a restart: a lease requested with no worker running is served after the restart", async () => {
    const first = await start(false);
    const leaseId = await requestLease(first.commands, { resourceType: "host" }, "ci", actor);
    // What the next worker will find: the request in the log and an unclaimed item for it in the
    // durable queue, due now; nothing in this process took it up.
    expect((await first.store.readStream(`lease-${leaseId}`)).map((e) => e.type)).toEqual(["LeaseRequested"]);
    const item = await first.database.db.selectFrom("work_items").selectAll().where("stream_id", "=", `lease-${leaseId}`).executeTakeFirst();
    expect(item).toMatchObject({ claimed_by: null, claimed_until: null });
    expect(new Date(item!.run_at).getTime()).toBeLessThanOrEqual(Date.now());
    await first.close();

    const second = await start(true);
    try {
      const lease = await waitForLeaseStatus(second, leaseId, ["active"]);
      expect(lease.resourceId).toBeTruthy();
    } finally {
      await second.close();
    }
  });

  it("a killed worker: its claimed item is taken over when the claim times out", async () => {
    const service = await start(false);
    try {
      const leaseId = await requestLease(service.commands, { resourceType: "host" }, "ci", actor);
      // A worker claimed the lease's item and died before appending anything.
      const claimedUntil = new Date(Date.now() + 1_500);
      await service.database.db.updateTable("work_items").set({ claimed_by: "dead-worker", claimed_until: claimedUntil }).where("stream_id", "=", `lease-${leaseId}`).execute();
      await service.worker.start();
      const lease = await waitForLeaseStatus(service, leaseId, ["active"], 15_000);
      expect(new Date(lease.acquiredAt!).getTime()).toBeGreaterThanOrEqual(claimedUntil.getTime());
      const acquired = (await service.store.readStream(`lease-${leaseId}`)).find((e) => e.type === "LeaseAcquired")!;
      expect(acquired.metadata.actor).not.toContain("dead-worker");
    } finally {
      await service.close();
    }
  });
});

