/**
 * PGlite has no autovacuum (src/store/pglite-autovacuum.ts): the embedded database vacuums and
 * analyzes its tables itself, by autovacuum's rules. What an operator of the embedded service
 * relies on: the locks, work items and rows a lease cycle frees stop weighing on the capacity
 * view once vacuumed; a table that did not change enough is left alone; the event log, which
 * only grows, is vacuumed too (its pages frozen in steps, not all at once near wraparound).
 * PGlite only: on PostgreSQL this is the server's own autovacuum.
 */
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database";
import { PGliteAutovacuum, walSinceCheckpoint } from "../../src/store/pglite-autovacuum";
import { pgliteTemplate } from "../support/pglite-template";
import { waitUntil } from "../support/wait-until";
import { testDialect } from "../support/test-database";

let database: Database | undefined;

const open = async (pgliteAutovacuumMs: number | null) => (database = await openDatabase({ pgliteTemplate: await pgliteTemplate(), pgliteAutovacuumMs }));

interface TableStats {
  dead: number;
  vacuums: number;
  analyzes: number;
}

async function statsOf(db: Database["db"], table: string): Promise<TableStats> {
  // A session reports its counts at most once a second: what the statements before did, now.
  await sql`SELECT pg_stat_force_next_flush()`.execute(db);
  const { rows } = await sql<TableStats>`
    SELECT n_dead_tup::int AS dead, (vacuum_count + autovacuum_count)::int AS vacuums, (analyze_count + autoanalyze_count)::int AS analyzes
      FROM pg_stat_user_tables WHERE relname = ${table}`.execute(db);
  return rows[0]!;
}

/** What a run of lease cycles leaves in slot_locks: each taken, then freed. */
async function churnLocks(db: Database["db"], n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const key = `resource:rs_churn:slot:${i % 4}`;
    await sql`INSERT INTO slot_locks (lock_key, owner_stream_id, scope_id) VALUES (${key}, ${`lease-l${i}`}, 'rs_churn')`.execute(db);
    await sql`DELETE FROM slot_locks WHERE lock_key = ${key}`.execute(db);
  }
}

describe.runIf(testDialect === "pglite")("PGlite's autovacuum", () => {
  // PGlite only: the PostgreSQL run of the suite has nothing to add here.
  afterEach(async () => {
    await database?.close();
    database = undefined;
  });

  it("vacuums the locks a run of lease cycles freed, and leaves a table that barely changed alone", async () => {
    const { db } = await open(null);
    await churnLocks(db, 300);
    // A token issued: one insert, below every threshold.
    await sql`INSERT INTO tokens (token_id, owner, role, token_hash, status, issued_by, issued_at, version, updated_at) VALUES ('tk_1', 'alice', 'client', 'h1', 'active', 'admin', now(), 1, now())`.execute(db);
    expect((await statsOf(db, "slot_locks")).dead).toBe(300);
    const before = await statsOf(db, "tokens");

    const pass = await new PGliteAutovacuum(db).pass();
    expect(pass.vacuumed).toContain("slot_locks");
    expect([...pass.vacuumed, ...pass.analyzed]).not.toContain("tokens");
    const after = await statsOf(db, "slot_locks");
    expect(after.dead).toBe(0);
    expect(after.vacuums).toBe(1);
    expect(after.analyzes).toBe(1);
    expect(await statsOf(db, "tokens")).toEqual(before);
    // Nothing changed since: the next pass finds no table to work on.
    expect(await new PGliteAutovacuum(db).pass()).toEqual({ vacuumed: [], analyzed: [] });
  });

  it("vacuums a table that only grows once enough rows went in, and analyzes one whose rows changed without dying", async () => {
    const { db } = await open(null);
    await sql`CREATE TABLE log_like (n int PRIMARY KEY)`.execute(db);
    await sql`CREATE TABLE counted (n int PRIMARY KEY)`.execute(db);
    await sql`INSERT INTO counted SELECT generate_series(1, 1000)`.execute(db);
    await sql`VACUUM (ANALYZE) counted`.execute(db);
    // 999 inserts: below autovacuum's 1,000 for an empty table; 160 more rows in `counted`
    // (1,000 rows): above 50 + 10 % for an analyze, below 1,000 + 20 % of inserts for a vacuum.
    await sql`INSERT INTO log_like SELECT generate_series(1, 999)`.execute(db);
    await sql`INSERT INTO counted SELECT generate_series(1001, 1160)`.execute(db);
    await statsOf(db, "counted");
    const first = await new PGliteAutovacuum(db).pass();
    expect(first.vacuumed).not.toContain("log_like");
    expect(first.analyzed).toContain("log_like");
    expect(first.vacuumed).not.toContain("counted");
    expect(first.analyzed).toContain("counted");

    // Analyzed by the first pass (999 rows), it needs 1,000 + 20 % of those inserts to be vacuumed.
    await sql`INSERT INTO log_like SELECT generate_series(1000, 1250)`.execute(db);
    await statsOf(db, "log_like");
    const second = await new PGliteAutovacuum(db).pass();
    expect(second.vacuumed).toContain("log_like");
    // Its pages are all-visible now: what an index-only scan and the next freeze rely on.
    const { rows } = await sql<{ visible: number; pages: number }>`
      SELECT relallvisible::int AS visible, relpages::int AS pages FROM pg_class WHERE relname = 'log_like'`.execute(db);
    expect(rows[0]!.pages).toBeGreaterThan(0);
    expect(rows[0]!.visible).toBe(rows[0]!.pages);
  });

  it("between full passes, a quick pass vacuums the tables with dead rows and leaves the rest to the next full one", async () => {
    const { db } = await open(null);
    await churnLocks(db, 300);
    // The event log's kind of table: only inserts, over autovacuum's 1,000 for an empty table.
    await sql`CREATE TABLE log_like (n int PRIMARY KEY)`.execute(db);
    await sql`INSERT INTO log_like SELECT generate_series(1, 1500)`.execute(db);
    const locksBefore = await statsOf(db, "slot_locks");
    const logBefore = await statsOf(db, "log_like");

    const quick = await new PGliteAutovacuum(db).pass("dead-rows");
    expect(quick).toEqual({ vacuumed: ["slot_locks"], analyzed: [] });
    const locks = await statsOf(db, "slot_locks");
    expect(locks.dead).toBe(0);
    expect(locks.vacuums).toBe(locksBefore.vacuums + 1);
    // Vacuumed without ANALYZE: that, and the log's inserts, wait for the full pass.
    expect(locks.analyzes).toBe(locksBefore.analyzes);
    expect(await statsOf(db, "log_like")).toEqual(logBefore);

    const full = await new PGliteAutovacuum(db).pass("full");
    expect(full.vacuumed).toContain("log_like");
    expect(full.vacuumed).not.toContain("slot_locks");
    expect(full.analyzed).toContain("slot_locks");
  });

  it("runs quick passes by itself between full ones", async () => {
    // Full passes an hour apart: only a quick pass can vacuum the locks within the wait.
    const { db } = await open(null);
    // Churned before the passes start: one in the middle could leave the rest below the threshold.
    await churnLocks(db, 120);
    const errors: unknown[] = [];
    const autovacuum = new PGliteAutovacuum(db, { intervalMs: 3_600_000, deadRowsIntervalMs: 50, onError: (error) => errors.push(error) });
    autovacuum.start();
    try {
      await waitUntil("slot_locks vacuumed by a quick pass", async () => (await statsOf(db, "slot_locks")).dead === 0, 10_000);
      const stats = await statsOf(db, "slot_locks");
      expect(stats.vacuums).toBeGreaterThanOrEqual(1);
      expect(stats.analyzes).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await autovacuum.stop();
    }
  });

  it("checkpoints once enough WAL was written since the last checkpoint, and not before", async () => {
    const { db } = await open(null);
    const autovacuum = new PGliteAutovacuum(db, { checkpointWalBytes: 4 * 1024 * 1024 });
    await sql`CHECKPOINT`.execute(db);
    expect(await autovacuum.checkpointIfDue()).toBe(false);
    // About 20 MB of WAL, and as many segments in pg_wal as it fills.
    await sql`CREATE TABLE wal_maker (n int, pad text)`.execute(db);
    await sql`INSERT INTO wal_maker SELECT n, repeat('x', 150) FROM generate_series(1, 100000) n`.execute(db);
    const written = await walSinceCheckpoint(db);
    expect(written).toBeGreaterThan(4 * 1024 * 1024);

    expect(await autovacuum.checkpointIfDue()).toBe(true);
    // The redo point moved up to the WAL's end: a start after a crash replays none of it.
    expect(await walSinceCheckpoint(db)).toBeLessThan(64 * 1024);
    expect(await autovacuum.checkpointIfDue()).toBe(false);
  });

  it("a pass by itself checkpoints a database that wrote enough WAL", async () => {
    const { db } = await open(null);
    await sql`CREATE TABLE wal_maker (n int, pad text)`.execute(db);
    await sql`INSERT INTO wal_maker SELECT n, repeat('x', 150) FROM generate_series(1, 50000) n`.execute(db);
    expect(await walSinceCheckpoint(db)).toBeGreaterThan(4 * 1024 * 1024);
    const errors: unknown[] = [];
    const autovacuum = new PGliteAutovacuum(db, { intervalMs: 50, checkpointWalBytes: 4 * 1024 * 1024, onError: (error) => errors.push(error) });
    autovacuum.start();
    try {
      await waitUntil("a pass checkpointed", async () => (await walSinceCheckpoint(db)) < 1024 * 1024, 10_000);
      expect(errors).toEqual([]);
    } finally {
      await autovacuum.stop();
    }
  });

  it("runs by itself in an open embedded database, and stops with it", async () => {
    const { db } = await open(50);
    // In one transaction, which holds the embedded database's one session until it commits: a
    // pass in the middle of the churn would vacuum part of it and leave the rest below the
    // threshold for good.
    await db.transaction().execute((trx) => churnLocks(trx, 120));
    // Each pass is 50 ms apart: the locks are vacuumed within a few of them.
    await waitUntil("slot_locks vacuumed by the embedded database's autovacuum", async () => (await statsOf(db, "slot_locks")).vacuums >= 1, 10_000);
    expect((await statsOf(db, "slot_locks")).dead).toBe(0);
    await database!.close();
    database = undefined;
  });
});
