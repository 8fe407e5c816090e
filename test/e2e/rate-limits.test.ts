import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Per-token rate limits on lease requests and commands: 429 with Retry-After, nothing appended.
 * The limiter runs on a clock the test moves by hand, so how long the requests take (a lease
 * waited for, a command run) refills nothing: the numbers below are exact.
 */
let api: ApiHarness;
let now = 0;

beforeAll(async () => {
  api = await startApi({ rateLimits: { leases: { perSecond: 0.5, burst: 2 }, commands: { perSecond: 0.5, burst: 3 } }, rateLimitClock: () => now });
});
afterAll(async () => {
  await api?.close();
});

describe("rate limits per token", () => {
  it("lease requests: the burst passes, the next is 429 with Retry-After and appends nothing; other tokens and reads are not held up", async () => {
    const ci = await api.client("ci");
    const ids: string[] = [];
    // Waited for, so the worker is done with them before the log is counted below.
    for (let i = 0; i < 2; i++) {
      const res = await ci.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const before = await api.eventCount();
    const limited = await ci.call("POST", "/v1/leases", { resourceType: "host" });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    // Half a request per second, and the clock has not moved: the next one in exactly 2 s.
    expect(limited.body.error.details.retryAfterSeconds).toBe(2);
    expect(limited.headers.get("retry-after")).toBe("2");
    expect(await api.eventCount()).toBe(before);

    expect((await ci.call("GET", "/v1/leases")).status).toBe(200);
    for (const id of ids) expect((await ci.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
    const ops = await api.client("ops");
    const other = await ops.call("POST", "/v1/leases", { resourceType: "host" });
    expect(other.status).toBe(202);
    expect((await ops.call("POST", `/v1/leases/${other.body.id}/release`, {})).status).toBe(200);

    // The bucket refills at the configured rate: not yet just before Retry-After, then one more.
    now += 1_999;
    const early = await ci.call("POST", "/v1/leases", { resourceType: "host" });
    expect(early.status).toBe(429);
    expect(early.headers.get("retry-after")).toBe("1");
    now += 1;
    const refilled = await ci.call("POST", "/v1/leases", { resourceType: "host" });
    expect(refilled.status).toBe(202);
    expect((await ci.call("POST", `/v1/leases/${refilled.body.id}/release`, {})).status).toBe(200);
    expect((await ci.call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(429);
  });

  it("commands: limited per token, separately from lease requests", async () => {
    const lease = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status).toBe(201);
    const run = () => api.call("POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["true"] });
    for (let i = 0; i < 3; i++) expect((await run()).status).toBe(200);
    const limited = await run();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("2");
    // Files are not limited; releasing is not.
    expect((await api.call("GET", `/v1/leases/${lease.body.id}/files`)).status).toBe(200);
    now += 2_000;
    expect((await run()).status).toBe(200);
    expect((await run()).status).toBe(429);
    expect((await api.call("POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
  });
});
