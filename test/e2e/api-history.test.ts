import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * The history API over HTTP: each stream's events, the global log with filters, the state of
 * leases and resources at a past time (`?asOf=`), and the explanation of a lease that waited.
 * The harness's local-host blueprint has one resource with 2 slots: a third lease waits until
 * the first is released, about a second later.
 */
let api: ApiHarness;
const run = { a: "", b: "", c: "", resourceId: "", blueprintId: "", beforeAll: "", whileWaiting: "" };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ok(method: string, url: string, body?: unknown) {
  const res = await api.call(method, url, body);
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.text}`);
  return res.body;
}

beforeAll(async () => {
  api = await startApi();
  run.blueprintId = await api.localHostBlueprintId();
  run.beforeAll = new Date().toISOString();
  await sleep(5);
  const [a, b] = await Promise.all([ok("POST", "/v1/leases?wait=20", { resourceType: "host" }), ok("POST", "/v1/leases?wait=20", { resourceType: "host" })]);
  expect([a.status, b.status]).toEqual(["active", "active"]);
  [run.a, run.b, run.resourceId] = [a.id, b.id, a.resourceId];
  run.c = (await ok("POST", "/v1/leases", { resourceType: "host" })).id;
  await api.pollLease(run.c, (l) => l.waitReason !== null);
  await sleep(1000);
  run.whileWaiting = new Date().toISOString();
  await sleep(5);
  await ok("POST", `/v1/leases/${run.a}/release`, {});
  await api.pollLease(run.c, (l) => l.status === "active");
  await ok("POST", `/v1/leases/${run.b}/release`, {});
  await ok("POST", `/v1/leases/${run.c}/release`, {});
  for (const id of [run.a, run.b, run.c]) await api.pollLease(id, (l) => l.status === "destroyed");
}, 60_000);

afterAll(async () => {
  await api?.close();
});

describe("each stream's history", () => {
  it("a lease's, a resource's and a blueprint's events, in order; 404 for one that does not exist", async () => {
    for (const [kind, id, first] of [
      ["leases", run.c, "LeaseRequested"],
      ["resources", run.resourceId, "ResourceAllocated"],
      ["blueprints", run.blueprintId, "BlueprintCreated"],
    ] as const) {
      const { items } = await ok("GET", `/v1/${kind}/${id}/events`);
      expect(items[0].type).toBe(first);
      expect(items.map((e: any) => e.streamVersion)).toEqual(items.map((_: unknown, i: number) => i + 1));
      expect(new Set(items.map((e: any) => e.streamId)).size).toBe(1);
      const missing = await api.call("GET", `/v1/${kind}/${id.slice(0, 3)}0000000000000000000000/events`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe("not_found");
    }
  });
});

describe("GET /v1/events with filters", () => {
  /** Follows nextCursor until a page comes back empty; the cursor must move on every page. */
  async function all(query: string): Promise<any[]> {
    const items: any[] = [];
    let after = "";
    for (let pages = 0; pages < 200; pages++) {
      const page = await ok("GET", `/v1/events?limit=7&${query}${after ? `&after=${after}` : ""}`);
      items.push(...page.items);
      if (page.items.length === 0) return items;
      expect(page.nextCursor).not.toBe(after);
      after = page.nextCursor;
    }
    throw new Error("paging did not end");
  }

  it("by type, stream, actor and time window; paging ends", async () => {
    // An empty page ends the paging, and a page is empty too while a transaction still in
    // flight (a worker's, say) holds the commit-safe horizon back: read again until the log has
    // caught up with the setup, which waited for all three leases to be destroyed.
    await waitUntil("the log to show the setup's releases", async () =>
      (await all("type=LeaseDestroyed")).filter((e) => [`lease-${run.a}`, `lease-${run.b}`, `lease-${run.c}`].includes(e.streamId)).length === 3,
    );
    const released = await all("type=LeaseReleased,LeaseDestroyed");
    expect(released.filter((e) => [`lease-${run.a}`, `lease-${run.b}`, `lease-${run.c}`].includes(e.streamId)).map((e) => e.type).sort()).toEqual([
      ...Array(3).fill("LeaseDestroyed"),
      ...Array(3).fill("LeaseReleased"),
    ]);
    const c = await all(`stream=lease-${run.c}`);
    expect(c.map((e) => e.streamVersion)).toEqual(c.map((_, i) => i + 1));
    expect(c.map((e) => e.type)).toEqual(expect.arrayContaining(["LeaseRequested", "AllocationAttempted", "LeaseWaiting", "LeaseAcquired", "LeaseActivated", "LeaseReleased", "LeaseDestroyed"]));
    const requester = c[0].metadata.actor;
    const byActor = await all(`actor=${encodeURIComponent(requester)}&stream=lease-${run.a},lease-${run.c}`);
    expect(byActor.map((e) => e.type)).toEqual(["LeaseRequested", "LeaseRequested", "LeaseReleased", "LeaseReleased"]);
    const windowed = await all(`since=${run.whileWaiting}&stream=lease-${run.a},lease-${run.c}&type=LeaseRequested,LeaseReleased`);
    expect(windowed.map((e) => [e.streamId, e.type])).toEqual([
      [`lease-${run.a}`, "LeaseReleased"],
      [`lease-${run.c}`, "LeaseReleased"],
    ]);
    expect(await all(`until=${run.beforeAll}&stream=lease-${run.a}`)).toEqual([]);
  });

  it("refuses a bad filter with a 400 naming it", async () => {
    for (const [query, field] of [
      ["type=LeaseExploded", "type"],
      ["stream=lease%20x", "stream"],
      ["since=yesterday", "since"],
      ["after=12", "after"],
    ]) {
      const res = await api.call("GET", `/v1/events?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.message).toMatch(new RegExp(`^${field}: `));
    }
  });
});

describe("?asOf: the state at a past time, from the log", () => {
  it("one lease and the list, with filters and paging", async () => {
    const then = (await ok("GET", `/v1/leases/${run.c}?asOf=${run.whileWaiting}`)) as any;
    expect(then).toMatchObject({ id: run.c, status: "pending", resourceId: null, waitReason: expect.stringContaining("local-host at its limit of 1") });
    expect((await ok("GET", `/v1/leases/${run.c}`)).status).toBe("destroyed");
    const early = await api.call("GET", `/v1/leases/${run.c}?asOf=${run.beforeAll}`);
    expect(early.status).toBe(404);

    const pending = await ok("GET", `/v1/leases?asOf=${run.whileWaiting}&status=pending`);
    expect(pending.items.map((l: any) => l.id)).toEqual([run.c]);
    const active = await ok("GET", `/v1/leases?asOf=${run.whileWaiting}&status=active&resourceId=${run.resourceId}&limit=1`);
    expect(active.items).toHaveLength(1);
    const next = await ok("GET", `/v1/leases?asOf=${run.whileWaiting}&status=active&resourceId=${run.resourceId}&limit=1&cursor=${active.nextCursor}`);
    expect([active.items[0].id, next.items[0].id].sort()).toEqual([run.a, run.b].sort());
    expect(next.nextCursor).toBeNull();
    expect((await ok("GET", `/v1/leases?asOf=${run.beforeAll}`)).items).toEqual([]);
  });

  it("one resource and the list, with its live leases then", async () => {
    const then = await ok("GET", `/v1/resources/${run.resourceId}?asOf=${run.whileWaiting}`);
    expect(then).toMatchObject({ id: run.resourceId, status: "active", liveLeases: 2, leaseSlots: 2, idleSince: null });
    const list = await ok("GET", `/v1/resources?asOf=${run.whileWaiting}&status=active`);
    expect(list.items.map((r: any) => r.id)).toEqual([run.resourceId]);
    const now = await ok("GET", `/v1/resources/${run.resourceId}?asOf=${new Date().toISOString()}`);
    expect(now).toEqual(await ok("GET", `/v1/resources/${run.resourceId}`));
    const bad = await api.call("GET", `/v1/resources?asOf=soon`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^asOf: /);
  });
});

describe("GET /v1/leases/{id}/explain", () => {
  it("tells why the lease waited, with the candidates of each attempt", async () => {
    const x = await ok("GET", `/v1/leases/${run.c}/explain`);
    expect(x).toMatchObject({ leaseId: run.c, status: "destroyed", stillWaiting: false });
    expect(x.waits[0]).toMatchObject({ cause: "slot", detail: expect.stringContaining("local-host at its limit of 1") });
    expect(x.waits[0].ms).toBeGreaterThan(800);
    expect(x.summary).toMatch(new RegExp(`^${run.c} waited \\d+\\.\\d s before it was active: \\d+\\.\\d s for a free slot \\(`));
    const attempt = x.timeline.find((s: any) => s.event === "AllocationAttempted");
    expect(attempt.candidates).toEqual(expect.arrayContaining([{ kind: "resource", id: run.resourceId, blueprintId: run.blueprintId, outcome: "skipped", reason: "all 2 slots in use" }]));
    expect(x.timeline.at(-1)).toMatchObject({ event: "LeaseDestroyed", durationMs: null });
    expect((await api.call("GET", "/v1/leases/ls_0000000000000000000000/explain")).status).toBe(404);
  });
});
