/**
 * Opening a database migrates it (src/store/database.ts): nearly every open finds it up to date,
 * which two small statements tell, and anything else goes to Kysely's Migrator under its lock: a
 * migration this release has and the database has not run, or one the database ran and this
 * release does not know (a newer release's), which the Migrator refuses.
 */
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/store/database";
import { migrations } from "../../src/store/migrations/index";
import { createTestDatabase, type TestDatabase } from "../support/test-database";

let database: TestDatabase;
const statements: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ onQuery: (text) => statements.push(text) });
});
afterAll(async () => {
  await database?.close();
});

const ran = async () => (await sql<{ name: string }>`select name from kysely_migration`.execute(database.db)).rows.map((r) => r.name).sort();

describe("migrating a database on open", () => {
  it("an up-to-date database is checked in two statements that change nothing, without the Migrator's lock", async () => {
    statements.length = 0;
    await migrate(database.db);
    expect(statements).toHaveLength(2);
    expect(statements.join("\n")).not.toMatch(/kysely_migration_lock|pg_catalog|insert|update|create/i);
    expect(await ran()).toEqual(Object.keys(migrations).sort());
  });

  it("a migration the database has not run goes to the Migrator, which runs it", async () => {
    const last = Object.keys(migrations).sort().at(-1)!;
    await sql`delete from kysely_migration where name = ${last}`.execute(database.db);
    statements.length = 0;
    // The last migration's objects are there already, so running it again fails, and says which it is:
    // the check did not take the database for up to date.
    const outcome = await migrate(database.db).then(() => "migrated", (error: Error) => error.message);
    expect(statements.some((text) => /kysely_migration_lock/.test(text))).toBe(true);
    expect(outcome === "migrated" || outcome.includes(last)).toBe(true);
    await sql`insert into kysely_migration (name, timestamp) values (${last}, ${new Date().toISOString()}) on conflict do nothing`.execute(database.db);
    expect(await ran()).toEqual(Object.keys(migrations).sort());
  });

  it("a database a newer release migrated is refused, naming the migration this release does not know", async () => {
    await sql`insert into kysely_migration (name, timestamp) values ('999-from-a-newer-release', ${new Date().toISOString()})`.execute(database.db);
    try {
      await expect(migrate(database.db)).rejects.toThrow(/999-from-a-newer-release/);
    } finally {
      await sql`delete from kysely_migration where name = '999-from-a-newer-release'`.execute(database.db);
    }
    statements.length = 0;
    await migrate(database.db);
    expect(statements).toHaveLength(2);
  });
});
