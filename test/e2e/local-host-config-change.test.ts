/**
 * A config change to the local host's `root` moves new resources only: live leases keep their
 * directories (found by the resource's own root), and are cleaned up where they are.
 */
import { stat } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHarness } from "./api-harness";

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

describe("PATCHing the local host's config while a lease is live", () => {
  it("keeps the lease's files where they are, and removes them there when the lease ends", async () => {
    const lease = await api.call("POST", "/v1/leases?wait=30", { resourceType: "host" });
    expect(lease.status).toBe(201);
    const id = lease.body.id;
    expect((await api.call("PUT", `/v1/leases/${id}/files/kept.txt`, "still here", { "content-type": "text/plain" })).status).toBe(204);
    const pwd = await api.call("POST", `/v1/leases/${id}/commands`, { argv: ["pwd"] });
    const dir = pwd.body.stdout.trim();

    const blueprintId = await api.localHostBlueprintId();
    // No `root`: the config's root goes back to its default, somewhere else entirely.
    const patched = await api.call("PATCH", `/v1/blueprints/${blueprintId}`, { config: { slots: 3 } });
    expect(patched.status).toBe(200);

    const read = await api.call("GET", `/v1/leases/${id}/files/kept.txt`);
    expect(read.status).toBe(200);
    expect(read.text).toBe("still here");
    const cat = await api.call("POST", `/v1/leases/${id}/commands`, { argv: ["cat", "kept.txt"] });
    expect(cat.body.stdout).toBe("still here");

    expect((await api.call("POST", `/v1/leases/${id}/release`, {})).status).toBe(200);
    await api.pollLease(id, (l) => l.status === "destroyed", 30_000);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});
