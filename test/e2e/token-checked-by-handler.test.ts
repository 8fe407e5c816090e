import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock";
import { testDialect } from "../support/test-database";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

/**
 * A release checks its token in its own write, and a lease request in the capacity view it reads
 * anyway (TokenCheck, auth-middleware.ts): a token this process has seen work is not read before
 * either; the release's append reads it, locked, in the same statement, and the request's view
 * reads it with its terms (quota, default TTL). What a user checks: neither sends a token read,
 * a token that stopped working (revoked, expired) still gets its 401 and changes nothing,
 * whatever the request was, and a quota an admin changed applies to the very next request.
 */
const clock = new ManualClock(new Date());
const statements: string[] = [];
let api: ApiHarness;

beforeAll(async () => {
  // Slots for the leases the refused releases leave active.
  api = await startApi({}, { clock, localHost: { slots: 10 } }, { onQuery: (sql) => statements.push(sql) });
});
afterAll(() => api?.close());

/** A token lookup (the auth middleware's read), as opposed to the append's own check. */
const isTokenLookup = (sql: string) => /^\s*select\b[^]*\bfrom\s+"?tokens"?/i.test(sql) && !/\bfor share\b/i.test(sql);

async function activeLease(client: ApiClient): Promise<string> {
  const res = await client.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** A client whose token expires in `seconds`, authorized on the local host. */
async function expiringClient(owner: string, seconds: number): Promise<ApiClient> {
  const issued = await api.call("POST", "/v1/tokens", { owner, role: "client", expiresInSeconds: seconds });
  expect(issued.status).toBe(201);
  const asked = await api.call("POST", `/v1/blueprints/${await api.localHostBlueprintId()}/authorizations`, { client: owner });
  if (asked.body.state !== "approved") await api.call("POST", `/v1/authorizations/${asked.body.id}/approve`);
  return { ...api.as(issued.body.token), owner, token: issued.body.token, tokenId: issued.body.id };
}

/** The statements one request sends, after the work already under way has settled. */
async function sentBy<T>(request: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
  await api.eventCount();
  statements.length = 0;
  const result = await request();
  return { result, sent: [...statements] };
}

describe(`a release checks its token in its own write (${testDialect})`, () => {
  it("releases without reading the token first: the release's own statement checks it", async () => {
    const client = await api.client("writer");
    const leaseId = await activeLease(client);
    const { result: res, sent } = await sentBy(() => client.call("POST", `/v1/leases/${leaseId}/release`, {}));
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe("released");
    expect(sent.filter(isTokenLookup)).toEqual([]);
    // The one statement that stored the release read the token, locked.
    const release = sent.filter((s) => /"tokens"/.test(s));
    expect(release).toHaveLength(1);
    expect(release[0]).toMatch(/for share/i);
    const events = await api.call("GET", `/v1/leases/${leaseId}/events`);
    expect(events.body.items.find((e: { type: string }) => e.type === "LeaseReleased").metadata).toMatchObject({ actor: "writer", tokenId: client.tokenId });
  });

  it("a token revoked after it was seen: its release stores nothing and answers 401, refused by the write itself", async () => {
    const client = await api.client("revoked-writer");
    const leaseId = await activeLease(client);
    expect((await api.call("DELETE", `/v1/tokens/${client.tokenId}`, {})).status).toBe(200);
    const before = await api.eventCount();
    const { result: res, sent } = await sentBy(() => client.call("POST", `/v1/leases/${leaseId}/release`, {}));
    expect(res.status, res.text).toBe(401);
    expect(res.body).toEqual((await api.as("dd_not-a-token").call("GET", "/v1/leases")).body);
    // No read came before the write: the write's check refused it.
    expect(sent.filter(isTokenLookup)).toEqual([]);
    expect(await api.eventCount()).toBe(before);
    expect((await api.call("GET", `/v1/leases/${leaseId}`)).body.status).toBe("active");
  });

  // One session at a time on PGlite: there, nothing can revoke while a release runs.
  it.skipIf(testDialect !== "postgres")("a revocation committing while the release runs: the release waits for it on the token's row, then is refused", async () => {
    const client = await api.client("racing");
    const leaseId = await activeLease(client);
    await api.eventCount();
    const revoker = new pg.Client({ connectionString: api.database.url });
    await revoker.connect();
    try {
      await revoker.query("BEGIN");
      await revoker.query("UPDATE tokens SET status = 'revoked' WHERE token_id = $1", [client.tokenId]);
      const release = client.call("POST", `/v1/leases/${leaseId}/release`, {});
      // The release's statement waits for the revocation in flight, on the token's row.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await revoker.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid))");
        if (rows[0].n === 1) break;
        if (Date.now() > deadline) throw new Error("the release never waited on the token's row");
        await new Promise((r) => setTimeout(r, 20));
      }
      await revoker.query("COMMIT");
      const res = await release;
      expect(res.status, res.text).toBe(401);
    } finally {
      await revoker.end();
    }
    expect((await api.call("GET", `/v1/leases/${leaseId}`)).body.status).toBe("active");
  });

  it("a refused release (409) of a revoked token answers 401, as a read first would have", async () => {
    const client = await api.client("twice");
    const leaseId = await activeLease(client);
    expect((await client.call("POST", `/v1/leases/${leaseId}/release`, {})).status).toBe(200);
    const again = await client.call("POST", `/v1/leases/${leaseId}/release`, {});
    expect(again.status, again.text).toBe(409);
    expect((await api.call("DELETE", `/v1/tokens/${client.tokenId}`, {})).status).toBe(200);
    const before = await api.eventCount();
    const revoked = await client.call("POST", `/v1/leases/${leaseId}/release`, {});
    expect(revoked.status, revoked.text).toBe(401);
    expect(await api.eventCount()).toBe(before);
  });

  it("a token past its expiry gets 401 and releases nothing, though the process knows it", async () => {
    const client = await expiringClient("expiring", 60);
    const leaseId = await activeLease(client);
    clock.advance(61_000);
    const before = await api.eventCount();
    const res = await client.call("POST", `/v1/leases/${leaseId}/release`, {});
    expect(res.status, res.text).toBe(401);
    expect(await api.eventCount()).toBe(before);
    expect((await api.call("GET", `/v1/leases/${leaseId}`)).body.status).toBe("active");
  });

  it("another client's lease is refused as before (404, as if it did not exist), after a read", async () => {
    const owner = await api.client("owner-a");
    const other = await api.client("owner-b");
    const leaseId = await activeLease(owner);
    await activeLease(other); // `other`'s token is known to the process now
    const { result: res, sent } = await sentBy(() => other.call("POST", `/v1/leases/${leaseId}/release`, {}));
    expect(res.status, res.text).toBe(404);
    expect(sent.filter(isTokenLookup)).toHaveLength(1);
    expect((await api.call("GET", `/v1/leases/${leaseId}`)).body.status).toBe("active");
  });

  it("a lease this process does not know the owner of is read with the token, as before", async () => {
    const client = await api.client("stranger");
    const leaseId = await activeLease(client);
    // A second app on the same Drydock: its middleware knows neither the token nor the lease.
    const { createApp } = await import("../../src/api/app");
    const fresh = createApp(api.drydock);
    await api.eventCount();
    statements.length = 0;
    const res = await fresh.request(`/v1/leases/${leaseId}/release`, { method: "POST", headers: { Authorization: `Bearer ${client.token}`, "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(200);
    expect(statements.filter(isTokenLookup)).toHaveLength(1);
  });
});

describe(`a lease request checks a known token in its capacity view (${testDialect})`, () => {
  /** The view's statement, with the token read along. */
  const isViewWithToken = (sql: string) => /tok AS \(select[^]*from "tokens"/i.test(sql) && /b AS \(SELECT \* FROM blueprints/.test(sql);

  it("acquires without reading the token first: the capacity view reads it, and the lease names it", async () => {
    const client = await api.client("asker");
    await activeLease(client); // the process knows the token now
    const { result: res, sent } = await sentBy(() => client.call("POST", "/v1/leases?wait=10", { resourceType: "host" }));
    expect(res.status, res.text).toBe(201);
    expect(sent.filter(isTokenLookup)).toEqual([]);
    expect(sent.filter(isViewWithToken)).toHaveLength(1);
    const events = await api.call("GET", `/v1/leases/${res.body.id}/events`);
    expect(events.body.items.find((e: { type: string }) => e.type === "LeaseRequested").metadata).toMatchObject({ actor: "asker", tokenId: client.tokenId });
  });

  it("a known token revoked: its request stores nothing and answers 401, with or without a wait", async () => {
    const client = await api.client("revoked-asker");
    await activeLease(client);
    expect((await api.call("DELETE", `/v1/tokens/${client.tokenId}`, {})).status).toBe(200);
    const before = await api.eventCount();
    const { result: waiting, sent } = await sentBy(() => client.call("POST", "/v1/leases?wait=10", { resourceType: "host" }));
    expect(waiting.status, waiting.text).toBe(401);
    expect(waiting.body).toEqual((await api.as("dd_not-a-token").call("GET", "/v1/leases")).body);
    // Refused by the view's read of it, not by a read of its own.
    expect(sent.filter(isTokenLookup)).toEqual([]);
    expect(sent.filter(isViewWithToken)).toHaveLength(1);
    const queued = await client.call("POST", "/v1/leases", { resourceType: "host" });
    expect(queued.status, queued.text).toBe(401);
    expect(await api.eventCount()).toBe(before);
    const leases = await api.call("GET", "/v1/leases?owner=revoked-asker");
    expect(leases.body.items).toHaveLength(1);
  });

  it("a known token past its expiry: its request gets 401 and stores nothing", async () => {
    const client = await expiringClient("expiring-asker", 60);
    const leaseId = await activeLease(client);
    expect((await client.call("POST", `/v1/leases/${leaseId}/release`, {})).status).toBe(200);
    clock.advance(61_000);
    const before = await api.eventCount();
    const res = await client.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(res.status, res.text).toBe(401);
    expect(await api.eventCount()).toBe(before);
  });

  it("a quota an admin sets on a known token applies to its very next request", async () => {
    const client = await api.client("quota-asker");
    const held = await activeLease(client);
    expect((await api.call("PATCH", `/v1/tokens/${client.tokenId}`, { leaseQuota: { maxLiveLeases: 1 } })).status).toBe(200);
    const before = await api.eventCount();
    const { result: over, sent } = await sentBy(() => client.call("POST", "/v1/leases?wait=10", { resourceType: "host", waitIfOverQuota: false }));
    expect(over.status, over.text).toBe(429);
    expect(over.body.error.code).toBe("quota_exceeded");
    expect(sent.filter(isTokenLookup)).toEqual([]);
    expect(await api.eventCount()).toBe(before);
    // Waiting instead: the lease carries the new quota, and waits on it.
    const waiting = await client.call("POST", "/v1/leases?wait=0.2", { resourceType: "host" });
    expect(waiting.status, waiting.text).toBe(202);
    expect(waiting.body.waitReason).toMatch(/quota/);
    const requested = (await api.call("GET", `/v1/leases/${waiting.body.id}/events`)).body.items[0];
    expect(requested.data.quota).toEqual({ maxLiveLeases: 1 });
    expect((await client.call("POST", `/v1/leases/${waiting.body.id}/release`, {})).status).toBe(200);
    expect((await client.call("POST", `/v1/leases/${held}/release`, {})).status).toBe(200);
  });

  it("a request refused before the view (403) by a revoked known token answers 401", async () => {
    const client = await api.client("refused-asker");
    await activeLease(client);
    expect((await api.call("DELETE", `/v1/tokens/${client.tokenId}`, {})).status).toBe(200);
    // A client may not ask for a priority above 0: refused before the view is read.
    const res = await client.call("POST", "/v1/leases?wait=1", { resourceType: "host", priority: 5 });
    expect(res.status, res.text).toBe(401);
  });

  it("a known token revoked and over its rate limit answers 401, not 429", async () => {
    const { createApp } = await import("../../src/api/app");
    // An app whose lease limit one request exhausts; it knows the token from that request.
    const tight = createApp(api.drydock, { rateLimits: { leases: { perSecond: 0.001, burst: 1 } } });
    const client = await api.client("limited-asker");
    const ask = () => tight.request("/v1/leases?wait=10", { method: "POST", headers: { Authorization: `Bearer ${client.token}`, "content-type": "application/json" }, body: JSON.stringify({ resourceType: "host" }) });
    const first = await ask();
    expect(first.status).toBe(201);
    expect((await ask()).status).toBe(429);
    expect((await api.call("DELETE", `/v1/tokens/${client.tokenId}`, {})).status).toBe(200);
    expect((await ask()).status).toBe(401);
    expect((await api.call("POST", `/v1/leases/${((await first.json()) as { id: string }).id}/release`, {})).status).toBe(200);
  });

  it("a request without a wait reads a known token by itself, before it stores the lease", async () => {
    const client = await api.client("queued-asker");
    await activeLease(client);
    const { result: res, sent } = await sentBy(() => client.call("POST", "/v1/leases", { resourceType: "host" }));
    expect(res.status, res.text).toBe(202);
    const read = sent.findIndex(isTokenLookup);
    const stored = sent.findIndex((s) => /insert into "streams"/i.test(s));
    expect(read).toBeGreaterThanOrEqual(0);
    expect(stored).toBeGreaterThan(read);
  });
});
