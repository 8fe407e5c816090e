import { sql, type Insertable } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readAllocationSnapshot, type SnapshotRequest } from "../../src/allocator/allocation-snapshot";
import { isHoldLock } from "../../src/allocator/slot-keys";
import { leasesServed } from "../../src/queries/leases-served";
import { liveLeaseCounts } from "../../src/queries/live-lease-counts";
import { resourceLoad, resourceLoads } from "../../src/queries/resource-load";
import { resourceWithBlueprint } from "../../src/queries/resource-with-blueprint";
import type { BlueprintsTable, LeasesTable, ResourcesTable } from "../../src/store/schema";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";

/**
 * The allocation snapshot reads in one statement what the allocator read in up to eight: it must
 * give the same rows, with the same types (Dates, not the ISO strings JSON carries), as those
 * reads did. The reference below is those reads, one statement each, as they were.
 */
let database: TestDatabase;
const T = (s: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, s, 123));

function blueprint(id: string, kind: string, type: string, extra: Partial<Insertable<BlueprintsTable>> = {}): Insertable<BlueprintsTable> {
  return {
    blueprint_id: id, name: `name-${id}`, kind, resource_type: type, config: JSON.stringify({ root: "/x", nested: { b: 1, a: [1, "2"] } }),
    resource_limit: 4, max_lease_seconds: null, min_ready: null, max_leases_per_resource: null, max_age_seconds: null, idle_destroy_seconds: null,
    enabled: true, live_resources: 2, failing_targets: JSON.stringify([{ target: "t", retryAt: T(9).toISOString(), failures: 2 }]), version: 3, created_at: T(1), updated_at: T(2),
    ...extra,
  };
}

function resource(id: string, blueprintId: string, status: string, extra: Partial<Insertable<ResourcesTable>> = {}): Insertable<ResourcesTable> {
  return {
    resource_id: id, blueprint_id: blueprintId, resource_type: "host", status, attributes: JSON.stringify({ os: "linux", zone: "a" }), lease_slots: 2,
    for_lease_id: null, end_reason: null, retry_at: null, failures: 0, allocated_at: T(3), activated_at: T(4), ended_at: null, suspect_reason: null,
    hold_reason: null, hold_until: null, hold_by: null, hold_lease_id: null, held_at: null, destroy_deferred: false, version: 2, updated_at: T(5),
    ...extra,
  };
}

function lease(id: string, status: string, extra: Partial<Insertable<LeasesTable>> = {}): Insertable<LeasesTable> {
  return {
    lease_id: id, resource_type: "host", status, owner: "alice", owner_resource_id: null, authorizing_object: null, priority: 0, lease_quota: JSON.stringify(null),
    wait_cause: null, attributes: JSON.stringify({ zone: "a", os: "linux" }), blueprint_ids: JSON.stringify(null), resource_id: null, blueprint_id: null, slot: null,
    expires_at: null, ttl_seconds: null, ttl_source: "request", retry_at: null, wait_reason: null, attempts: 0, failures: 0, working_directory: null, end_reason: null,
    requested_at: T(10), acquired_at: null, activated_at: null, ended_at: null, version: 1, updated_at: T(10),
    ...extra,
  };
}

beforeAll(async () => {
  database = await createTestDatabase();
  const db = database.db;
  await db.insertInto("blueprints").values([
    blueprint("bp-a", "k1", "host", { max_leases_per_resource: 3 }),
    blueprint("bp-b", "k1", "host"),
    blueprint("bp-c", "unknown-kind", "host"),
    blueprint("bp-d", "k1", "other"),
  ]).execute();
  await db.insertInto("resources").values([
    resource("r1", "bp-a", "active", { hold_reason: "look", hold_until: T(50), hold_by: "ops", hold_lease_id: "l2", held_at: T(6), retry_at: T(7) }),
    resource("r2", "bp-a", "active"),
    resource("r3", "bp-b", "released", { ended_at: T(8), end_reason: "done" }),
    resource("r4", "bp-b", "destroyed", { ended_at: T(8) }),
    resource("r5", "bp-c", "active"),
    resource("r6", "bp-b", "pending", { activated_at: null }),
    resource("r7", "bp-b", "active"),
  ]).execute();
  const lock = (lock_key: string, owner_stream_id: string, scope_id: string) => ({ lock_key, owner_stream_id, scope_id });
  await db.insertInto("slot_locks").values([
    lock("resource:r2:slot:0", "lease-l1", "r2"),
    lock("resource:r1:slot:0", "resource-r1", "r1"),
    lock("resource:r1:use:1", "resource-r1", "r1"),
    lock("blueprint:bp-a:limit:0", "resource-r1", "bp-a"),
    lock("resource:r3:slot:0", "lease-l9", "r3"),
    lock("resource:r5:slot:0", "lease-l8", "r5"),
    lock("quota:alice:all:0", "lease-l1", "alice"),
    lock("quota:alice:type:host:0", "lease-l1", "alice"),
  ]).execute();
  await db.insertInto("leases").values([
    lease("l1", "active", { resource_id: "r2", blueprint_id: "bp-a", lease_quota: JSON.stringify({ total: 2 }) }),
    lease("l2", "destroyed", { resource_id: "r1", blueprint_id: "bp-a", ended_at: T(20) }),
    lease("l2b", "destroyed", { resource_id: "r7", blueprint_id: "bp-b", ended_at: T(21) }),
    lease("l3", "pending", { owner: "bob", authorizing_object: "client-b", lease_quota: JSON.stringify({ total: 1 }), requested_at: T(11), blueprint_ids: JSON.stringify(["bp-a"]) }),
    lease("l4", "pending", { failures: 1, requested_at: T(11) }),
    lease("l5", "pending", { requested_at: T(40) }),
    lease("l6", "pending", { owner: "carol", priority: 5, requested_at: T(45) }),
    lease("l7", "acquired", { owner: "bob", resource_type: "other" }),
  ]).execute();
  const auth = (id: string, blueprint_id: string, client: string, state: string) => ({
    authorization_id: id, blueprint_id, client, state, reason: null, requested_by: "x", requested_at: T(1), decided_by: null, decided_at: null, version: 1, updated_at: T(1),
  });
  await db.insertInto("authorizations").values([auth("a1", "bp-a", "client-b", "approved"), auth("a2", "bp-b", "client-b", "requested"), auth("a3", "bp-a", "client-x", "approved"), auth("a4", "bp-b", "client-z", "approved")]).execute();
});

afterAll(async () => {
  await database?.close();
});

/** The reads the allocator made before the snapshot, one statement each. */
async function reference(q: SnapshotRequest) {
  const db = database.db;
  const blueprints = (await db.selectFrom("blueprints").selectAll().where("resource_type", "=", q.resourceType).execute()).filter((b) => q.kinds.includes(b.kind));
  const ids = blueprints.map((b) => b.blueprint_id);
  const undestroyed = ids.length ? await db.selectFrom("resources").selectAll().where("blueprint_id", "in", ids).where("status", "in", ["pending", "active", "released", "broken"]).execute() : [];
  const live = undestroyed.filter((r) => r.status === "pending" || r.status === "active");
  const scopes = [...ids, ...live.map((r) => r.resource_id), ...(q.place?.quota ? [q.lease.owner] : [])];
  const locks = await db.selectFrom("slot_locks").select(["lock_key", "owner_stream_id"]).where(sql<boolean>`scope_id = any(${scopes}::text[])`).execute();
  const idle = live.filter((r) => r.status === "active" && !locks.some((l) => l.lock_key.startsWith(`resource:${r.resource_id}:slot:`) && !isHoldLock(l)));
  const counted = new Set(blueprints.filter((b) => b.max_leases_per_resource !== null).map((b) => b.blueprint_id));
  const place = q.place;
  const ahead = place
    ? await db
        .selectFrom("leases")
        .select(["lease_id", "resource_type", "attributes", "owner", "owner_resource_id", "authorizing_object", "blueprint_ids", "lease_quota"])
        .where("status", "=", "pending").where("resource_type", "=", q.resourceType).where("lease_id", "!=", q.lease.leaseId).where("failures", "=", 0)
        .where(sql<boolean>`(priority > ${place.priority} OR (priority = ${place.priority} AND (requested_at, lease_id) < (${place.requestedAt}, ${q.lease.leaseId})))`)
        .orderBy("priority", "desc").orderBy("requested_at").orderBy("lease_id").limit(50).execute()
    : [];
  const clients = [...new Set([q.lease.authorizingObject, ...ahead.map((r) => r.authorizing_object)].filter((c): c is string => c !== null))];
  const approved = clients.length ? await db.selectFrom("authorizations").select(["client", "blueprint_id"]).where("client", "in", clients).where("state", "=", "approved").execute() : [];
  const owners = [...(place?.quota ? [q.lease.owner] : []), ...ahead.filter((r) => r.lease_quota).map((r) => r.owner)];
  return {
    blueprints,
    undestroyed,
    locks,
    loads: await resourceLoads(db, idle.map((r) => r.resource_id)),
    served: await leasesServed(db, live.filter((r) => counted.has(r.blueprint_id)).map((r) => r.resource_id)),
    ahead,
    approved,
    live: await liveLeaseCounts(db, owners, q.resourceType),
  };
}

const byKey = <T>(rows: readonly T[], key: (row: T) => string) => [...rows].sort((a, b) => key(a).localeCompare(key(b)));

async function expectSameAsReference(q: SnapshotRequest) {
  const [got, want] = await Promise.all([readAllocationSnapshot(database.db, q), reference(q)]);
  // Row order was never promised by either read: compared sorted. Values and their types must agree.
  expect(byKey(got.blueprints, (b) => b.blueprint_id)).toStrictEqual(byKey(want.blueprints, (b) => b.blueprint_id));
  expect(byKey(got.undestroyed, (r) => r.resource_id)).toStrictEqual(byKey(want.undestroyed, (r) => r.resource_id));
  expect(byKey(got.locks, (l) => l.lock_key)).toStrictEqual(byKey(want.locks, (l) => l.lock_key));
  expect(got.loads).toStrictEqual(want.loads);
  expect(got.served).toStrictEqual(want.served);
  expect(got.ahead).toStrictEqual(want.ahead);
  expect(byKey(got.approved, (a) => a.client + a.blueprint_id)).toStrictEqual(byKey(want.approved, (a) => a.client + a.blueprint_id));
  expect(got.live).toStrictEqual(want.live);
  return got;
}

describe(`the allocation snapshot (${testDialect})`, () => {
  it("reads what the separate reads read: blueprints of known kinds, undestroyed resources, locks, idle loads, leases served", async () => {
    const got = await expectSameAsReference({ resourceType: "host", kinds: ["k1"], lease: { leaseId: "l0", owner: "alice", authorizingObject: null } });
    expect(got.blueprints.map((b) => b.blueprint_id).sort()).toEqual(["bp-a", "bp-b"]);
    expect(got.undestroyed[0]!.allocated_at).toBeInstanceOf(Date);
    // r1 is held (its slot taken by its own hold) and r7 has no lease: idle; r2's slot is a lease's.
    expect([...got.loads.keys()].sort()).toEqual(["r1", "r7"]);
    expect(got.loads.get("r7")).toEqual({ liveLeases: 0, lastLeaseEndedAt: T(21) });
    expect(got.ahead).toEqual([]);
  });

  it("reads the queue ahead, its clients' authorizations and the quota owners' live counts", async () => {
    const got = await expectSameAsReference({
      resourceType: "host",
      kinds: ["k1"],
      lease: { leaseId: "l0", owner: "alice", authorizingObject: "client-x" },
      place: { priority: 0, requestedAt: T(30), quota: { total: 3 } as never },
    });
    expect(got.ahead.map((a) => a.lease_id)).toEqual(["l6", "l3"]);
    expect([...got.live.keys()].sort()).toEqual(["alice", "bob"]);
    expect(got.locks.map((l) => l.lock_key)).toContain("quota:alice:all:0");
  });

  it("reads the requesting token along: its terms when it works at the request's time, and its owner's quota numbers when it has a quota", async () => {
    const token = (id: string, extra: Record<string, unknown>) => ({
      token_id: id, owner: "alice", role: "client", token_hash: `sha256:${id}`, default_lease_ttl_seconds: null, expires_at: null, lease_quota: JSON.stringify(null),
      status: "active", issued_by: "admin", issued_at: T(1), revoked_by: null, revoked_at: null, version: 1, updated_at: T(1), ...extra,
    });
    await database.db.insertInto("tokens").values([
      token("tk-quota", { lease_quota: JSON.stringify({ maxLiveLeases: 3 }), default_lease_ttl_seconds: 600 }),
      token("tk-plain", {}),
      token("tk-revoked", { status: "revoked", revoked_by: "admin", revoked_at: T(2) }),
      token("tk-expiring", { expires_at: T(40) }),
    ]).execute();
    const lease = { leaseId: "l0", owner: "alice", authorizingObject: "client-x" };
    const at = T(30);
    const place = { priority: 0, requestedAt: at, quota: null };
    // With a quota: what a read with the lease's quota known reads, and the terms.
    const withQuota = await readAllocationSnapshot(database.db, { resourceType: "host", kinds: ["k1"], lease, place, token: { tokenId: "tk-quota", at } });
    const reference = await expectSameAsReference({ resourceType: "host", kinds: ["k1"], lease, place: { ...place, quota: { maxLiveLeases: 3 } } });
    // With the version of the token's row they were read at: a kept view's guard checks it (stale-view-guard.ts).
    expect(withQuota.token).toEqual({ defaultLeaseTtlSeconds: 600, leaseQuota: { maxLiveLeases: 3 }, version: 1 });
    expect(withQuota.live).toStrictEqual(reference.live);
    expect(byKey(withQuota.locks, (l) => l.lock_key)).toStrictEqual(byKey(reference.locks, (l) => l.lock_key));
    expect(withQuota.locks.map((l) => l.lock_key)).toContain("quota:alice:all:0");
    // Without one: what a read of a lease without a quota reads.
    const plain = await readAllocationSnapshot(database.db, { resourceType: "host", kinds: ["k1"], lease, place, token: { tokenId: "tk-plain", at } });
    const without = await expectSameAsReference({ resourceType: "host", kinds: ["k1"], lease, place });
    expect(plain.token).toEqual({ defaultLeaseTtlSeconds: null, leaseQuota: null, version: 1 });
    expect(plain.live).toStrictEqual(without.live);
    expect(byKey(plain.locks, (l) => l.lock_key)).toStrictEqual(byKey(without.locks, (l) => l.lock_key));
    // Revoked, expired by the request's time, unknown: null, and the view is read all the same.
    for (const [tokenId, when] of [["tk-revoked", at], ["tk-expiring", T(40)], ["tk-none", at]] as const) {
      const refused = await readAllocationSnapshot(database.db, { resourceType: "host", kinds: ["k1"], lease, place, token: { tokenId, at: when } });
      expect(refused.token, tokenId).toBeNull();
      expect(refused.blueprints.length).toBe(without.blueprints.length);
    }
    expect((await readAllocationSnapshot(database.db, { resourceType: "host", kinds: ["k1"], lease, place, token: { tokenId: "tk-expiring", at } })).token).not.toBeNull();
    // Without a token asked for, none is read.
    expect((await readAllocationSnapshot(database.db, { resourceType: "host", kinds: ["k1"], lease, place })).token).toBeUndefined();
  });

  it("reads nothing for a type without blueprints", async () => {
    const none = await expectSameAsReference({ resourceType: "nothing", kinds: ["k1"], lease: { leaseId: "l0", owner: "bob", authorizingObject: null } });
    expect(none.undestroyed).toEqual([]);
  });

  it("resourceWithBlueprint reads what the resource, blueprint and load reads did", async () => {
    const db = database.db;
    for (const id of ["r1", "r2", "r3", "r7"]) {
      const got = await resourceWithBlueprint(db, id);
      const resource = await db.selectFrom("resources").selectAll().where("resource_id", "=", id).executeTakeFirstOrThrow();
      const blueprint = await db.selectFrom("blueprints").selectAll().where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
      expect(got).toStrictEqual({ resource, blueprint, load: await resourceLoad(db, id) });
    }
    expect(await resourceWithBlueprint(db, "nope")).toBeUndefined();
  });
});
