import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveAuthorization, requestAuthorization, revokeAuthorization } from "../../src/auth/authorization-commands";
import { createBlueprint } from "../../src/commands/blueprint-commands";
import { requestLease } from "../../src/commands/lease-commands";
import { getLease } from "../../src/queries/lease-queries";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { scratchBlueprint } from "../support/test-blueprints";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * A blueprint that leases from another (a scratch directory on a leased host, the shape of a
 * working copy) is the authorizing object of the leases its resources hold: `blueprint:<id>` needs
 * an approved authorization on the host blueprint, whoever asked for the scratch lease.
 */
let database: TestDatabase;
let drydock: Drydock;
let root: string;
let scratch: string;
let localHost: string;
const admin = { actor: "admin" };

beforeAll(async () => {
  database = await createTestDatabase();
  root = await mkdtemp(path.join(tmpdir(), "drydock-held-auth-"));
  drydock = await createDrydock({ database, localHost: { root, slots: 4 }, blueprints: [scratchBlueprint()] });
  scratch = await createBlueprint(drydock.commands, { name: "scratch", kind: "scratch-dir", config: { slots: 1 } }, admin);
  localHost = (await drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("kind", "=", "local-host").executeTakeFirstOrThrow()).blueprint_id;
});
afterAll(async () => {
  await drydock.close();
  await database.close();
  await rm(root, { recursive: true, force: true });
});

async function heldLease(resourceId: string) {
  const row = await drydock.database.db.selectFrom("leases").select("lease_id").where("owner_resource_id", "=", resourceId).executeTakeFirstOrThrow();
  return getLease(drydock.database.db, row.lease_id);
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("held leases are authorized as their blueprint", () => {
  it("wait, named, until the blueprint is approved on the host blueprint; a revocation with releaseLeases ends them", async () => {
    // The client asking for scratch is authorized on scratch; the scratch blueprint is not (yet) on local-host.
    const ask = await requestAuthorization(drydock.commands, scratch, "ci", { actor: "ci" });
    await approveAuthorization(drydock.commands, ask.authorizationId, admin);
    const leaseId = await requestLease(drydock.commands, { resourceType: "scratch" }, "ci", { actor: "ci" }, { authorizingObject: "ci" });
    const resourceId = await until(async () => (await getLease(drydock.database.db, leaseId)).resourceId ?? undefined);

    const held = await until(async () => {
      const h = await heldLease(resourceId);
      return h.waitReason ? h : undefined;
    });
    expect(held.owner).toBe(`resource:${resourceId}`);
    expect(held.status).toBe("pending");
    expect(held.waitReason).toBe(`no host blueprint that could serve this lease is authorized for blueprint:${scratch}`);
    const requested = (await drydock.store.readStream(`lease-${held.id}`))[0]!;
    expect(requested.data).toMatchObject({ authorizingObject: `blueprint:${scratch}` });
    expect((await getLease(drydock.database.db, leaseId)).status).toBe("acquired");

    const { authorizationId } = await requestAuthorization(drydock.commands, localHost, `blueprint:${scratch}`, admin);
    await approveAuthorization(drydock.commands, authorizationId, admin);
    await waitForLeaseStatus(drydock, leaseId, ["active"]);
    expect((await heldLease(resourceId)).status).toBe("active");

    const { releasedLeaseIds } = await revokeAuthorization(drydock.commands, authorizationId, { reason: "no more scratch space", releaseLeases: true }, admin);
    expect(releasedLeaseIds).toEqual([held.id]);
    // The resource loses its host lease, breaks, and lets its own lease go.
    const ended = await waitForLeaseStatus(drydock, leaseId, ["released", "destroyed"]);
    expect(ended.endReason).toMatch(/resource-ended/);
  });

  it("refuses a blueprint client that does not exist", async () => {
    await expect(requestAuthorization(drydock.commands, localHost, "blueprint:bp_0000000000000000000000", admin)).rejects.toThrow(/client: blueprint bp_0000000000000000000000 does not exist/);
  });
});
