import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

describe("the lease lifecycle over HTTP", () => {
  it("acquires, uses, releases and destroys a lease; the next lease gets the same resource", async () => {
    const created = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(created.status).toBe(201);
    const lease = created.body;
    expect(lease.status).toBe("active");
    expect(lease.resourceId).toMatch(/^rs_/);
    expect(lease.owner).toBe("admin");

    const uptime = await api.call("POST", `/v1/leases/${lease.id}/commands`, { argv: ["uptime"] });
    expect(uptime.status).toBe(200);
    expect(uptime.body.exitCode).toBe(0);
    expect(uptime.body.stdout).toMatch(/load average/);

    // Every byte value, so nothing on the way treats the body as text.
    const bytes = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) % 256);
    const put = await api.call("PUT", `/v1/leases/${lease.id}/files/data/blob.bin`, bytes, { "content-type": "application/octet-stream" });
    expect(put.status).toBe(204);
    const got = await api.app.request(`/v1/leases/${lease.id}/files/data/blob.bin`);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);

    const listed = await api.call("GET", `/v1/leases/${lease.id}/files`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ name: "data", type: "directory" })]);
    const inDir = await api.call("GET", `/v1/leases/${lease.id}/files/data?list=1`);
    expect(inDir.body.items).toEqual([expect.objectContaining({ name: "blob.bin", type: "file", size: 512 })]);

    const released = await api.call("POST", `/v1/leases/${lease.id}/release`);
    expect(released.status).toBe(200);
    expect(released.body.status).toBe("released");
    expect(released.body.endReason).toBe("requested");

    const again = await api.call("POST", `/v1/leases/${lease.id}/release`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("transition_refused");
    // Released, or destroyed already if its teardown was quick: ended either way.
    expect(again.body.error.message).toMatch(/released|destroyed/);

    await api.pollLease(lease.id, (l) => l.status === "destroyed");
    const events = await api.call("GET", `/v1/leases/${lease.id}/events`);
    expect(events.status).toBe(200);
    const types = events.body.items.map((e: any) => e.type);
    expect(types[0]).toBe("LeaseRequested");
    expect(types).toContain("LeaseActivated");
    expect(types.slice(-2)).toEqual(["LeaseReleased", "LeaseDestroyed"]);
    expect(types.indexOf("LeaseActivated")).toBeLessThan(types.indexOf("LeaseReleased"));
    const versions = events.body.items.map((e: any) => e.streamVersion);
    expect(versions).toEqual(versions.map((_: unknown, i: number) => i + 1));
    expect(events.body.items[0]).toMatchObject({ streamId: `lease-${lease.id}`, metadata: { actor: "admin" } });
    expect(new Date(events.body.items[0].recordedAt).toISOString()).toBe(events.body.items[0].recordedAt);

    const second = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(second.status).toBe(201);
    expect(second.body.resourceId).toBe(lease.resourceId);
    expect((await api.call("POST", `/v1/leases/${second.body.id}/release`)).status).toBe(200);
  });

  it("answers 202 at once without ?wait, and GET ?wait long-polls until active", async () => {
    const created = await api.call("POST", "/v1/leases", { resourceType: "host" });
    expect(created.status).toBe(202);
    expect(["pending", "acquired", "active"]).toContain(created.body.status);
    const polled = await api.call("GET", `/v1/leases/${created.body.id}?wait=10`);
    expect(polled.status).toBe(200);
    expect(polled.body.status).toBe("active");
    expect((await api.call("POST", `/v1/leases/${created.body.id}/release`)).status).toBe(200);
  });

  it("records the token's owner as owner and actor (no header names it), and echoes a sane request id", async () => {
    const ci = await api.client("ci");
    // The X-Drydock-Actor stopgap is gone: a client cannot name itself someone else.
    const created = await ci.call("POST", "/v1/leases", { resourceType: "host" }, { "X-Drydock-Actor": "someone-else", "X-Request-Id": "req-123.abc" });
    expect(created.status).toBe(202);
    expect(created.headers.get("x-request-id")).toBe("req-123.abc");
    expect(created.body.owner).toBe("ci");
    const events = await ci.call("GET", `/v1/leases/${created.body.id}/events`);
    expect(events.body.items[0].metadata).toMatchObject({ actor: "ci", tokenId: ci.tokenId, requestId: "req-123.abc" });

    const odd = await api.call("POST", "/v1/leases", { resourceType: "host" }, { "X-Drydock-Actor": "ci", "X-Request-Id": "bad id!" });
    expect(odd.body.owner).toBe("admin");
    expect(odd.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(odd.headers.get("x-request-id")).not.toBe("bad id!");

    for (const id of [created.body.id, odd.body.id]) expect((await api.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
  });

  it("renews a lease and expires one whose TTL ends", async () => {
    const created = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", ttlSeconds: 1 });
    expect(created.status).toBe(201);
    expect(created.body.expiresAt).not.toBeNull();
    const expired = await api.pollLease(created.body.id, (l) => l.status !== "active", 5_000);
    expect(expired.status).toMatch(/^(released|destroyed)$/);
    expect(expired.endReason).toMatch(/^expired/);

    const renewable = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host", ttlSeconds: 60 });
    expect(renewable.status).toBe(201);
    const renewed = await api.call("POST", `/v1/leases/${renewable.body.id}/renew`, { ttlSeconds: 3600 });
    expect(renewed.status).toBe(200);
    expect(Date.parse(renewed.body.expiresAt)).toBeGreaterThan(Date.parse(renewable.body.expiresAt) + 3000_000);
    expect((await api.call("POST", `/v1/leases/${renewable.body.id}/release`)).status).toBe(200);
    const late = await api.call("POST", `/v1/leases/${renewable.body.id}/renew`, { ttlSeconds: 60 });
    expect(late.status).toBe(409);
  });

  it("pages through leases with a cursor and filters them", async () => {
    const ids: string[] = [];
    const pager = await api.client("pager");
    for (let i = 0; i < 5; i++) {
      const res = await pager.call("POST", "/v1/leases", { resourceType: "host" });
      expect(res.status).toBe(202);
      ids.push(res.body.id);
    }
    const seen: string[] = [];
    let url: string | null = "/v1/leases?owner=pager&limit=2";
    let pages = 0;
    while (url) {
      const page = await api.call("GET", url);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((l: any) => l.id));
      url = page.body.nextCursor ? `/v1/leases?owner=pager&limit=2&cursor=${encodeURIComponent(page.body.nextCursor)}` : null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort()).toEqual([...ids].sort());
    // Newest first: ids are time-ordered.
    expect(seen).toEqual([...seen].sort().reverse());

    const released = await api.call("GET", "/v1/leases?status=released,destroyed&limit=200");
    expect(released.body.items.length).toBeGreaterThan(0);
    expect(released.body.items.every((l: any) => l.status === "released" || l.status === "destroyed")).toBe(true);
    const byType = await api.call("GET", "/v1/leases?resourceType=nothing-here");
    expect(byType.body).toEqual({ items: [], nextCursor: null });

    // The CLI sends `{}` with its releases; a body the route does not take is ignored.
    for (const id of ids) expect((await api.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
  });
});
