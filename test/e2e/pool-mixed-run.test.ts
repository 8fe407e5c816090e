import { afterAll, beforeAll, expect, it } from "vitest";
import type { RecordedEvent } from "../../events/envelope";
import type { LeaseEventData } from "../../events/lease-events";
import type { ResourceEventData } from "../../events/resource-events";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { readWholeLog } from "../support/read-log";
import { statesDifferingFromLog } from "../support/stored-states";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Every pool policy of issue #11 at once, on one blueprint, with the background worker and the
 * real clock: a warm pool (minReady 1), recycling by count (maxLeasesPerResource 3), a cap on
 * renewals (maxLeaseSeconds 600), a client with a quota of 2 live leases beside one without, lease
 * priorities, and an admin's hold in the middle. Clients run their jobs concurrently. Afterwards
 * the log must verify, and each policy's promise is checked from the log alone, over the whole
 * run: no resource served more than 3 leases, the client with a quota waited on it and never held more than 2, no lease landed on the held resource while it was held, every renewal ended within the cap,
 * the blueprint never had more than its 3 resources, and one resource is kept ready at the end.
 */
let api: ApiHarness;
let bp: string;
const JOBS_PER_WORKER = 6;
const WORKERS_PER_CLIENT = 3;

beforeAll(async () => {
  api = await startApi({}, { localHost: false, blueprints: [memoryPoolBlueprint()] });
  const made = await api.call("POST", "/v1/blueprints", {
    name: "mixed",
    kind: "memory-pool",
    config: { slots: 2 },
    resourceLimit: 3,
    minReady: 1,
    maxLeasesPerResource: 3,
    maxLeaseSeconds: 600,
  });
  expect(made.status, made.text).toBe(201);
  bp = made.body.id;
});

afterAll(async () => {
  await api?.close();
});

type Caller = Awaited<ReturnType<ApiHarness["client"]>>;

/** One CI worker of a client: lease, renew past the cap, use it a moment, release; again. */
async function jobs(client: Pick<Caller, "call">, priority: () => number, leases: string[]) {
  for (let i = 0; i < JOBS_PER_WORKER; i++) {
    const asked = await client.call("POST", "/v1/leases?wait=30", { resourceType: "sandbox", blueprintIds: [bp], priority: priority(), ttlSeconds: 300 });
    expect([201, 202], asked.text).toContain(asked.status);
    const id = asked.body.id as string;
    leases.push(id);
    const active = await waitUntil(`lease ${id} to be active`, async () => {
      const l = (await client.call("GET", `/v1/leases/${id}`)).body;
      return l.status === "active" ? l : undefined;
    }, 60_000, { intervalMs: 25, seen: async () => (await client.call("GET", `/v1/leases/${id}`)).body.waitReason });
    const renewed = await client.call("POST", `/v1/leases/${id}/renew`, { ttlSeconds: 3600 });
    expect(renewed.status, `${renewed.text}; the lease: ${JSON.stringify((await client.call("GET", `/v1/leases/${id}`)).body)}`).toBe(200);
    expect(renewed.body.capped).toEqual({ maxLeaseSeconds: 600, at: new Date(Date.parse(active.requestedAt) + 600_000).toISOString() });
    await new Promise((r) => setTimeout(r, 10 + Math.floor(Math.random() * 40)));
    expect((await client.call("POST", `/v1/leases/${id}/release`)).status).toBe(200);
  }
}

it("runs every pool policy at once; the log verifies and shows each policy kept", { timeout: 240_000 }, async () => {
  // team-q asks with a token that carries a quota of 2 live leases; team-p has none, and lowers its priority at times.
  await api.client("team-q", { blueprintIds: [bp] });
  const quotaToken = await api.call("POST", "/v1/tokens", { owner: "team-q", role: "client", leaseQuota: { maxLiveLeases: 2 } });
  expect(quotaToken.status).toBe(201);
  const teamQ = api.as(quotaToken.body.token);
  const teamP = await api.client("team-p", { blueprintIds: [bp] });
  const leases: string[] = [];

  const run = Promise.all([
    ...Array.from({ length: WORKERS_PER_CLIENT }, () => jobs(teamQ, () => 0, leases)),
    ...Array.from({ length: WORKERS_PER_CLIENT }, () => jobs(teamP, () => (Math.random() < 0.5 ? -5 : 0), leases)),
  ]);
  // An admin holds one active resource for a moment in the middle of the run, then lets it go.
  const held = await waitUntil("an active resource to hold", async () => {
    const items = (await api.call("GET", `/v1/resources?blueprintId=${bp}&status=active`)).body.items as { id: string }[];
    return items[0];
  }, 30_000, { intervalMs: 25 });
  const hold = await api.call("POST", `/v1/resources/${held.id}/hold`, { reason: "mixed-run look", untilSeconds: 600 });
  // It may have been recycled a moment before: then there is nothing to hold, which is the policy's right.
  expect([200, 409], hold.text).toContain(hold.status);
  await new Promise((r) => setTimeout(r, 300));
  if (hold.status === 200) expect((await api.call("DELETE", `/v1/resources/${held.id}/hold?reason=done`)).status).toBe(200);
  await run;

  expect(leases).toHaveLength(2 * WORKERS_PER_CLIENT * JOBS_PER_WORKER);
  await waitUntil("every lease to be destroyed", async () => {
    const statuses = await Promise.all(leases.map(async (id) => (await api.call("GET", `/v1/leases/${id}`)).body.status));
    return statuses.every((s) => s === "destroyed") ? true : undefined;
  }, 60_000);
  // The warm pool settles: one resource ready (active, no lease), the recycled ones gone.
  await waitUntil("the pool to keep one resource ready and let the recycled go", async () => {
    const items = (await api.call("GET", `/v1/resources?blueprintId=${bp}&limit=200`)).body.items as { status: string; liveLeases: number }[];
    const live = items.filter((r) => r.status !== "destroyed");
    return live.length >= 1 && live.every((r) => r.status === "active" && r.liveLeases === 0) ? true : undefined;
  }, 60_000);

  const report = await verifyStoredLog(api.drydock.store, { now: new Date(), graceMs: 60_000 });
  expect(report.violations).toEqual([]);
  // What commands and steps decide from is what a replay would rebuild, for every stream.
  expect(await statesDifferingFromLog(api.drydock.database.db)).toEqual([]);
  const log = await readWholeLog(api.drydock.store);
  const checks = checkPolicies(log, quotaToken.body.id, held.id);
  expect(checks.mostLeasesOnOneResource).toBeLessThanOrEqual(3);
  expect(checks.recycledByCount).toBeGreaterThan(0);
  // The quota was in play (team-q's leases waited on it) and held under racing allocators: each
  // acquisition took one of team-q's 2 quota numbers, so it never had 3 live leases.
  expect(checks.waitedOnQuota).toBeGreaterThan(0);
  expect(checks.mostLiveOfQuotaToken).toBe(2);
  expect(checks.acquiredWhileHeld).toEqual([]);
  expect(checks.renewalsPastCap).toEqual([]);
  expect(checks.renewals).toBe(leases.length);
  expect(checks.mostLiveResources).toBeLessThanOrEqual(3);
  expect(checks.builtForWarmPool).toBeGreaterThan(0);
});

/** Each policy's promise, judged from the log in global order. */
function checkPolicies(log: readonly RecordedEvent[], quotaTokenId: string, heldId: string) {
  const leasesOn = new Map<string, number>();
  const quotaLeases = new Set<string>();
  const liveQuota = new Set<string>();
  const requestedAt = new Map<string, number>();
  let mostLiveOfQuotaToken = 0;
  let waitedOnQuota = 0;
  let recycledByCount = 0;
  let builtForWarmPool = 0;
  let heldNow = false;
  const acquiredWhileHeld: string[] = [];
  const renewalsPastCap: string[] = [];
  let renewals = 0;
  const liveResources = new Set<string>();
  let mostLiveResources = 0;
  for (const e of log) {
    const id = e.streamId.slice(e.streamId.indexOf("-") + 1);
    switch (e.type) {
      case "LeaseRequested":
        requestedAt.set(id, e.recordedAt.getTime());
        if ((e.metadata as { tokenId?: string }).tokenId === quotaTokenId) quotaLeases.add(id);
        break;
      case "LeaseAcquired": {
        const d = e.data as LeaseEventData<"LeaseAcquired">;
        leasesOn.set(d.resourceId, (leasesOn.get(d.resourceId) ?? 0) + 1);
        if (heldNow && d.resourceId === heldId) acquiredWhileHeld.push(id);
        if (quotaLeases.has(id)) liveQuota.add(id);
        mostLiveOfQuotaToken = Math.max(mostLiveOfQuotaToken, liveQuota.size);
        break;
      }
      case "LeaseReleased":
      case "LeaseBroken":
      case "LeaseReacquiring":
        liveQuota.delete(id);
        break;
      case "LeaseWaiting":
        if (quotaLeases.has(id) && (e.data as LeaseEventData<"LeaseWaiting">).cause === "quota") waitedOnQuota++;
        break;
      case "LeaseRenewed": {
        renewals++;
        const d = e.data as LeaseEventData<"LeaseRenewed">;
        if (Date.parse(d.expiresAt) > requestedAt.get(id)! + 600_000) renewalsPastCap.push(id);
        break;
      }
      case "ResourceAllocated": {
        const d = e.data as ResourceEventData<"ResourceAllocated"> & { reason?: string | null };
        liveResources.add(id);
        mostLiveResources = Math.max(mostLiveResources, liveResources.size);
        if (d.reason?.startsWith("warm pool: minReady 1")) builtForWarmPool++;
        break;
      }
      case "ResourceReleased":
        if (String((e.data as { reason?: string }).reason ?? "").startsWith("recycled: maxLeasesPerResource 3")) recycledByCount++;
        break;
      case "ResourceDestroyed":
        liveResources.delete(id);
        break;
      case "ResourceHeld":
        if (id === heldId) heldNow = true;
        break;
      case "ResourceHoldReleased":
        if (id === heldId) heldNow = false;
        break;
      default:
        break;
    }
  }
  return { mostLeasesOnOneResource: Math.max(...leasesOn.values()), recycledByCount, mostLiveOfQuotaToken, waitedOnQuota, acquiredWhileHeld, renewalsPastCap, renewals, mostLiveResources, builtForWarmPool };
}
