import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

describe("blueprints", () => {
  it("creates, reads, changes, disables and enables a blueprint, with its history", async () => {
    const listed = await api.call("GET", "/v1/blueprints");
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((b: any) => b.kind)).toContain("local-host");

    const created = await api.call("POST", "/v1/blueprints", { name: "second-host", kind: "local-host", config: { root: `${api.root}/second`, slots: 1 }, resourceLimit: 1 });
    expect(created.status).toBe(201);
    const bp = created.body;
    expect(bp).toMatchObject({ name: "second-host", kind: "local-host", resourceType: "host", resourceLimit: 1, enabled: true });
    expect(bp.config).toMatchObject({ slots: 1 });

    expect((await api.call("GET", `/v1/blueprints/${bp.id}`)).body).toEqual(bp);
    const clash = await api.call("POST", "/v1/blueprints", { name: "second-host", kind: "local-host" });
    expect(clash.status).toBe(409);
    expect(clash.body.error).toMatchObject({ code: "name_taken", details: { field: "name" } });
    expect(clash.body.error.message).toMatch(/^name: /);

    const patched = await api.call("PATCH", `/v1/blueprints/${bp.id}`, { name: "renamed-host", resourceLimit: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: "renamed-host", resourceLimit: null });
    expect((await api.call("PATCH", `/v1/blueprints/${bp.id}`, {})).status).toBe(400);
    const badConfig = await api.call("PATCH", `/v1/blueprints/${bp.id}`, { config: { slots: "many" } });
    expect(badConfig.status).toBe(400);
    expect(badConfig.body.error.message).toMatch(/^config\.slots: /);

    const disabled = await api.call("POST", `/v1/blueprints/${bp.id}/disable`, { reason: "maintenance" });
    expect(disabled.status).toBe(200);
    expect(disabled.body.enabled).toBe(false);
    expect((await api.call("POST", `/v1/blueprints/${bp.id}/disable`)).status).toBe(409);
    const enabled = await api.call("POST", `/v1/blueprints/${bp.id}/enable`);
    expect(enabled.status).toBe(200);
    expect(enabled.body.enabled).toBe(true);

    const events = await api.call("GET", `/v1/blueprints/${bp.id}/events`);
    expect(events.body.items.map((e: any) => e.type)).toEqual(["BlueprintCreated", "BlueprintUpdated", "BlueprintDisabled", "BlueprintEnabled"]);

    const unknownKind = await api.call("POST", "/v1/blueprints", { name: "x", kind: "mainframe" });
    expect(unknownKind.status).toBe(400);
    expect(unknownKind.body.error.message).toMatch(/^kind: /);
    const badName = await api.call("POST", "/v1/blueprints", { name: "a\u0000b", kind: "local-host" });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toMatch(/^name: /);
  });
});

describe("resources", () => {
  it("lists, reads and releases a resource, with its history", async () => {
    const lease = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status).toBe(201);
    const resourceId = lease.body.resourceId;

    const listed = await api.call("GET", "/v1/resources?status=active&resourceType=host");
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((r: any) => r.id)).toContain(resourceId);
    const byBlueprint = await api.call("GET", `/v1/resources?blueprintId=${lease.body.blueprintId}&limit=1`);
    expect(byBlueprint.body.items[0].id).toBe(resourceId);

    const got = await api.call("GET", `/v1/resources/${resourceId}`);
    expect(got.body).toMatchObject({ id: resourceId, status: "active", liveLeases: 1 });
    expect((await api.call("GET", `/v1/leases?resourceId=${resourceId}`)).body.items.map((l: any) => l.id)).toEqual([lease.body.id]);

    const released = await api.call("POST", `/v1/resources/${resourceId}/release`, { reason: "decommissioned" });
    expect(released.status).toBe(200);
    expect(released.body.status).toBe("released");
    expect(released.body.endReason).toBe("decommissioned");
    expect((await api.call("POST", `/v1/resources/${resourceId}/release`)).status).toBe(409);

    // Its lease is let go as well.
    const ended = await api.pollLease(lease.body.id, (l) => l.status !== "active");
    expect(["released", "broken", "destroyed"]).toContain(ended.status);
    const events = await api.call("GET", `/v1/resources/${resourceId}/events`);
    expect(events.body.items[0].type).toBe("ResourceAllocated");
    expect(events.body.items.map((e: any) => e.type)).toContain("ResourceReleased");
  });
});

describe("the global event log", () => {
  it("pages through every event with a cursor that is always returned", async () => {
    // The worker may still be appending (the released resource is being destroyed), so bound
    // the count from both sides rather than expecting one number.
    // xids are cluster-wide on PostgreSQL: a transaction in flight in another test file's database
    // holds the reader back for a moment. Empty pages are retried until the log has caught up.
    const before = await api.eventCount();
    const all: any[] = [];
    let after = "";
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      const page = await api.call("GET", `/v1/events?limit=3${after ? `&after=${after}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.body.nextCursor).toMatch(/^\d+:\d+$/);
      if (page.body.items.length === 0) {
        // No cursor yet means the start of the log, which an empty page names as 0:0.
        expect(page.body.nextCursor).toBe(after || "0:0");
        if (all.length >= before) break;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      all.push(...page.body.items);
      after = page.body.nextCursor;
    }
    expect(all.length).toBeGreaterThanOrEqual(before);
    expect(all.length).toBeLessThanOrEqual(await api.eventCount());
    expect(new Set(all.map((e) => e.eventId)).size).toBe(all.length);
    expect(all[0].type).toBe("BlueprintCreated");

    // Something new shows up after the cursor.
    const lease = await api.call("POST", "/v1/leases", { resourceType: "host" });
    let next: any[] = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && !next.some((e) => e.streamId === `lease-${lease.body.id}`); ) {
      const page = await api.call("GET", `/v1/events?after=${after}`);
      next = page.body.items;
      if (next.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(next.find((e) => e.streamId === `lease-${lease.body.id}`)).toMatchObject({ type: "LeaseRequested" });
  });

  it.each([["?after=abc"], ["?after=1:"], ["?after=99999999999999999999:1"], ["?limit=0"], ["?limit=1001"]])("400 for %s", async (query) => {
    const res = await api.call("GET", `/v1/events${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
  });

  it("accepts the largest cursor it could give out", async () => {
    const res = await api.call("GET", "/v1/events?after=9999999999999999999:999999999999999");
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([]);
  });
});
