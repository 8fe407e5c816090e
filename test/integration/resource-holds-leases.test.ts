import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { releaseResource } from "../../src/commands/resource-commands";
import { getLease } from "../../src/queries/lease-queries";
import { getResource } from "../../src/queries/resource-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { scratchOnLocalHost } from "../support/scratch-on-local-host";
import { scratchBlueprint } from "../support/test-blueprints";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";
import { watchUntil } from "../support/wait-until";

/**
 * A resource that holds a lease on another resource (a scratch directory on a leased host, the
 * shape of the git working copy): it is built through its host lease, serves its own leases
 * through it, and ending it releases the host lease.
 */
let database: TestDatabase;
let drydock: Drydock;
let root: string;
const actor = { actor: "tester" };

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-held-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 4 }, blueprints: [scratchBlueprint()] });
  await scratchOnLocalHost(drydock, actor);
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

async function heldLeaseOf(resourceId: string) {
  const rows = await drydock.database.db.selectFrom("leases").select("lease_id").where("owner_resource_id", "=", resourceId).execute();
  expect(rows).toHaveLength(1);
  return getLease(drydock.database.db, rows[0]!.lease_id);
}

/** Waits until a scratch lease, the host lease its resource held and the resource have all ended. */
async function settled(leaseId: string, hostLeaseId: string, resourceId: string) {
  await waitForLeaseStatus(drydock, leaseId, ["destroyed"]);
  await waitForLeaseStatus(drydock, hostLeaseId, ["destroyed"]);
  await watchUntil(drydock, `resource-${resourceId}`, `scratch resource ${resourceId} to be destroyed`, async () => (await getResource(drydock.database.db, resourceId)).status === "destroyed", 20_000, {
    seen: async () => (await getResource(drydock.database.db, resourceId)).status,
  });
}

describe("a resource that holds a lease", () => {
  it("is built on a host lease and serves its leases through it", async () => {
    const leaseId = await requestLease(drydock.commands, { resourceType: "scratch" }, "ci", actor);
    const lease = await waitForLeaseStatus(drydock, leaseId, ["active"]);
    const scratch = await getResource(drydock.database.db, lease.resourceId!);
    expect(scratch.status).toBe("active");

    const host = await heldLeaseOf(scratch.id);
    expect(host.status).toBe("active");
    expect(host.resourceType).toBe("host");
    expect(host.owner).toBe(`resource:${scratch.id}`);

    // The scratch lease's commands run inside the scratch directory on the host lease.
    const { command, filesystem } = await drydock.interfaces.forLease(leaseId);
    await filesystem.writeFile("note.txt", new TextEncoder().encode("from the scratch lease"));
    const pwd = await command.exec(["pwd"]);
    expect(pwd.stdout.trim()).toMatch(new RegExp(`scratch/${scratch.id}$`));
    const cat = await command.exec(["cat", "note.txt"]);
    expect(cat.stdout).toBe("from the scratch lease");

    // Releasing the scratch resource releases its lease and the host lease it held.
    await releaseResource(drydock.commands, scratch.id, "done with it", actor);
    await waitForLeaseStatus(drydock, leaseId, ["destroyed"]);
    const hostAfter = await waitForLeaseStatus(drydock, host.id, ["destroyed"]);
    expect(hostAfter.endReason).toMatch(/^owner-ended/);
    expect((await getResource(drydock.database.db, scratch.id)).status).toBe("destroyed");
    const hostEvents = (await drydock.store.readStream(`lease-${host.id}`)).map((e) => e.type);
    expect(hostEvents).toContain("LeaseReleased");
  });

  it("breaks when the lease it holds ends under it", async () => {
    const leaseId = await requestLease(drydock.commands, { resourceType: "scratch" }, "ci", actor);
    const lease = await waitForLeaseStatus(drydock, leaseId, ["active"]);
    const host = await heldLeaseOf(lease.resourceId!);
    await releaseLease(drydock.commands, host.id, { actor: "someone" });
    // Its own lease is released with the reason, and the resource is destroyed.
    const ended = await waitForLeaseStatus(drydock, leaseId, ["released", "destroyed"]);
    expect(ended.endReason).toMatch(/resource-ended/);
    const resourceEvents = (await drydock.store.readStream(`resource-${lease.resourceId}`)).map((e) => e.type);
    expect(resourceEvents).toContain("ResourceBroken");
    await settled(leaseId, host.id, lease.resourceId!);
  });

  it("leaves no working directory behind for the leases that ended", async () => {
    // Two scratch resources on the host: one released by the operator, one broken by its host
    // lease ending under it. Both host leases had a working directory while they lived.
    const ids = await Promise.all([0, 1].map(() => requestLease(drydock.commands, { resourceType: "scratch" }, "ci", actor)));
    const leases = await Promise.all(ids.map((id) => waitForLeaseStatus(drydock, id, ["active"])));
    const hosts = await Promise.all(leases.map((l) => heldLeaseOf(l.resourceId!)));
    const hostResourceId = hosts[0]!.resourceId!;
    expect(hosts[1]!.resourceId).toBe(hostResourceId);
    const leasesDir = path.join(root, hostResourceId, "leases");
    expect(await readdir(leasesDir)).toEqual(expect.arrayContaining(hosts.map((h) => h.id)));

    await releaseResource(drydock.commands, leases[0]!.resourceId!, "done with it", actor);
    await releaseLease(drydock.commands, hosts[1]!.id, { actor: "someone" });
    for (const [i, lease] of leases.entries()) await settled(lease.id, hosts[i]!.id, lease.resourceId!);

    const left = await readdir(leasesDir);
    for (const h of hosts) expect(left).not.toContain(h.id);
    const live = await drydock.database.db.selectFrom("leases").select("lease_id").where("resource_id", "=", hostResourceId).where("status", "=", "active").execute();
    expect(left.sort()).toEqual(live.map((l) => l.lease_id).sort());
  });
});
