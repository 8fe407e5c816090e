import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { getLease } from "../../src/queries/lease-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { readWholeFile } from "../support/read-whole-file";

let database: TestDatabase;
let drydock: Drydock;
let root: string;

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-lifecycle-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 2 }, onWorkerError: (e) => console.error(e) });
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

async function waitForStatus(leaseId: string, statuses: string[]) {
  const result = await drydock.watcher.waitFor(
    `lease-${leaseId}`,
    async () => {
      const lease = await getLease(drydock.database.db, leaseId);
      return statuses.includes(lease.status) ? lease : undefined;
    },
    10_000,
  );
  if (!result) throw new Error(`lease ${leaseId} never reached ${statuses.join("/")}: ${JSON.stringify(await getLease(drydock.database.db, leaseId))}`);
  return result;
}

describe("a lease on the local host", () => {
  it("is acquired, used, released and destroyed; the next lease gets the same resource", async () => {
    const actor = { actor: "tester" };
    const leaseId = await requestLease(drydock.commands, { resourceType: "host" }, "tester", actor);
    const active = await waitForStatus(leaseId, ["active"]);
    expect(active.resourceId).toBeTruthy();

    const { command, filesystem } = await drydock.interfaces.forLease(leaseId);
    const uptime = await command.exec(["uptime"]);
    expect(uptime.exitCode).toBe(0);
    expect(uptime.stdout).toMatch(/load average/);
    await filesystem.writeFile("hello.txt", new TextEncoder().encode("hi there"));
    expect(new TextDecoder().decode(await readWholeFile(filesystem, "hello.txt"))).toBe("hi there");

    await releaseLease(drydock.commands, leaseId, actor);
    await waitForStatus(leaseId, ["destroyed"]);

    const second = await requestLease(drydock.commands, { resourceType: "host" }, "tester", actor);
    const again = await waitForStatus(second, ["active"]);
    expect(again.resourceId).toBe(active.resourceId);

    const events = await drydock.store.readStream(`lease-${leaseId}`);
    // The first lease caused the resource to be built, so it waited for its activation.
    expect(events.map((e) => e.type)).toEqual([
      "LeaseRequested",
      "AllocationAttempted",
      "LeaseAcquired",
      "LeaseWaiting",
      "LeaseActivated",
      "LeaseReleased",
      "LeaseDestroyed",
    ]);
    const secondHistory = (await drydock.store.readStream(`lease-${second}`)).map((e) => e.type);
    expect(secondHistory).toEqual(["LeaseRequested", "AllocationAttempted", "LeaseAcquired", "LeaseActivated"]);
  });
});
