import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import { ManualClock } from "../../src/domain/clock";
import { checkProjections } from "../../src/store/check-projections";
import { PostgresEventStore } from "../../src/store/event-store";
import * as m008 from "../../src/store/migrations/008-lease-ttl";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

/**
 * Migration 008 adds the lease's TTL and its source to the `leases` rows, filled from the log of
 * an existing install as a rebuild would fill them: the last renewal's TTL ("renewal"), else the
 * request's ("request"; events of that time carry no ttlSource). Checked by undoing the migration
 * over a log written the old way, redoing it, and comparing the tables with a rebuild.
 */
let database: TestDatabase;
const clock = new ManualClock(new Date("2026-03-01T09:00:00.000Z"));
const requested = (leaseId: string, ttlSeconds: number | null) => ({
  type: "LeaseRequested",
  data: { leaseId, resourceType: "host", attributes: {}, blueprintIds: null, owner: "ci", ownerResourceId: null, ttlSeconds, expiresAt: ttlSeconds === null ? null : "2026-03-01T09:01:00.000Z" },
});

beforeAll(async () => {
  database = await createTestDatabase();
  const store = new PostgresEventStore(database.db, inlineProjections, clock);
  await store.append("lease-ls_timed", 0, [requested("ls_timed", 60)], { actor: "ci" });
  await store.append("lease-ls_renewed", 0, [requested("ls_renewed", null)], { actor: "ci" });
  await store.append("lease-ls_renewed", 1, [{ type: "LeaseRenewed", data: { ttlSeconds: 90, expiresAt: "2026-03-01T09:01:30.000Z" } }], { actor: "ci" });
  await store.append("lease-ls_renewed", 2, [{ type: "LeaseRenewed", data: { ttlSeconds: 120, expiresAt: "2026-03-01T09:02:00.000Z" } }], { actor: "ci" });
  await store.append("lease-ls_forever", 0, [requested("ls_forever", null)], { actor: "admin" });
  await store.append("token-tk_old", 0, [{ type: "TokenIssued", data: { tokenId: "tk_old", owner: "ci", role: "client", hash: `sha256:${"ab".repeat(32)}` } }], { actor: "admin" });
});
afterAll(() => database?.close());

describe("migration 008 (lease TTLs)", () => {
  it("fills each lease's TTL and source from its events, exactly as a rebuild does", async () => {
    await m008.down(database.db);
    await m008.up(database.db);
    const rows = await database.db.selectFrom("leases").select(["lease_id", "ttl_seconds", "ttl_source"]).orderBy("lease_id").execute();
    expect(rows).toEqual([
      { lease_id: "ls_forever", ttl_seconds: null, ttl_source: "request" },
      { lease_id: "ls_renewed", ttl_seconds: 120, ttl_source: "renewal" },
      { lease_id: "ls_timed", ttl_seconds: 60, ttl_source: "request" },
    ]);
    const token = await database.db.selectFrom("tokens").select("default_lease_ttl_seconds").where("token_id", "=", "tk_old").executeTakeFirstOrThrow();
    expect(token.default_lease_ttl_seconds).toBeNull();
    expect((await checkProjections(database.db, inlineProjections)).differences).toEqual([]);
  });
});
