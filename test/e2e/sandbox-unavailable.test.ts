/**
 * Where no sandbox can be set up, the local host refuses client leases with the reason instead
 * of running them unconfined; an admin may opt the blueprint out, and then they run as before.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiClient, type ApiHarness } from "./api-harness";

let api: ApiHarness;
let client: ApiClient;

beforeAll(async () => {
  const host = { unavailable: "bubblewrap (bwrap) is not installed: install Debian's bubblewrap package", user: null, cgroupRoot: null, readOnlyPaths: [] };
  api = await startApi({}, { sandbox: { host } });
  client = await api.client("ci");
});
afterAll(async () => {
  await api?.close();
});

describe("a local host that cannot sandbox", () => {
  it("refuses a client's lease with the reason, and appends nothing", async () => {
    const before = await api.eventCount();
    const res = await client.call("POST", "/v1/leases?wait=5", { resourceType: "host" });
    expect(res.status).toBe(422);
    const reasons = JSON.stringify(res.body.error.details.blueprints);
    expect(reasons).toContain("cannot sandbox client leases");
    expect(reasons).toContain("bubblewrap");
    expect(await api.eventCount()).toBe(before);
  });

  it("still serves an admin's lease, which is never sandboxed", async () => {
    const res = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(res.status).toBe(201);
    const id = await api.call("POST", `/v1/leases/${res.body.id}/commands`, { argv: ["id", "-u"] });
    expect(id.body.stdout.trim()).toBe(String(process.getuid!()));
    await api.call("POST", `/v1/leases/${res.body.id}/release`, {});
  });

  it('serves client leases unconfined once an admin sets "sandbox": false', async () => {
    const blueprintId = await api.localHostBlueprintId();
    const current = await api.call("GET", `/v1/blueprints/${blueprintId}`);
    expect((await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...current.body.config, sandbox: false } })).status).toBe(200);
    const res = await client.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(res.status).toBe(201);
    const id = await client.call("POST", `/v1/leases/${res.body.id}/commands`, { argv: ["id", "-u"] });
    expect(id.body.stdout.trim()).toBe(String(process.getuid!()));
    await client.call("POST", `/v1/leases/${res.body.id}/release`, {});
  });

  it("names the field of a bad sandbox setting", async () => {
    const blueprintId = await api.localHostBlueprintId();
    const current = await api.call("GET", `/v1/blueprints/${blueprintId}`);
    const bad = await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { ...current.body.config, sandbox: { maxProcesses: 1 } } });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("sandbox");
  });
});
