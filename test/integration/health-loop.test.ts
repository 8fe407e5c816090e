import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { HealthLoop } from "../../src/allocator/health-loop";
import type { WorkerContext } from "../../src/allocator/worker-context";
import { LeaseActivations } from "../../src/allocator/lease-activations";
import { matchAttributes } from "../../src/blueprints/attribute-match";
import { no, yes, type BlueprintImplementation } from "../../src/blueprints/blueprint";
import { createBlueprint, updateBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { holdResource, releaseResourceHold } from "../../src/commands/resource-commands";
import { ManualClock } from "../../src/domain/clock";
import { InterfaceUnavailableError } from "../../src/domain/errors";
import { randomIds } from "../../src/domain/ids";
import { parseOrThrow } from "../../src/domain/parse";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { readWholeLog } from "../support/read-log";
import { createTestDatabase, type TestDatabase } from "../support/test-database";
import { runDueWork } from "../support/run-due-work";

/**
 * The health loop without SSH: a test blueprint whose checks answer from a table, two checkers
 * on one database, and a clock moved by hand. Each due resource is checked once per round
 * whatever runs, a success appends nothing, failures break the resource only after
 * `failuresBeforeBroken` in a row, and idle resources the blueprint retires are released.
 */
const INTERVAL_MS = 60_000;
const RETRY_MS = 5_000;
const verdicts = new Map<string, string>(); // resourceId -> why it is unhealthy
const checks: string[] = [];

const checkedConfig = z.object({ retired: z.boolean().default(false) }).strict();
function checkedPool(): BlueprintImplementation<z.infer<typeof checkedConfig>> {
  return {
    kind: "checked-pool",
    resourceType: "checked",
    description: "Test pool with health checks answered from a table.",
    parseConfig: (raw) => parseOrThrow(checkedConfig, raw ?? {}, "config"),
    defaultResourceLimit: () => 10,
    canEverAllocate: (_bp, lease) => matchAttributes(lease.attributes, {}),
    planResource: () => ({ attributes: {}, leaseSlots: 1, locks: [], heldLeases: [] }),
    canAcquire: (_bp, resource) => (resource.liveLeases < resource.leaseSlots ? yes : no("busy")),
    shouldAllocateSupplemental: () => true,
    activateResource: async () => ({}),
    destroyResource: async () => {},
    activateLease: async () => ({ workingDirectory: null }),
    destroyLease: async () => {},
    interfaces: async () => {
      throw new InterfaceUnavailableError("none");
    },
    healthPolicy: () => ({ intervalMs: INTERVAL_MS, failuresBeforeBroken: 2, retryMs: RETRY_MS }),
    async checkHealth(_bp, resource) {
      checks.push(resource.resourceId);
      const why = verdicts.get(resource.resourceId);
      return why ? no(why) : yes;
    },
    retireReason: (bp) => (bp.config.retired ? "the pool is retired" : null),
  };
}

const clock = new ManualClock(new Date("2026-03-01T08:00:00.000Z"));
const actor = { actor: "health-test" };
let database: TestDatabase;
const instances: Drydock[] = [];
let loops: HealthLoop[];

function contextOf(drydock: Drydock, workerId: string): WorkerContext {
  return { db: drydock.database.db, store: drydock.store, registry: drydock.registry, effects: drydock.interfaces, clock, ids: randomIds, random: Math.random, workerId, reclaimIdleMs: 3_600_000, leaseActivations: new LeaseActivations() };
}

/** Runs the allocator's due work to the end (the workers are not started: time is manual). */
const drain = () => runDueWork(instances[0]!, Infinity);

/** Both checkers at once; returns the resources checked in this round. */
async function round(): Promise<string[]> {
  const before = checks.length;
  await Promise.all(loops.map((l) => l.runDue()));
  return checks.slice(before).sort();
}

const statusOf = async (resourceId: string) =>
  (await instances[0]!.database.db.selectFrom("resources").select(["status", "end_reason"]).where("resource_id", "=", resourceId).executeTakeFirstOrThrow());

beforeAll(async () => {
  database = await createTestDatabase();
  for (let i = 0; i < 2; i++) {
    instances.push(
      await createDrydock({ ...(database.url ? { databaseUrl: database.url } : { database }), localHost: false, worker: false, clock, blueprints: [checkedPool()], workerId: `w${i}` }),
    );
  }
  loops = instances.map((d, i) => new HealthLoop(contextOf(d, `checker-${i}`), { concurrency: 4 }));
});

afterAll(async () => {
  for (const d of instances) await d.close();
  await database?.close();
});

describe("health checks of active resources", () => {
  let blueprintId: string;
  let leases: string[];
  let resources: string[];

  it("checks each active resource once per interval across checkers, appending nothing when healthy", async () => {
    blueprintId = await createBlueprint(instances[0]!.commands, { name: "checked", kind: "checked-pool" }, actor);
    leases = await Promise.all(Array.from({ length: 6 }, () => requestLease(instances[0]!.commands, { resourceType: "checked" }, "c", actor)));
    await drain();
    const rows = await instances[0]!.database.db.selectFrom("leases").select(["status", "resource_id"]).where("lease_id", "in", leases).execute();
    expect(rows.every((r) => r.status === "active")).toBe(true);
    resources = rows.map((r) => r.resource_id!).sort();
    expect(new Set(resources).size).toBe(6);

    expect(await round()).toEqual([]); // activation just happened: first check one interval later
    const events = (await readWholeLog(instances[0]!.store)).length;
    clock.advance(INTERVAL_MS);
    expect(await round()).toEqual(resources); // 8 claim slots across two checkers, 6 due: each once
    expect(await round()).toEqual([]);
    expect((await readWholeLog(instances[0]!.store)).length).toBe(events);
  });

  it("breaks a resource after two failed checks in a row; its lease is released with the reason", async () => {
    const [sick] = resources;
    verdicts.set(sick!, "disk full");
    clock.advance(INTERVAL_MS);
    expect(await round()).toEqual(resources);
    expect((await statusOf(sick!)).status).toBe("active"); // one failure is forgiven
    clock.advance(RETRY_MS);
    expect(await round()).toEqual([sick]); // only the failing one is rechecked early
    expect(await statusOf(sick!)).toEqual({ status: "broken", end_reason: "health check failed 2 times in a row: disk full" });

    await drain();
    expect((await statusOf(sick!)).status).toBe("destroyed");
    const lease = await instances[0]!.database.db.selectFrom("leases").select(["lease_id", "status", "end_reason"]).where("resource_id", "=", sick!).executeTakeFirstOrThrow();
    expect(lease.status).toBe("destroyed");
    expect(lease.end_reason).toContain("health check failed 2 times in a row: disk full");
    clock.advance(INTERVAL_MS);
    expect(await round()).toEqual(resources.slice(1)); // the broken one is no longer checked
  });

  it("releases idle resources the blueprint retires, and keeps checking busy ones", async () => {
    await updateBlueprint(instances[0]!.commands, blueprintId, { config: { retired: true } }, actor);
    const idle = resources[1]!;
    const leaseOnIdle = (await instances[0]!.database.db.selectFrom("leases").select("lease_id").where("resource_id", "=", idle).executeTakeFirstOrThrow()).lease_id;
    await releaseLease(instances[0]!.commands, leaseOnIdle, actor);
    await drain();
    clock.advance(INTERVAL_MS);
    expect(await round()).toEqual(resources.slice(2)); // busy ones checked; the idle one released unchecked
    expect(await statusOf(idle)).toEqual({ status: "released", end_reason: "the pool is retired" });
    await drain();
    expect((await statusOf(idle)).status).toBe("destroyed");
  });

  it("keeps an idle resource on hold: not retired while the hold lasts, retired once it is released", async () => {
    const kept = resources[2]!;
    const leaseOnKept = (await instances[0]!.database.db.selectFrom("leases").select("lease_id").where("resource_id", "=", kept).executeTakeFirstOrThrow()).lease_id;
    await holdResource(instances[0]!.commands, kept, { reason: "look at it" }, actor);
    await releaseLease(instances[0]!.commands, leaseOnKept, actor);
    await drain();
    clock.advance(INTERVAL_MS);
    expect(await round()).toContain(kept); // checked like a busy one, not retired
    expect((await statusOf(kept)).status).toBe("active");
    await releaseResourceHold(instances[0]!.commands, kept, null, actor);
    clock.advance(INTERVAL_MS);
    await round();
    expect(await statusOf(kept)).toEqual({ status: "released", end_reason: "the pool is retired" });
    await drain();
    expect((await statusOf(kept)).status).toBe("destroyed");
  });
});
