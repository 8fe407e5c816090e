import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentVersionOf } from "../../events/catalogue";
import { explainLease } from "../../src/history/explain-lease";
import { verifyStoredLog } from "../../src/history/verify-stored-log";
import { ManualClock } from "../../src/domain/clock";
import { leaseFolder } from "../../src/machines/fold";
import { LOG_START, PostgresEventStore } from "../../src/store/event-store";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";

/**
 * Events stored at an old schema version are read in the current shape: upcasters run on every
 * read (a stream, the global log, the log by position), and the stored rows stay as they were.
 * AllocationAttempted version 2 added `durationMs`; version-1 events read with `durationMs: null`.
 */
let database: TestDatabase;
let store: PostgresEventStore;
const clock = new ManualClock(new Date("2026-03-01T09:00:00.000Z"));

beforeAll(async () => {
  database = await createTestDatabase();
  store = new PostgresEventStore(database.db, [], clock);
});
afterAll(() => database?.close());

/** A lease stream written the way version-1 code wrote it, with raw INSERTs (no projections, no validation). */
async function insertVersion1Lease(leaseId: string): Promise<string> {
  const streamId = `lease-${leaseId}`;
  const at = (s: number) => new Date(Date.parse("2026-03-01T09:00:00.000Z") + s * 1000);
  const rows: [string, Record<string, unknown>, number][] = [
    ["LeaseRequested", { leaseId, resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: "ci", ownerResourceId: null, ttlSeconds: null, expiresAt: null }, 0],
    [
      "AllocationAttempted",
      {
        attempt: 1,
        decision: "wait",
        candidates: [{ kind: "blueprint", id: "bp_pool", outcome: "skipped", reason: "at its limit of 1 resources" }],
        summary: "waiting: 1 matching resource busy or unsuitable; pool at its limit of 1",
      },
      0.5,
    ],
    ["LeaseWaiting", { reason: "1 matching resource busy or unsuitable; pool at its limit of 1", retryAt: at(30).toISOString(), blueprintIds: ["bp_pool"] }, 0.5],
  ];
  for (const [i, [type, data, s]] of rows.entries()) {
    await sql`INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
              VALUES (${randomUUID()}, ${streamId}, ${i + 1}, ${type}, 1, ${JSON.stringify(data)}::jsonb, ${JSON.stringify({ actor: "old-release" })}::jsonb, ${at(s)})`.execute(database.db);
  }
  await sql`INSERT INTO streams (stream_id, stream_type, version, updated_at) VALUES (${streamId}, 'lease', ${rows.length}, ${at(1)})`.execute(database.db);
  return streamId;
}

describe(`event schema versions (${testDialect})`, () => {
  it("AllocationAttempted is at version 2", () => {
    expect(currentVersionOf("AllocationAttempted")).toBe(2);
  });

  it("reads version-1 events as version 2 from a stream, the global log and the log by position; the stored rows are not rewritten", async () => {
    const streamId = await insertVersion1Lease(`ls_${randomUUID().replaceAll("-", "").slice(0, 20)}`);

    const stream = await store.readStream(streamId);
    const attempted = stream.find((e) => e.type === "AllocationAttempted")!;
    expect(attempted.version).toBe(2);
    expect(attempted.data).toMatchObject({ attempt: 1, decision: "wait", durationMs: null });
    expect(stream.every((e) => e.version === currentVersionOf(e.type))).toBe(true);

    const byPosition = await store.readByPosition(attempted.globalPosition - 1, 1);
    expect(byPosition[0]).toEqual(attempted);
    let fromLog = undefined;
    for (let checkpoint = LOG_START, deadline = Date.now() + 15_000; !fromLog && Date.now() < deadline; ) {
      const page = await store.readAll(checkpoint, { streamIds: [streamId], types: ["AllocationAttempted"] });
      fromLog = page.events[0];
      checkpoint = page.checkpoint;
      if (!fromLog) await new Promise((r) => setTimeout(r, 20));
    }
    expect(fromLog).toEqual(attempted);

    const stored = await sql<{ schema_version: number; data: Record<string, unknown> }>`
      SELECT schema_version, data FROM events WHERE stream_id = ${streamId} AND event_type = 'AllocationAttempted'`.execute(database.db);
    expect(stored.rows[0]!.schema_version).toBe(1);
    expect(stored.rows[0]!.data).not.toHaveProperty("durationMs");

    // Everything downstream takes the upcast events: the fold, the explanation, the verifier.
    expect(leaseFolder.fold(stream).state).toMatchObject({ status: "pending", context: { attempts: 1 } });
    const explained = explainLease(stream, [], new Date("2026-03-01T09:00:10.000Z"));
    expect(explained.waits.map((w) => w.cause)).toEqual(["slot", "queue"]);
    expect(explained.summary).toContain("for a free slot");
    expect((await verifyStoredLog(store)).violations).toEqual([]);
  });

  it("writes new events at the current version, with durationMs", async () => {
    const s = `blueprint-bp_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const [e] = await store.append(s, 0, [{ type: "BlueprintCreated", data: { blueprintId: s.slice(10), name: "x", kind: "memory-pool", resourceType: "sandbox", config: {}, resourceLimit: null } }], { actor: "t" });
    expect(e!.version).toBe(1);
    const lease = `lease-ls_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const appended = await store.append(
      lease,
      0,
      [
        { type: "LeaseRequested", data: { leaseId: lease.slice(6), resourceType: "sandbox", attributes: {}, blueprintIds: null, owner: "ci", ownerResourceId: null, ttlSeconds: null, expiresAt: null, authorizingObject: null } },
        { type: "AllocationAttempted", data: { attempt: 1, decision: "wait", candidates: [], summary: "waiting", durationMs: 4 } },
      ],
      { actor: "t" },
    );
    expect(appended[1]).toMatchObject({ version: 2, data: { durationMs: 4 } });
    const stored = await sql<{ schema_version: number }>`SELECT schema_version FROM events WHERE event_id = ${appended[1]!.eventId}`.execute(database.db);
    expect(stored.rows[0]!.schema_version).toBe(2);
  });
});
