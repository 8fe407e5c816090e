import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import { approveAuthorization, declineAuthorization, requestAuthorization, revokeAuthorization } from "../../src/auth/authorization-commands";
import { issueToken, revokeToken } from "../../src/auth/token-commands";
import { createBlueprint, setBlueprintEnabled, updateBlueprint } from "../../src/commands/blueprint-commands";
import { releaseLease, renewLease, requestLease } from "../../src/commands/lease-commands";
import { releaseResource } from "../../src/commands/resource-commands";
import { createDrydock, type Drydock } from "../../src/service/drydock";
import { checkProjections } from "../../src/store/check-projections";
import { keyOf, rebuildProjections, type RebuildMode } from "../../src/store/rebuild-projections";
import { projectionTables, type DrydockDatabase } from "../../src/store/schema";
import { appendRandomLog, emptyLog } from "../support/random-log";
import { memoryPoolBlueprint } from "../support/test-blueprints";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";
import { waitForLeaseStatus } from "../support/wait-for-lease";

/**
 * `drydock replay` rebuilds the projections from the log through their batch forms
 * (projections/batch), a page at a time, not through the inline projections the appends run.
 * These tests hold the two to the same result: after a varied run of the service, and after
 * random logs appended through the store, the batched rebuild gives exactly the live tables (row
 * by row as PostgreSQL prints them, so even a JSON null stored as SQL NULL would show) and exactly
 * what the per-event rebuild gives; and on a log with an illegal event it falls back to the
 * per-event rebuild rather than rebuild something else.
 */
let database: TestDatabase;
let drydock: Drydock;
const actor = { actor: "rebuild-test" };

/** Every projection table, each row as its text; work items without their operational columns unless asked. */
async function exactTables(db: Kysely<DrydockDatabase>, withOperational = false): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of projectionTables) {
    const row = table === "work_items" && !withOperational ? sql`(t.stream_id, t.kind)::text` : sql`t::text`;
    const result = await sql<{ row: string }>`SELECT ${row} AS row FROM ${sql.table(table)} AS t ORDER BY ${sql.ref(`t.${keyOf[table]}`)}`.execute(db);
    out[table] = result.rows.map((r) => r.row);
  }
  return out;
}

async function rebuild(db: Kysely<DrydockDatabase>, batchSize: number, mode?: RebuildMode) {
  return rebuildProjections(db, inlineProjections, { batchSize, ...(mode ? { mode } : {}) });
}

beforeAll(async () => {
  database = await createTestDatabase();
  drydock = await createDrydock({ database, localHost: false, blueprints: [memoryPoolBlueprint()], workerOptions: { concurrency: 4 } });
}, 60_000);

afterAll(async () => {
  await drydock?.close();
  await database?.close();
});

describe(`the batched rebuild (${testDialect})`, () => {
  it("after a varied run of the service: exactly the live tables, and exactly the per-event rebuild", async () => {
    const c = drydock.commands;
    const pool = await createBlueprint(c, { name: "pool", kind: "memory-pool", config: { slots: 2, labels: ["ok"] }, resourceLimit: 3 }, actor);
    await createBlueprint(c, { name: "fragile", kind: "memory-pool", config: { slots: 1, labels: ["fragile"], failActivation: "permanent" }, resourceLimit: 1 }, actor);
    await createBlueprint(c, { name: "busy", kind: "memory-pool", config: { slots: 1, labels: ["busy"], failActivation: "temporary" }, resourceLimit: 1 }, actor);
    const ok = { resourceType: "sandbox", attributes: { labels: ["ok"] } };
    const ci = await issueToken(c, { owner: "ci", role: "client" }, actor);
    const ops = await issueToken(c, { owner: "ops", role: "admin" }, actor);
    await revokeToken(c, ops.tokenId, "rotated", actor);
    const asked = await requestAuthorization(c, pool, "ci", { actor: "ci", tokenId: ci.tokenId });
    await declineAuthorization(c, asked.authorizationId, "not yet", actor);
    await approveAuthorization(c, asked.authorizationId, actor);
    await revokeAuthorization(c, asked.authorizationId, { reason: "done", releaseLeases: false }, actor);
    await requestAuthorization(c, pool, "qa", actor);

    const served = await Promise.all(Array.from({ length: 6 }, (_, i) => requestLease(c, ok, `client-${i % 3}`, actor)));
    const fragile = await requestLease(c, { resourceType: "sandbox", attributes: { labels: ["fragile"] } }, "carol", actor);
    const busy = await requestLease(c, { resourceType: "sandbox", attributes: { labels: ["busy"] } }, "dave", actor);
    const active = await Promise.all(served.map((id) => waitForLeaseStatus(drydock, id, ["active"])));
    await renewLease(c, served[0]!, 3600, actor);
    await releaseLease(c, served[1]!, actor);
    await releaseResource(c, active[2]!.resourceId!, "drained", actor);
    await updateBlueprint(c, pool, { resourceLimit: 4 }, actor);
    await setBlueprintEnabled(c, pool, false, "maintenance", actor);
    const cancelled = await requestLease(c, ok, "erin", actor);
    await releaseLease(c, cancelled, actor);
    await setBlueprintEnabled(c, pool, true, null, actor);
    await waitForLeaseStatus(drydock, fragile, ["destroyed"]);
    await Promise.all([served[1]!, cancelled].map((id) => waitForLeaseStatus(drydock, id, ["destroyed"])));
    await drydock.worker.stop();

    const log = await sql<{ type: string; n: number }>`SELECT event_type AS type, count(*)::int AS n FROM events GROUP BY event_type`.execute(drydock.database.db);
    const types = new Set(log.rows.map((r) => r.type));
    for (const t of ["LeaseRenewed", "LeaseBroken", "LeaseDestroyed", "ResourceReleased", "ResourceBroken", "TokenRevoked", "AuthorizationRevoked", "BlueprintDisabled"]) {
      expect(types, t).toContain(t);
    }
    expect((await drydock.store.readStream(`lease-${busy}`)).map((e) => e.type)).toContain("LeaseAcquired");

    const live = await exactTables(drydock.database.db);
    expect(live.leases!.length).toBe(9);
    expect(live.slot_locks!.length).toBeGreaterThan(0);
    // A check first: it rebuilds batched, compares, and rolls back.
    const check = await checkProjections(drydock.database.db, inlineProjections, { batchSize: 7 });
    expect(check).toMatchObject({ mode: "batched", batchedFailure: null, differences: [] });

    const reference = await rebuild(drydock.database.db, 5000, "event-by-event");
    expect(reference.mode).toBe("event-by-event");
    expect(await exactTables(drydock.database.db)).toEqual(live);
    const referenceWork = (await exactTables(drydock.database.db, true)).work_items;
    // Pages of 1, 7 and 5000 events: streams cut across pages at every point, or not at all.
    for (const batchSize of [1, 7, 5000]) {
      const batched = await rebuild(drydock.database.db, batchSize);
      expect(batched).toEqual({ events: reference.events, mode: "batched", batchedFailure: null });
      expect(await exactTables(drydock.database.db)).toEqual(live);
      expect((await exactTables(drydock.database.db, true)).work_items).toEqual(referenceWork);
    }
  });

});

describe(`the batched rebuild of random logs (${testDialect})`, () => {
  // A database of its own, with no worker: only the appends of the random log touch it.
  let plain: TestDatabase;
  beforeAll(async () => {
    plain = await createTestDatabase();
  });
  afterAll(async () => {
    await plain?.close();
  });

  it("appended through the store: exactly the live tables, and the per-event rebuild", async () => {
    const db = plain.db;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { minLength: 20, maxLength: 90 }), fc.constantFrom(1, 3, 40), async (choices, batchSize) => {
        await emptyLog(db);
        const appended = await appendRandomLog(db, choices);
        const live = await exactTables(db);
        const batched = await rebuild(db, batchSize);
        expect(batched).toEqual({ events: appended, mode: "batched", batchedFailure: null });
        const rebuilt = await exactTables(db, true);
        expect({ ...rebuilt, work_items: (await exactTables(db)).work_items }).toEqual(live);
        await rebuild(db, batchSize, "event-by-event");
        expect(await exactTables(db, true)).toEqual(rebuilt);
        runs++;
      }),
      { numRuns: 12 },
    );
    expect(runs).toBe(12);
  });

  it("holding an event after its stream ended: falls back to the per-event rebuild, and says why", async () => {
    const db = plain.db;
    await emptyLog(db);
    await appendRandomLog(db, Array.from({ length: 240 }, (_, i) => (i * 7919) % 1009));
    // The lease destroyed first: its row is written and dropped from memory pages before the end.
    const destroyed = await sql<{ stream_id: string; version: number }>`
      SELECT e.stream_id, (SELECT max(stream_version) FROM events WHERE stream_id = e.stream_id) AS version
        FROM events e WHERE e.event_type = 'LeaseDestroyed' ORDER BY e.global_position LIMIT 1`.execute(db);
    const stream = destroyed.rows[0];
    expect(stream, "the random log destroyed a lease").toBeDefined();
    // Below the store (which would refuse it): a renewal after the destroy, as a hand-edited log might hold.
    await sql`INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
              VALUES (${randomUUID()}, ${stream!.stream_id}, ${stream!.version + 1}, 'LeaseRenewed', 1,
                      ${JSON.stringify({ ttlSeconds: 60, expiresAt: "2030-01-01T00:00:00.000Z" })}::jsonb, '{"actor":"hand"}'::jsonb, now())`.execute(db);

    const reference = await rebuild(db, 4, "event-by-event");
    const expected = await exactTables(db, true);
    const fellBack = await rebuild(db, 4);
    expect(fellBack.mode).toBe("event-by-event");
    expect(fellBack.events).toBe(reference.events);
    expect(fellBack.batchedFailure).toBe(`batched rebuild: an event touches leases row ${stream!.stream_id.slice("lease-".length)}, whose stream had ended`);
    expect(await exactTables(db, true)).toEqual(expected);
  });

  it("a page's write the database refuses while the next page is applied: the rebuild fails with it and leaves every table as it was", async () => {
    const db = plain.db;
    await emptyLog(db);
    await appendRandomLog(db, Array.from({ length: 240 }, (_, i) => (i * 7919) % 1009));
    // The first lease destroyed: its row is written at the end of an early page, and the pages
    // after it are applied while that write runs.
    const first = await sql<{ stream_id: string }>`SELECT stream_id FROM events WHERE event_type = 'LeaseDestroyed' ORDER BY global_position LIMIT 1`.execute(db);
    const leaseId = first.rows[0]!.stream_id.slice("lease-".length);
    const before = await exactTables(db, true);
    await sql`CREATE FUNCTION refuse_lease_row() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN IF NEW.lease_id = ${sql.lit(leaseId)} THEN RAISE EXCEPTION 'refused lease row %', NEW.lease_id; END IF; RETURN NEW; END $$`.execute(db);
    await sql`CREATE TRIGGER refuse_lease_row BEFORE INSERT ON leases FOR EACH ROW EXECUTE FUNCTION refuse_lease_row()`.execute(db);
    try {
      await expect(rebuild(db, 4)).rejects.toThrow(`refused lease row ${leaseId}`);
      expect(await exactTables(db, true)).toEqual(before);
    } finally {
      await sql`DROP TRIGGER refuse_lease_row ON leases`.execute(db);
      await sql`DROP FUNCTION refuse_lease_row()`.execute(db);
    }
    // Nothing was left half done: the same rebuild now goes through.
    expect(await rebuild(db, 4)).toMatchObject({ mode: "batched", batchedFailure: null });
  });
});
