import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

/** Per-token rate limits on lease requests and commands: 429 with Retry-After, nothing appended. */
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({ rateLimits: { leases: { perSecond: 0.5, burst: 2 }, commands: { perSecond: 0.5, burst: 3 } } });
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
    // Half a request per second: the next one in at most 2 s (less if the first two were slow).
    expect([1, 2]).toContain(limited.body.error.details.retryAfterSeconds);
    expect(limited.headers.get("retry-after")).toBe(String(limited.body.error.details.retryAfterSeconds));
    expect(await api.eventCount()).toBe(before);

    expect((await ci.call("GET", "/v1/leases")).status).toBe(200);
    for (const id of ids) expect((await ci.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
    const ops = await api.client("ops");
    expect((await ops.call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(202);
  });

  it("commands: limited per token, separately from lease requests", async () => {
    const lease = await api.call("POST", "/v1/leases?wait=10", { resourceType: "host" });
    expect(lease.status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await api.call("POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["true"] })).status).toBe(200);
    const limited = await api.call("POST", `/v1/leases/${lease.body.id}/commands`, { argv: ["true"] });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Files are not limited; releasing is not.
    expect((await api.call("GET", `/v1/leases/${lease.body.id}/files`)).status).toBe(200);
    expect((await api.call("POST", `/v1/leases/${lease.body.id}/release`, {})).status).toBe(200);
  });
});
