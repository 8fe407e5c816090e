import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AllocationSnapshot } from "../../src/allocator/allocation-snapshot";
import { createApp } from "../../src/api/app";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { readWholeLog } from "../support/read-log";
import { startApi, type ApiHarness } from "./api-harness";

/** Capacity views read, over every instance: fewer than the requests when kept views serve. */
const reads = vi.hoisted(() => ({ count: 0 }));
vi.mock("../../src/allocator/allocation-snapshot", async (original) => {
  const real = await original<typeof import("../../src/allocator/allocation-snapshot")>();
  return {
    ...real,
    async readAllocationSnapshot(...args: Parameters<typeof real.readAllocationSnapshot>): Promise<AllocationSnapshot> {
      reads.count++;
      return real.readAllocationSnapshot(...args);
    },
  };
});

/**
 * Three instances on one database, each deciding lease requests over the capacity views it keeps
 * (the optimistic acquire), none told of the others' changes but by the database's refusals:
 * clients spread over them loop acquire and release on the local host's slots. The log must
 * show capacity never exceeded, every transition legal, and every lease served and cleaned up.
 */
const INSTANCES = 3;
const SLOTS = 4;
// As many clients as slots: no lease waits in the queue (a waiting lease sends every request of
// its type to a fresh view), so kept views decide, and go stale as the other instances take slots.
const CLIENTS = 4;
const CYCLES = 15;

let api: ApiHarness;
const others: Drydock[] = [];

beforeAll(async () => {
  api = await startApi({}, { localHost: { slots: SLOTS } });
  for (let i = 1; i < INSTANCES; i++) {
    others.push(
      await createDrydock({
        ...(api.database.url ? { databaseUrl: api.database.url, databasePoolSize: 6 } : { database: api.database }),
        localHost: { root: api.root, slots: SLOTS },
        workerId: `other-${i}`,
        onWorkerError: (e) => console.error(e),
      }),
    );
  }
});
afterAll(async () => {
  for (const d of others) await d.close();
  await api?.close();
});

describe("kept capacity views on several instances at once", () => {
  it(`serve ${CLIENTS * CYCLES} lease cycles without exceeding the slots, every transition legal, nothing lost`, async () => {
    const apps = [api.app, ...others.map((d) => createApp(d))];
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => api.client(`load-${i}`)));
    const call = async (instance: number, token: string, method: string, url: string, body?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) };
      const res = await (apps[instance]!.request as (u: string, i: RequestInit) => Promise<Response>)(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const served: string[] = [];
    const readsBefore = reads.count;
    await Promise.all(
      clients.map(async (client, i) => {
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          // Each client stays on its instance (its views kept there), and moves on every third cycle.
          const instance = (i + Math.floor(cycle / 3)) % INSTANCES;
          const lease = await call(instance, client.token, "POST", "/v1/leases?wait=60", { resourceType: "host" });
          expect(lease.status, JSON.stringify(lease.body)).toBe(201);
          served.push(lease.body.id);
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          expect((await call(instance, client.token, "POST", `/v1/leases/${lease.body.id}/release`)).status).toBe(200);
        }
      }),
    );
    const requests = CLIENTS * CYCLES;
    for (const d of [api.drydock, ...others]) await d.worker.idle();
    for (const id of served) await api.pollLease(id, (l) => l.status === "destroyed", 30_000);

    const report = await verifyStoredLog(api.drydock.store);
    expect(report.violations).toEqual([]);
    expect(report.pendingCleanup).toEqual([]);
    expect(Math.max(...Object.values(report.peakLeasesPerResource))).toBeLessThanOrEqual(SLOTS);
    // Nothing lost: every lease served was requested, activated, released and destroyed, once.
    const log = await readWholeLog(api.drydock.store);
    expect(new Set(served).size).toBe(requests);
    for (const id of served) {
      const types = log.filter((e) => e.streamId === `lease-${id}`).map((e) => e.type);
      expect(types.filter((t) => t === "LeaseRequested"), id).toHaveLength(1);
      expect(types.filter((t) => t === "LeaseActivated"), id).toHaveLength(1);
      expect(types.slice(-2), id).toEqual(["LeaseReleased", "LeaseDestroyed"]);
    }
    // No lease was stored that nobody asked for: a refused decision over a kept view stored nothing.
    const asked = log.filter((e) => e.type === "LeaseRequested" && e.metadata.actor.startsWith("load-")).length;
    expect(asked).toBe(requests);
    // Kept views decided many of the requests, and some of those were refused as stale (the
    // other instances had moved on) and made again over a fresh read.
    const total = async (metric: "keptViewDecisions" | "keptViewRefusals") =>
      (await Promise.all([api.drydock, ...others].map(async (d) => (await d.metrics[metric].get()).values[0]?.value ?? 0))).reduce((a, b) => a + b, 0);
    const decided = await total("keptViewDecisions");
    const refused = await total("keptViewRefusals");
    expect(decided).toBeGreaterThan(requests / 4);
    expect(refused).toBeLessThanOrEqual(decided);
    expect(reads.count - readsBefore).toBeGreaterThanOrEqual(requests - decided + refused);
  }, 180_000);
});
