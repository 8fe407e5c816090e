import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app";
import { createDrydock } from "../../src/service/drydock";
import { until } from "../support/ssh-pool";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * GET /metrics as Prometheus scrapes it: who may read it, what a lease cycle and a
 * misconfigured blueprint show in it, the same pool numbers from a second process, and the
 * shipped dashboard and alert rules asking only for metrics that exist.
 */
let api: ApiHarness;
let metricsToken: string;

beforeAll(async () => {
  api = await startApi();
  const issued = await api.call("POST", "/v1/tokens", { owner: "prometheus", role: "metrics" });
  expect(issued.status, issued.text).toBe(201);
  metricsToken = issued.body.token;
});

afterAll(async () => {
  await api?.close();
});

async function scrape(token = metricsToken, app = api.app): Promise<string> {
  const res = await app.request("/metrics", { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
}

/** The value of one series (labels in any order), or undefined when absent. */
function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe("GET /metrics", () => {
  it("answers an admin or a metrics token; a metrics token reads nothing else, a client nothing here", async () => {
    expect((await api.app.request("/metrics", { headers: { Authorization: "" } })).status).toBe(401);
    const client = await api.client("metrics-client");
    expect((await client.call("GET", "/metrics")).status).toBe(403);
    expect((await api.as(metricsToken).call("GET", "/v1/leases")).status).toBe(403);
    expect((await api.as(metricsToken).call("POST", "/v1/leases", { resourceType: "host" })).status).toBe(403);
    expect((await api.app.request("/metrics")).status).toBe(200);
  });

  it("counts a lease cycle: leases by status, the decision, the wait, the appends and the requests", async () => {
    const lease = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(lease.status, lease.text).toBe(201);
    const during = await scrape();
    expect(valueOf(during, "drydock_leases", { status: "active", resource_type: "host" })).toBe(1);
    expect(valueOf(during, "drydock_allocation_decisions_total", { outcome: "built" })! + (valueOf(during, "drydock_allocation_decisions_total", { outcome: "free" }) ?? 0)).toBeGreaterThanOrEqual(1);
    expect(valueOf(during, "drydock_lease_wait_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(valueOf(during, "drydock_events_appended_total", { type: "LeaseActivated" })).toBeGreaterThanOrEqual(1);
    expect(valueOf(during, "drydock_event_append_seconds_count")).toBeGreaterThan(0);
    expect(valueOf(during, "drydock_http_requests_total", { method: "POST", route: "/v1/leases", status: "201" })).toBe(1);

    await api.call("POST", `/v1/leases/${lease.body.id}/release`, {});
    await api.pollLease(lease.body.id, (l) => l.status === "destroyed");
    const after = await scrape();
    expect(valueOf(after, "drydock_leases", { status: "active", resource_type: "host" })).toBeUndefined();
    expect(valueOf(after, "drydock_http_requests_total", { method: "POST", route: "/v1/leases/:id/release", status: "200" })).toBe(1);
    // Ids never become label values.
    expect(after).not.toContain(lease.body.id);
  });

  it("shows a blueprint failing with a configuration error, and the lease waiting for it", async () => {
    const keyEnv = "DRYDOCK_TEST_METRICS_KEY";
    process.env[keyEnv] = "not a key, never read";
    const host = { name: "cfg-1", address: "127.0.0.1", port: 9, user: "drydock", privateKey: { env: keyEnv }, hostKeyFingerprint: "SHA256:eDPnVD1vKTipcNO1uk8ofkrp108f7uLRrxywzeu2xUA" };
    const created = await api.call("POST", "/v1/blueprints", { name: "metrics-misconfigured", kind: "static-hosts", config: { hosts: [host] } });
    expect(created.status, created.text).toBe(201);
    delete process.env[keyEnv];
    const waiting = await api.call("POST", "/v1/leases", { resourceType: "host", blueprintIds: [created.body.id] });
    await api.pollLease(waiting.body.id, (l) => /^configuration error/.test(l.waitReason ?? ""), 20_000);

    const text = await until("the failing target to show", async () => {
      const t = await scrape();
      return valueOf(t, "drydock_blueprint_failing_targets", { blueprint: created.body.id }) === 1 ? t : undefined;
    });
    expect(valueOf(text, "drydock_blueprint_failing_targets", { blueprint: created.body.id, name: "metrics-misconfigured" })).toBe(1);
    expect(valueOf(text, "drydock_provider_errors_total", { blueprint: created.body.id, code: "bad_key", kind: "configuration" })).toBe(1);
    expect(valueOf(text, "drydock_leases", { status: "pending", resource_type: "host" })).toBe(1);
    expect(valueOf(text, "drydock_lease_oldest_pending_seconds", { resource_type: "host" })).toBeGreaterThanOrEqual(0);
    await api.call("POST", `/v1/leases/${waiting.body.id}/release`, {});
  });

  it("reports the same pool from a second process on the same database", async () => {
    const held = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(held.status).toBe(201);
    const other = await createDrydock({ database: api.database, localHost: false, worker: false });
    try {
      const otherApp = createApp(other);
      const [mine, theirs] = [await scrape(), await scrape(metricsToken, otherApp)];
      for (const text of [mine, theirs]) expect(valueOf(text, "drydock_leases", { status: "active", resource_type: "host" })).toBe(1);
      expect(valueOf(theirs, "drydock_resources", { status: "active" })).toBe(valueOf(mine, "drydock_resources", { status: "active" }));
      // Its own counters are its own: it appended nothing.
      expect(valueOf(theirs, "drydock_events_appended_total", { type: "LeaseActivated" })).toBeUndefined();
    } finally {
      await other.close();
      await api.call("POST", `/v1/leases/${held.body.id}/release`, {});
    }
  });

  it("counts event-stream clients while they are connected", async () => {
    const controller = new AbortController();
    const res = await api.app.request("/v1/events/stream", { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    expect(valueOf(await scrape(), "drydock_event_stream_clients")).toBe(1);
    controller.abort();
    await reader.cancel().catch(() => {});
    await until("the stream to close", async () => valueOf(await scrape(), "drydock_event_stream_clients") === 0);
  });

  it("ships a dashboard and alert rules that ask only for metrics /metrics serves", async () => {
    const served = new Set([...(await scrape()).matchAll(/^# TYPE (\w+) (\w+)$/gm)].flatMap((m) => (m[2] === "histogram" ? [`${m[1]}_bucket`, `${m[1]}_count`, `${m[1]}_sum`] : [m[1]!])));
    const dashboard = JSON.parse(await readFile("docs/grafana-dashboard.json", "utf8")) as { panels: { targets: { expr: string }[] }[] };
    const rules = await readFile("docs/alert-rules.yml", "utf8");
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...[...rules.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!)];
    expect(exprs.length).toBeGreaterThan(10);
    const asked = new Set(exprs.flatMap((e) => [...e.matchAll(/\bdrydock_\w+/g)].map((m) => m[0])));
    expect([...asked].filter((name) => !served.has(name))).toEqual([]);
  });
});
