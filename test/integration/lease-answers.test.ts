import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asJsonb } from "../../src/queries/jsonb-order";
import { startApi, type ApiHarness } from "../e2e/api-harness";
import { testDialect } from "../support/test-database";
import { waitUntil } from "../support/wait-until";

/**
 * The answers of a `?wait` acquisition and of a release are made from the state the request
 * appended (src/api/recent-lease.ts), not read from the lease's row: they must be the row's
 * answer byte for byte, GET /v1/leases/{id}'s, attributes' key order included.
 */
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi({ rateLimits: { leases: null, commands: null } }, { localHost: { slots: 1 } });
});

afterAll(async () => {
  await api?.close();
});

const post = (url: string, body: unknown) => api.call("POST", url, body);
const getText = async (id: string) => (await api.call("GET", `/v1/leases/${id}`)).text;

describe(`lease answers from the appended state (${testDialect})`, () => {
  it("asJsonb gives a value back as a jsonb column does", async () => {
    const values: unknown[] = [
      { zone: "a", os: "linux", arch: "x64", b: 1, a: 2, aa: 3, "10": 1, "2": 2, é: 1, e: 2, "€": 3, Z: 4 },
      { nested: { yy: [{ b: 1, a: 2 }, 3, "x"], x: null }, list: [3, 1, 2], skip: undefined, big: 1e21, tiny: 5e-324, neg: -0, inf: Infinity, frac: 0.30000000000000004 },
      {},
      [],
    ];
    for (const value of values) {
      const { rows } = await sql<{ v: unknown }>`SELECT ${JSON.stringify(value)}::jsonb AS v`.execute(api.database.db);
      expect(JSON.stringify(asJsonb(value))).toBe(JSON.stringify(rows[0]!.v));
    }
  });

  it("answers an acquisition and a release as the lease's row does", async () => {
    // The first lease builds the local host; its attributes are what a lease may ask for.
    const first = JSON.parse((await post("/v1/leases?wait=30", { resourceType: "host" })).text);
    expect(first.status).toBe("active");
    const resource = await api.drydock.database.db.selectFrom("resources").select("attributes").where("resource_id", "=", first.resourceId).executeTakeFirstOrThrow();
    const { os, arch } = resource.attributes as { os: string; arch: string };
    await post(`/v1/leases/${first.id}/release`, {});
    await waitUntil("first lease destroyed", async () => (await api.drydock.database.db.selectFrom("leases").select("status").where("lease_id", "=", first.id).executeTakeFirstOrThrow()).status === "destroyed", 10_000);
    // No teardown in the background from here on, so the row stays as the release left it.
    await api.drydock.worker.stop();

    // Keys asked in the order jsonb does not keep.
    const acquired = await post("/v1/leases?wait=30", { resourceType: "host", attributes: { arch, os } });
    expect(acquired.status).toBe(201);
    const id = JSON.parse(acquired.text).id as string;
    expect(acquired.text).toBe(await getText(id));

    // A second lease waits for the one slot: its release's answer keeps its wait reason, as its row does.
    const waiting = await post("/v1/leases?wait=0.2", { resourceType: "host" });
    expect(waiting.status).toBe(202);
    const waitingId = JSON.parse(waiting.text).id as string;
    expect(JSON.parse(waiting.text).waitReason).not.toBeNull();
    const releasedWaiting = await post(`/v1/leases/${waitingId}/release`, {});
    expect(releasedWaiting.status).toBe(200);
    expect(JSON.parse(releasedWaiting.text).waitReason).not.toBeNull();
    expect(releasedWaiting.text).toBe(await getText(waitingId));

    const released = await post(`/v1/leases/${id}/release`, {});
    expect(released.status).toBe(200);
    expect(JSON.parse(released.text).status).toBe("released");
    expect(released.text).toBe(await getText(id));
  });
});
