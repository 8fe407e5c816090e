import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { staleViewGuard, type KeptViewDecision } from "../../src/allocator/stale-view-guard";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * The optimistic acquire: a waiting lease request decides over the capacity view the previous
 * request of its kind read (capacity-view-cache.ts) instead of reading one, and its append carries
 * a guard (stale-view-guard.ts). Another Drydock instance on the same database changes what that
 * view says without this instance knowing: each case checks that the request then gets the answer
 * a fresh read gives, and that nothing a stale view decided is stored.
 */
const SNAPSHOT_TEXT = "coalesce(json_agg(b), '[]')";
let api: ApiHarness;
let other: Drydock;
let otherApp: ReturnType<typeof createApp>;
let viewReads = 0;

beforeAll(async () => {
  api = await startApi({}, { localHost: { slots: 2 } }, { onQuery: (text) => void (text.includes(SNAPSHOT_TEXT) && viewReads++) });
  // Another instance, as another process would run it: it does not tell the first one anything.
  other = await createDrydock({ ...(api.database.url ? { databaseUrl: api.database.url } : { database: api.database }), localHost: { root: api.root, slots: 2 }, onWorkerError: (e) => console.error(e) });
  otherApp = createApp(other);
});
afterAll(async () => {
  await other?.close();
  await api?.close();
});

/** A request to the other instance, as admin. */
async function otherCall(method: string, url: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${api.adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) };
  const res = await otherApp.request(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: (await res.json()) as any };
}

async function eventsOfType(type: string): Promise<number> {
  const row = await api.drydock.database.db.selectFrom("events").select((eb) => eb.fn.countAll<number>().as("n")).where("event_type", "=", type).executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Cycles that leave this client's view kept: a lease acquired and released, twice. A new client's
 * first request reads its token before the handler (this instance has not seen it work), and
 * its view is kept without the token's terms; the second reads the token along with the view.
 */
async function warm(client: { call: ApiHarness["call"] }) {
  let body: any;
  for (let i = 0; i < 2; i++) {
    const lease = await client.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    expect((await client.call("POST", `/v1/leases/${lease.body.id}/release`)).status).toBe(200);
    await api.drydock.worker.idle();
    body = lease.body;
  }
  return body;
}

const refusals = async () => (await api.drydock.metrics.keptViewRefusals.get()).values[0]?.value ?? 0;

describe("a lease request over a kept capacity view", () => {
  it("reads no view when the previous request of its kind read one, and acquires", async () => {
    const ci = await api.client("kept-ci");
    await warm(ci);
    const before = viewReads;
    const lease = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    expect(lease.body.status).toBe("active");
    expect(viewReads - before).toBe(0);
    await ci.call("POST", `/v1/leases/${lease.body.id}/release`);
    await api.drydock.worker.idle();
  });

  it("is refused (401) with nothing stored when another instance revoked the token since", async () => {
    const ci = await api.client("kept-revoked");
    await warm(ci);
    expect((await otherCall("DELETE", `/v1/tokens/${ci.tokenId}`)).status).toBe(200);
    const requested = await eventsOfType("LeaseRequested");
    const seen = await refusals();
    const res = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(res.status, res.text).toBe(401);
    expect(await eventsOfType("LeaseRequested")).toBe(requested);
    expect(await refusals()).toBe(seen + 1);
  });

  it("is refused (403) with nothing stored when another instance revoked the client's approval since", async () => {
    const ci = await api.client("kept-unapproved");
    await warm(ci);
    const auth = (await otherCall("GET", "/v1/authorizations?client=kept-unapproved")).body.items[0];
    expect((await otherCall("POST", `/v1/authorizations/${auth.id}/revoke`)).status).toBe(200);
    const requested = await eventsOfType("LeaseRequested");
    const res = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(res.status, res.text).toBe(403);
    expect(await eventsOfType("LeaseRequested")).toBe(requested);
  });

  it("gets the quota another instance set on its token since, not the one its view had", async () => {
    const ci = await api.client("kept-quota");
    const first = await warm(ci);
    expect(first.quota ?? null).toBeNull();
    expect((await otherCall("PATCH", `/v1/tokens/${ci.tokenId}`, { leaseQuota: { maxLiveLeases: 1 } })).status).toBe(200);
    const lease = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    const requested = (await api.drydock.store.readStream(`lease-${lease.body.id}`)).find((e) => e.type === "LeaseRequested")!;
    expect((requested.data as { quota?: unknown }).quota).toMatchObject({ maxLiveLeases: 1 });
    await ci.call("POST", `/v1/leases/${lease.body.id}/release`);
    await api.drydock.worker.idle();
  });

  it("stores nothing when its append fails for any other reason, and is made again over a fresh view", async () => {
    const ci = await api.client("kept-failing");
    await warm(ci);
    const store = api.drydock.store;
    const appendMany = store.appendMany.bind(store);
    let failed = 0;
    // The first append that carries a kept view's guard fails as a lost connection would.
    store.appendMany = async (appends, metadata, options) => {
      if (options?.condition?.name === "capacity view" && failed === 0) {
        failed++;
        throw new Error("connection terminated unexpectedly");
      }
      return appendMany(appends, metadata, options);
    };
    const requested = await eventsOfType("LeaseRequested");
    const seen = await refusals();
    try {
      const lease = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
      expect(lease.status, lease.text).toBe(201);
      expect(failed).toBe(1);
      // One request stored, the second try's: the first stored nothing, not even its request.
      expect(await eventsOfType("LeaseRequested")).toBe(requested + 1);
      expect(await refusals()).toBe(seen + 1);
      await ci.call("POST", `/v1/leases/${lease.body.id}/release`);
      await api.drydock.worker.idle();
    } finally {
      store.appendMany = appendMany;
    }
  });

  it("waits, holding no slot, when another instance took the free slots since; the slots are never shared", async () => {
    const ci = await api.client("kept-full");
    await warm(ci);
    // The other instance takes both slots of the local host.
    const taken = [];
    for (let i = 0; i < 2; i++) {
      const res = await otherCall("POST", "/v1/leases?wait=10", { resourceType: "host" });
      expect(res.body.status, JSON.stringify(res.body)).toBe("active");
      taken.push(res.body);
    }
    const seen = await refusals();
    const res = await ci.call("POST", "/v1/leases?wait=1", { resourceType: "host" });
    expect(res.status, res.text).toBe(202);
    expect(res.body.status).toBe("pending");
    expect(await refusals()).toBe(seen + 1);
    const live = await api.drydock.database.db.selectFrom("leases").select(["lease_id", "resource_id"]).where("status", "in", ["acquired", "active"]).execute();
    expect(live.map((l) => l.lease_id).sort()).toEqual(taken.map((l) => l.id).sort());
    // A slot freed: the waiting lease takes it.
    expect((await otherCall("POST", `/v1/leases/${taken[0].id}/release`)).status).toBe(200);
    await ci.pollLease(res.body.id, (l) => l.status === "active");
    expect((await otherCall("POST", `/v1/leases/${taken[1].id}/release`)).status).toBe(200);
    await ci.call("POST", `/v1/leases/${res.body.id}/release`);
    await api.drydock.worker.idle();
    await other.worker.idle();
  });
});

describe("the guard a decision over a kept view is appended with", () => {
  it("holds only while the resource, its blueprint, the approval, the queue and the token are as the view had them", async () => {
    const ci = await api.client("guarded");
    const lease = await warm(ci);
    const db = api.drydock.database.db;
    const resource = await db.selectFrom("resources").select(["resource_id", "version", "blueprint_id"]).where("resource_id", "=", lease.resourceId).executeTakeFirstOrThrow();
    const blueprint = await db.selectFrom("blueprints").select("version").where("blueprint_id", "=", resource.blueprint_id).executeTakeFirstOrThrow();
    const token = await db.selectFrom("tokens").select("version").where("token_id", "=", ci.tokenId).executeTakeFirstOrThrow();
    const decision: KeptViewDecision = {
      resourceId: resource.resource_id,
      resourceVersion: resource.version,
      blueprintId: resource.blueprint_id,
      blueprintVersion: blueprint.version,
      client: "guarded",
      resourceType: "host",
      priority: 0,
      token: { tokenId: ci.tokenId, version: token.version, at: new Date(), held: () => {} },
    };
    const holds = async (d: KeptViewDecision) => (await db.executeQuery(staleViewGuard(db, d).query)).rows.length === 1;
    expect(await holds(decision)).toBe(true);
    expect(await holds({ ...decision, token: null })).toBe(true);
    expect(await holds({ ...decision, resourceVersion: resource.version - 1 })).toBe(false);
    expect(await holds({ ...decision, blueprintVersion: blueprint.version - 1 })).toBe(false);
    expect(await holds({ ...decision, client: "nobody-approved" })).toBe(false);
    expect(await holds({ ...decision, client: null, token: null })).toBe(true);
    expect(await holds({ ...decision, token: { ...decision.token!, version: token.version + 1 } })).toBe(false);
    expect(await holds({ ...decision, token: { ...decision.token!, tokenId: "tk_missing" } })).toBe(false);

    // A lease waiting in the queue: both slots taken, a third asked for.
    const held = [];
    for (let i = 0; i < 2; i++) held.push((await otherCall("POST", "/v1/leases?wait=10", { resourceType: "host" })).body);
    const waiting = await otherCall("POST", "/v1/leases?wait=0", { resourceType: "host" });
    expect(waiting.body.status).toBe("pending");
    expect(await holds(decision)).toBe(false);
    // A lease of a higher priority is ahead of it, not behind it.
    expect(await holds({ ...decision, priority: 1 })).toBe(true);
    for (const l of held) await otherCall("POST", `/v1/leases/${l.id}/release`);
    await otherCall("POST", `/v1/leases/${waiting.body.id}/release`);
    await other.worker.idle();
    await api.drydock.worker.idle();
  });
});
