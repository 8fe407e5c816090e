import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayCommand } from "../../src/cli/replay-cli";
import { verifyCommand } from "../../src/cli/verify-cli";
import { createBlueprint, setBlueprintEnabled } from "../../src/commands/blueprint-commands";
import { releaseLease, requestLease } from "../../src/commands/lease-commands";
import { explainLeaseById } from "../../src/queries/lease-explain-query";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";
import { watchUntil } from "../support/wait-until";

/**
 * The operator's history tools on a real run: leases served and released by a pool, leases that
 * expire, a lease whose resources break, and a lease that waited for a slot. Then `replay
 * --check` finds no difference (and finds one a test made), `replay` rebuilds and keeps work
 * claims, `verify` passes (and fails on an injected illegal transition, naming the event),
 * `replay --as-of/--to` shows the past and `explain` tells why the lease waited.
 */
const actor = { actor: "history-test" };
let database: TestDatabase;
let drydock: Drydock;
const run = { served: [] as string[], expired: [] as string[], fragile: "", holder: "", waiter: "", parked: "" };

async function cli(command: typeof replayCommand, args: string[]) {
  const lines: string[] = [];
  const code = await command(drydock.database, args, (line) => lines.push(line));
  return { code, out: lines.join("\n") };
}

beforeAll(async () => {
  database = await createTestDatabase();
  drydock = await createDrydock({ database, localHost: false, blueprints: [memoryPoolBlueprint()], workerOptions: { concurrency: 4 } });
  const c = drydock.commands;
  await createBlueprint(c, { name: "pool", kind: "memory-pool", config: { slots: 3, labels: ["ok"] }, resourceLimit: 2 }, actor);
  await createBlueprint(c, { name: "fragile", kind: "memory-pool", config: { slots: 1, labels: ["fragile"], failActivation: "permanent" }, resourceLimit: 1 }, actor);
  const single = await createBlueprint(c, { name: "single", kind: "memory-pool", config: { slots: 1, labels: ["single"] }, resourceLimit: 1 }, actor);
  const ok = { resourceType: "sandbox", attributes: { labels: ["ok"] } };

  // The lease that waits: the single slot is held for a second by another lease.
  run.holder = await requestLease(c, { resourceType: "sandbox", attributes: { labels: ["single"] } }, "alice", actor);
  await waitForLeaseStatus(drydock, run.holder, ["active"]);
  run.waiter = await requestLease(c, { resourceType: "sandbox", attributes: { labels: ["single"] } }, "bob", actor);
  const releaseHolder = new Promise((r) => setTimeout(r, 1000)).then(() => releaseLease(c, run.holder, actor));

  run.served = await Promise.all(Array.from({ length: 12 }, (_, i) => requestLease(c, ok, `client-${i % 4}`, actor)));
  run.expired = await Promise.all(Array.from({ length: 3 }, () => requestLease(c, { ...ok, ttlSeconds: 1 }, "ttl", actor)));
  run.fragile = await requestLease(c, { resourceType: "sandbox", attributes: { labels: ["fragile"] } }, "carol", actor);
  await Promise.all(run.served.map(async (id) => (await waitForLeaseStatus(drydock, id, ["active"]), releaseLease(c, id, actor))));
  await releaseHolder;
  await waitForLeaseStatus(drydock, run.waiter, ["active"]);
  await releaseLease(c, run.waiter, actor);
  const ended = [...run.served, ...run.expired, run.fragile, run.holder, run.waiter];
  await Promise.all(ended.map((id) => waitForLeaseStatus(drydock, id, ["destroyed"], 30_000)));
  // One lease left waiting, with a work item a worker has claimed.
  await setBlueprintEnabled(c, single, false, "maintenance", actor);
  run.parked = await requestLease(c, { resourceType: "sandbox", attributes: { labels: ["single"] } }, "dave", actor);
  const parkedEvents = async () => (await drydock.store.readStream(`lease-${run.parked}`)).map((e) => e.type);
  await watchUntil(drydock, `lease-${run.parked}`, `lease ${run.parked} to be waiting`, async () => (await parkedEvents()).includes("LeaseWaiting"), 10_000, { seen: parkedEvents });
  await drydock.worker.stop();
}, 60_000);

afterAll(async () => {
  await drydock?.close();
  await database?.close();
});

describe(`history tools after a run (${testDialect})`, () => {
  it("the run had releases, expiries and a broken resource", async () => {
    const types = async (id: string) => (await drydock.store.readStream(`lease-${id}`)).map((e) => e.type);
    const released = async (id: string) => (await drydock.store.readStream(`lease-${id}`)).find((e) => e.type === "LeaseReleased")?.data;
    expect(await released(run.expired[0]!)).toMatchObject({ reason: "expired" });
    expect(await types(run.fragile)).toContain("LeaseBroken");
    const broken = await drydock.database.db.selectFrom("resources").select("status").where("end_reason", "like", "activation failed%").execute();
    expect(broken.length).toBeGreaterThan(0);
  });

  it("verify passes and says what it checked", async () => {
    const { code, out } = await cli(verifyCommand, ["--grace", "0"]);
    expect(out).toMatch(/^checked \d+ events \(positions \d+\.\.\d+\) in \d+ streams: 3 blueprints, \d+ leases, \d+ resources$/m);
    // The peak is how the run happened to interleave (each lease is released as soon as it is
    // active), not a guarantee: verify reports it, within the pool's 3 slots and limit of 2.
    expect(out).toMatch(/peak live leases on one resource: [1-3]; peak live resources of one blueprint: [12]/);
    expect(out).toContain("OK: every transition legal");
    expect(code).toBe(0);
  });

  it("replay --check finds no difference, and every difference a changed row makes, without changing anything", async () => {
    expect(await cli(replayCommand, ["--check"])).toEqual({ code: 0, out: expect.stringMatching(/^no differences: the live projections \(\d+ rows\) match a rebuild from \d+ events$/) });

    const id = run.served[3]!;
    await sql`UPDATE leases SET status = 'active', end_reason = NULL WHERE lease_id = ${id}`.execute(drydock.database.db);
    await sql`DELETE FROM slot_locks WHERE lock_key = (SELECT min(lock_key) FROM slot_locks)`.execute(drydock.database.db);
    const check = await cli(replayCommand, ["--check"]);
    expect(check.code).toBe(1);
    expect(check.out).toContain(`leases ${id} status: live "active", rebuilt "destroyed"`);
    expect(check.out).toContain(`leases ${id} end_reason: live null, rebuilt "requested"`);
    expect(check.out).toMatch(/^slot_locks \S+: missing from the live table; rebuilt \{"lock_key":/m);
    expect(check.out).toMatch(/^3 differences between the live projections and a rebuild from \d+ events$/m);
    const row = await drydock.database.db.selectFrom("leases").select("status").where("lease_id", "=", id).executeTakeFirstOrThrow();
    expect(row.status).toBe("active");
  });

  it("replay rebuilds every projection and swaps it in, keeping work claims", async () => {
    const claimedUntil = new Date(Date.now() + 60_000);
    await drydock.database.db.updateTable("work_items").set({ claimed_by: "w-elsewhere", claimed_until: claimedUntil }).where("stream_id", "=", `lease-${run.parked}`).execute();
    const { code, out } = await cli(replayCommand, []);
    expect(code).toBe(0);
    expect(out).toMatch(/^rebuilt every projection from \d+ events in \d+\.\d\d s \(\d+ events\/s\) and swapped them in$/);
    expect(await cli(replayCommand, ["--check"])).toMatchObject({ code: 0 });
    const item = await drydock.database.db.selectFrom("work_items").selectAll().where("stream_id", "=", `lease-${run.parked}`).executeTakeFirstOrThrow();
    expect(item.claimed_by).toBe("w-elsewhere");
    expect(new Date(item.claimed_until!).getTime()).toBe(claimedUntil.getTime());
  });

  it("replay --as-of and --to show every lease and resource as it was then", async () => {
    const events = await drydock.store.readStream(`lease-${run.waiter}`);
    const requested = events[0]!;
    const activated = events.find((e) => e.type === "LeaseActivated")!;
    const stateAt = async (args: string[]) => {
      const { code, out } = await cli(replayCommand, [...args, "--json"]);
      expect(code).toBe(0);
      return JSON.parse(out) as { events: number; leases: { id: string; status: string; resourceId: string | null }[]; resources: { id: string; liveLeases: number }[] };
    };
    const waiting = await stateAt(["--as-of", requested.recordedAt.toISOString()]);
    expect(waiting.leases.find((l) => l.id === run.waiter)).toMatchObject({ status: "pending", resourceId: null });
    expect(waiting.leases.find((l) => l.id === run.holder)).toMatchObject({ status: "active" });
    expect(waiting.leases.some((l) => l.id === run.parked)).toBe(false);
    const active = await stateAt(["--to", String(activated.globalPosition)]);
    const lease = active.leases.find((l) => l.id === run.waiter)!;
    expect(lease.status).toBe("active");
    expect(active.resources.find((r) => r.id === lease.resourceId)).toMatchObject({ liveLeases: 1 });
    const text = await cli(replayCommand, ["--to", String(activated.globalPosition)]);
    expect(text.out).toMatch(/^state up to position \d+, folded from \d+ events$/m);
    expect(text.out).toMatch(new RegExp(`^${run.waiter}\\s+active\\s+sandbox\\s+${lease.resourceId}\\s+bob`, "m"));
  });

  it("explain says why the lease waited, from the log alone", async () => {
    const x = await explainLeaseById(drydock.store, run.waiter, new Date());
    expect(x.status).toBe("destroyed");
    expect(x.waits[0]).toMatchObject({ cause: "slot", detail: expect.stringContaining("single at its limit of 1") });
    expect(x.waits[0]!.ms).toBeGreaterThan(700);
    expect(x.waitedMs).toBeGreaterThanOrEqual(x.waits[0]!.ms);
    expect(x.summary).toMatch(new RegExp(`^${run.waiter} waited \\d+\\.\\d s before it was active: \\d+\\.\\d s for a free slot \\(.*single at its limit of 1.*\\)`));
    expect(x.summary).toMatch(/; it was active for \d+\.\d s, then released \(requested\) by history-test\.$/);
    const attempt = x.timeline.find((s) => s.event === "AllocationAttempted")!;
    expect(attempt.title).toMatch(/^allocation attempt 1: wait, waiting: .* \(decided in \d+ ms\)$/);
    expect(attempt.candidates).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "resource", outcome: "skipped", reason: "all 1 slots in use" })]));
    expect(x.timeline.map((s) => s.leaseStatus)).toContain("active");
    const sum = x.waits.reduce((n, w) => n + w.ms, 0);
    expect(Math.abs(sum - x.waitedMs)).toBeLessThan(5);

    const holder = await explainLeaseById(drydock.store, run.holder, new Date());
    expect(holder.waits.some((w) => w.cause === "slot")).toBe(false);
    const parked = await explainLeaseById(drydock.store, run.parked, new Date());
    expect(parked).toMatchObject({ status: "pending", stillWaiting: true });
    expect(parked.waits[0]).toMatchObject({ cause: "blueprint", detail: "every usable sandbox blueprint is disabled" });
    expect(parked.summary).toMatch(/ is pending and has waited \d+\.\d s so far: \d+\.\d s for a usable blueprint \(every usable sandbox blueprint is disabled\)/);
    const fragile = await explainLeaseById(drydock.store, run.fragile, new Date());
    expect(fragile.summary).toMatch(/never became active: it was broken: /);
    expect(fragile.waits.map((w) => w.cause)).toContain("resource-activation");
  });

  it("verify fails on a log with an injected illegal transition, naming the event", async () => {
    const destroyed = run.served[0]!;
    const version = (await drydock.store.readStream(`lease-${destroyed}`)).length;
    const inject = (streamId: string, v: number, type: string, data: unknown) =>
      sql<{ global_position: number }>`INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
        VALUES (${randomUUID()}, ${streamId}, ${v}, ${type}, 1, ${JSON.stringify(data)}::jsonb, '{"actor":"intruder"}'::jsonb, now())
        RETURNING global_position`.execute(drydock.database.db);
    const after = (await inject(`lease-${destroyed}`, version + 1, "LeaseActivated", { workingDirectory: null })).rows[0]!.global_position;
    const fresh = `ls_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
    await inject(`lease-${fresh}`, 1, "LeaseRequested", { leaseId: fresh, resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: "x", ownerResourceId: null, ttlSeconds: null, expiresAt: null });
    const illegal = (await inject(`lease-${fresh}`, 2, "LeaseActivated", { workingDirectory: null })).rows[0]!.global_position;
    try {
      const { code, out } = await cli(verifyCommand, ["--grace", "0"]);
      expect(code).toBe(1);
      expect(out).toContain("FAILED: 2 violations");
      expect(out).toContain(`event after destroy: lease-${destroyed} version ${version + 1} (position ${after}, LeaseActivated)`);
      expect(out).toContain(`illegal transition: lease-${fresh} version 2 (position ${illegal}, LeaseActivated): LeaseActivated (version 2) is not allowed when pending`);
    } finally {
      await sql`DELETE FROM events WHERE metadata->>'actor' = 'intruder'`.execute(drydock.database.db);
    }
  });
});
