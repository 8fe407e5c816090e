import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock";
import { until } from "../support/ssh-pool";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Tokens that end: issued with `expiresInSeconds`, refused from then on like a revoked one, and an
 * open event stream ends within a few seconds of its token being revoked or expiring. Time is a
 * clock the test moves, so "expired" never depends on how fast the machine is.
 */
const clock = new ManualClock(new Date());
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({}, { clock });
});

afterAll(async () => {
  await api?.close();
});

describe("tokens that end", () => {
  it("works until its expiresAt, then gets the same 401 as a revoked one, and lists as expired", async () => {
    const issued = await api.call("POST", "/v1/tokens", { owner: "short-lived", role: "client", expiresInSeconds: 3600 });
    expect(issued.status, issued.text).toBe(201);
    expect(issued.body.expiresAt).toBe(new Date(clock.now().getTime() + 3_600_000).toISOString());
    const client = api.as(issued.body.token);
    expect((await client.call("GET", "/v1/leases")).status).toBe(200);

    clock.advance(3_600_000 - 1000);
    expect((await client.call("GET", "/v1/leases")).status).toBe(200);
    clock.advance(1000);
    const refused = await client.call("GET", "/v1/leases");
    expect(refused.status).toBe(401);
    const revoked = await api.call("POST", "/v1/tokens", { owner: "short-lived", role: "client" });
    await api.call("DELETE", `/v1/tokens/${revoked.body.id}`, {});
    expect((await api.as(revoked.body.token).call("GET", "/v1/leases")).body).toEqual(refused.body);

    expect((await api.call("GET", `/v1/tokens?owner=short-lived`)).body.items.map((t: { id: string; status: string }) => [t.id, t.status])).toEqual(
      expect.arrayContaining([
        [issued.body.id, "expired"],
        [revoked.body.id, "revoked"],
      ]),
    );
  });

  it("refuses an expiry that is not a whole number of seconds, naming the field; appends nothing", async () => {
    const before = await api.eventCount();
    for (const bad of [0, -5, 1.5, "3600"]) {
      const res = await api.call("POST", "/v1/tokens", { owner: "bad-expiry", role: "client", expiresInSeconds: bad });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain("expiresInSeconds");
    }
    expect(await api.eventCount()).toBe(before);
  });
});

describe("an open event stream", () => {
  it.each([
    ["revoked", async (id: string) => void (await api.call("DELETE", `/v1/tokens/${id}`, {}))],
    ["expired", async () => clock.advance(120_000)],
  ])("ends within a few seconds of its token being %s, saying why", async (_how, end) => {
    const issued = await api.call("POST", "/v1/tokens", { owner: "watcher", role: "admin", expiresInSeconds: 60 });
    const res = await api.app.request("/v1/events/stream", { headers: { Authorization: `Bearer ${issued.body.token}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const done = (async () => {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return;
        text += decoder.decode(chunk.value);
      }
    })();
    await until("the stream to start", async () => text.includes("retry:"));
    await end(issued.body.id);
    await until("the stream to end", async () => Promise.race([done.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))]), 10_000);
    expect(text).toContain("event: end");
    expect(text).toContain("the token was revoked or has expired");
    // Reconnecting gets the 401.
    expect((await api.app.request("/v1/events/stream", { headers: { Authorization: `Bearer ${issued.body.token}` } })).status).toBe(401);
  });
});
