import { describe, expect, it } from "vitest";
import { recordedPolicy, type PoolPolicy } from "../../src/simulate/policy";
import { percentile, poolMetrics } from "../../src/simulate/pool-metrics";
import { simulatePool } from "../../src/simulate/simulate-pool";
import { formatSimulation, simulationReport } from "../../src/simulate/simulation-report";
import type { Workload, WorkloadLease } from "../../src/simulate/workload";
import { memoryPoolBlueprint } from "../support/test-blueprints";

/**
 * The pure core on synthetic workloads: a memory pool (limit 1, one slot, builds take 1 s) and
 * leases that each hold for 2 s once active. Times are milliseconds from 0.
 */
const pool = memoryPoolBlueprint();
const implementationOf = (kind: string) => (kind === pool.kind ? pool : undefined);
const T0 = Date.parse("2026-01-01T00:00:00Z");

function lease(id: string, requestedAt: number, holdMs: number | null, extra: Partial<WorkloadLease> = {}): WorkloadLease {
  // Recorded times only matter through the hold (end − activation) and, for a lease that never activated, its end.
  return {
    leaseId: id,
    resourceType: "sandbox",
    attributes: {},
    blueprintIds: null,
    owner: `owner-${id}`,
    ownerResourceId: null,
    authorizingObject: null,
    priority: 0,
    quota: null,
    requestedAt: T0 + requestedAt,
    activatedAt: holdMs === null ? null : T0 + requestedAt,
    endedAt: holdMs === null ? null : T0 + requestedAt + holdMs,
    ended: holdMs === null ? null : "released",
    ...extra,
  };
}

function workload(leases: WorkloadLease[], limit: number | null = 1): Workload {
  return {
    window: { from: T0, to: T0 + 60_000 },
    blueprints: [{ blueprintId: "bp1", name: "pool", kind: "memory-pool", resourceType: "sandbox", config: { slots: 1 }, resourceLimit: limit, enabled: true, createdAt: T0 - 1, changes: [], buildMs: 1000, builds: 3, latencyMs: 0, activations: 0 }],
    leases,
    initialPool: [],
    carried: [],
    resources: [],
  };
}

const run = (w: Workload, policy: PoolPolicy = recordedPolicy) => simulatePool({ workload: w, policy, implementationOf, reclaimIdleMs: 300_000 });
const waits = (outcome: ReturnType<typeof run>) => Object.fromEntries(outcome.leases.map((l) => [l.leaseId, l.activatedAt === null ? null : l.activatedAt - l.requestedAt]));
const policy = (p: Partial<PoolPolicy>): PoolPolicy => ({ ...recordedPolicy, ...p });

describe("simulatePool", () => {
  const three = workload([lease("a", 0, 2000), lease("b", 100, 2000), lease("c", 200, 2000)]);

  it("queues leases behind a full pool: one build, then each waits for the one before it", () => {
    const outcome = run(three);
    expect(waits(outcome)).toEqual({ a: 1000, b: 2900, c: 4800 });
    expect(outcome.resources).toHaveLength(1);
    expect(outcome.leases.map((l) => l.ended)).toEqual(["released", "released", "released"]);
  });

  it("a lease activates its blueprint's recorded allocator latency after its capacity is there", () => {
    const slow = { ...three, blueprints: [{ ...three.blueprints[0]!, latencyMs: 100 }] };
    expect(waits(run(slow))).toEqual({ a: 1100, b: 3100, c: 5100 });
  });

  it("a higher limit builds more resources: waits shorten to the build time, peak resources rise", () => {
    const outcome = run(three, policy({ limit: { bp1: 3 } }));
    expect(waits(outcome)).toEqual({ a: 1000, b: 1000, c: 1000 });
    const m = poolMetrics(outcome, three.window, 1500);
    expect(m.peakResources).toBe(3);
    expect(poolMetrics(run(three), three.window, 1500)).toMatchObject({ peakResources: 1, waitedOver: 2 });
    expect(m.waitedOver).toBe(0);
  });

  it("more slots per resource serve more leases on one resource", () => {
    const outcome = run(three, policy({ slots: { bp1: 3 } }));
    expect(waits(outcome)).toEqual({ a: 1000, b: 900, c: 800 });
    expect(outcome.resources).toHaveLength(1);
  });

  it("serves a higher priority first, as the fair queue does", () => {
    expect(waits(run(three, policy({ priority: { "owner-c": 10 } })))).toEqual({ a: 1000, b: 4900, c: 2800 });
  });

  it("keeps each lease's recorded quota: one live lease at a time for its owner, whatever the capacity", () => {
    const quota = { maxLiveLeasesOfType: 1 };
    const w = workload([lease("a", 0, 2000, { owner: "ci", quota }), lease("b", 100, 2000, { owner: "ci", quota }), lease("c", 200, 2000)], 3);
    // b waits for a's end although the limit would build for it; c (another owner, no quota) does not.
    expect(waits(run(w))).toEqual({ a: 1000, b: 2900, c: 1000 });
  });

  it("a warm pool has a resource ready before the first lease comes", () => {
    const late = workload([lease("a", 5000, 2000)]);
    expect(waits(run(late))).toEqual({ a: 1000 });
    const warm = run(late, policy({ minReady: { bp1: 1 } }));
    expect(waits(warm)).toEqual({ a: 0 });
    // Kept ready: one built at the start, and once it is taken none more (the limit is 1).
    expect(warm.resources).toHaveLength(1);
    expect(warm.resources[0]!.allocatedAt).toBe(T0);
    // The recorded policy keeps a recorded warm pool (the blueprint's minReady), as the service did.
    const recordedWarm = { ...late, blueprints: [{ ...late.blueprints[0]!, minReady: 1 }] };
    expect(waits(run(recordedWarm))).toEqual({ a: 0 });
    // --min-ready 0 turns it off; a recorded change inside the window turns it on from then.
    expect(waits(run(recordedWarm, policy({ minReady: { bp1: 0 } })))).toEqual({ a: 1000 });
    const turnedOn = { ...late, blueprints: [{ ...late.blueprints[0]!, changes: [{ at: T0 + 1000, minReady: 1 }] }] };
    expect(waits(run(turnedOn))).toEqual({ a: 0 });
  });

  it("a lease recorded as cancelled while it waited gives up at the same time; a faster pool serves it", () => {
    const cancelled = lease("b", 100, null, { endedAt: T0 + 1500, ended: "released" });
    const w = workload([lease("a", 0, 2000), cancelled]);
    const same = run(w);
    expect(same.leases[1]).toMatchObject({ activatedAt: null, ended: "cancelled", endedAt: T0 + 1500 });
    const more = run(w, policy({ limit: { bp1: 2 } }));
    expect(more.leases[1]).toMatchObject({ activatedAt: T0 + 1100, ended: "released", endedAt: T0 + 1500 });
  });

  it("a lease that never ended holds its resource for good; the next one waits forever", () => {
    const outcome = run(workload([lease("a", 0, null, { activatedAt: T0 + 10 }), lease("b", 100, 2000)]));
    expect(waits(outcome)).toEqual({ a: 1000, b: null });
    expect(poolMetrics(outcome, { from: T0, to: T0 + 60_000 }, 60_000).waitedOver).toBe(1);
  });

  it("after a config change, reclaims the idle resource the new leases cannot use once it has been idle long enough", () => {
    const w = workload([lease("a", 0, 1000), lease("b", 3000, 1000, { attributes: { labels: ["gpu"] } })]);
    w.blueprints[0]!.changes.push({ at: T0 + 2500, config: { slots: 1, labels: ["gpu"] } });
    // a's resource (no labels) is idle from 2000; b cannot use it and the limit is 1: reclaimed at
    // 2000 + 5000, then b's own build takes 1 s.
    const outcome = simulatePool({ workload: w, policy: recordedPolicy, implementationOf, reclaimIdleMs: 5000 });
    expect(waits(outcome)).toEqual({ a: 1000, b: 5000 });
    expect(outcome.resources.map((r) => r.endedAt)).toEqual([T0 + 7000, null]);
  });

  it("is deterministic: the same input gives the same outcome", () => {
    expect(run(three, policy({ limit: { bp1: 2 } }))).toEqual(run(three, policy({ limit: { bp1: 2 } })));
  });
});

describe("pool metrics and the report", () => {
  it("percentiles by nearest rank", () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(percentile([1, 2, 3, 4], 0.9)).toBe(4);
    expect(percentile([5], 0.99)).toBe(5);
  });

  it("counts resource-hours and the peak inside the window only", () => {
    const m = poolMetrics(
      {
        leases: [],
        resources: [
          { resourceId: "r1", blueprintId: "bp1", allocatedAt: T0 - 3_600_000, activatedAt: T0, endedAt: T0 + 1_800_000 },
          { resourceId: "r2", blueprintId: "bp1", allocatedAt: T0 + 1_800_000, activatedAt: null, endedAt: null },
        ],
      },
      { from: T0, to: T0 + 3_600_000 },
      60_000,
    );
    expect(m).toMatchObject({ peakResources: 1, resourceHours: 1 });
  });

  it("prints recorded, same and changed side by side, and what it does not model", () => {
    const report = simulationReport(workload([lease("a", 0, 2000), lease("b", 100, 2000)]), policy({ limit: { bp1: 2 } }), implementationOf, { waitOverSeconds: 2, reclaimIdleMs: 300_000 });
    const text = formatSimulation(report).join("\n");
    expect(text).toContain("changes: pool: limit 2");
    expect(text).toMatch(/wait p50 +0\.0 s +1\.0 s +1\.0 s/);
    expect(text).toMatch(/waited > 2 s +0 +1 +0/);
    expect(text).toContain("not modeled: failures");
  });
});

describe("a long queue", () => {
  it("decides alike whether equal requests share an owner or not (the shortcut for equal requests changes no decision)", () => {
    const many = (owner: (i: number) => string) => workload(Array.from({ length: 300 }, (_, i) => lease(`l${String(i).padStart(3, "0")}`, i * 100, 2500, { owner: owner(i) })), 3);
    const shared = run(many(() => "ci"), policy({ slots: { bp1: 2 } }));
    const distinct = run(many((i) => `owner-${i}`), policy({ slots: { bp1: 2 } }));
    expect(waits(shared)).toEqual(waits(distinct));
    expect(shared.resources).toHaveLength(3);
    expect(Math.max(...Object.values(waits(shared)).map((w) => w ?? Infinity))).toBeGreaterThan(60_000);
  });
});

describe("simulate's times", () => {
  const now = new Date("2026-12-02T01:00:00Z");
  it("takes ISO times, now, and times back from now", async () => {
    const { timeFlag } = await import("../../src/cli/simulate-cli");
    expect(timeFlag("--from", "2026-12-02T00:25:00Z", now)).toBe(Date.parse("2026-12-02T00:25:00Z"));
    expect(timeFlag("--to", "now", now)).toBe(now.getTime());
    expect(timeFlag("--from", "-2h", now)).toBe(now.getTime() - 7_200_000);
    expect(timeFlag("--from", "-90s", now)).toBe(now.getTime() - 90_000);
    expect(timeFlag("--from", "-1d", now)).toBe(now.getTime() - 86_400_000);
    expect(() => timeFlag("--from", "yesterday", now)).toThrow(/--from takes an ISO time/);
    expect(() => timeFlag("--to", "-2w", now)).toThrow(/--to takes/);
  });
});
