/**
 * On PostgreSQL, parameterised statements run as named prepared statements, once per text and
 * connection (src/store/pg-prepared.ts); statements without parameters go by the simple
 * protocol as before. Runs against PostgreSQL only (DATABASE_URL); on PGlite, see
 * pglite-prepared.test.ts.
 */
import { sql, type Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/store/database";
import type { DrydockDatabase } from "../../src/store/schema";
import { createTestDatabase, testDialect, type TestDatabase } from "../support/test-database";

let database: TestDatabase;

beforeAll(async () => {
  if (testDialect === "postgres") database = await createTestDatabase({ poolSize: 2 });
});
afterAll(async () => {
  await database?.close();
});

/** The texts this session holds prepared. */
const preparedTexts = async (conn: Kysely<DrydockDatabase>) => (await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(conn)).rows.map((r) => r.statement);

describe.runIf(testDialect === "postgres")("PostgreSQL statements run prepared", () => {
  it("prepare a parameterised text once per connection, and run a text without parameters as before", async () => {
    await database.db.connection().execute(async (conn) => {
      const read = () => conn.selectFrom("streams").select("version").where("stream_id", "=", "lease-none").execute();
      expect(await read()).toEqual([]);
      expect(await read()).toEqual([]);
      const texts = await preparedTexts(conn);
      expect(texts.filter((t) => t.startsWith('select "version" from "streams"'))).toHaveLength(1);
      // Several statements in one text are possible only by the simple protocol: still so.
      await sql`CREATE TEMP TABLE scratch (id int); DROP TABLE scratch`.execute(conn);
    });
  });

  it("prepare a statement again after its table changed shape, failing once on that connection", async () => {
    await database.db.connection().execute(async (conn) => {
      await sql`CREATE TABLE shape (id text PRIMARY KEY)`.execute(conn);
      await sql`INSERT INTO shape VALUES ('a')`.execute(conn);
      const read = () => sql<Record<string, unknown>>`SELECT * FROM shape WHERE id = ${"a"}`.execute(conn);
      expect((await read()).rows).toEqual([{ id: "a" }]);
      await sql`ALTER TABLE shape ADD COLUMN extra int`.execute(conn);
      await expect(read()).rejects.toMatchObject({ code: "0A000" });
      expect((await read()).rows).toEqual([{ id: "a", extra: null }]);
    });
  });

  it("answer a prepared statement with the driver's rows, counts and errors, and keep the connection usable after one fails", async () => {
    await database.db.connection().execute(async (conn) => {
      await sql`CREATE TEMP TABLE answers (id int PRIMARY KEY, at timestamptz NOT NULL, big bigint NOT NULL)`.execute(conn);
      const at = new Date("2026-12-03T10:00:00.000Z");
      const insert = (id: number) => sql`INSERT INTO answers VALUES (${id}, ${at}, ${2 ** 40})`.execute(conn);
      expect((await insert(1)).numAffectedRows).toBe(1n);
      // The same text again: a second execution of the statement prepared by the first.
      await expect(insert(1)).rejects.toMatchObject({ code: "23505", constraint: "answers_pkey" });
      await expect(sql`SELECT ${"not a number"}::int AS n`.execute(conn)).rejects.toMatchObject({ code: "22P02" });
      const read = await sql<{ id: number; at: Date; big: number }>`SELECT id, at, big FROM answers WHERE id = ${1}`.execute(conn);
      expect(read.rows).toEqual([{ id: 1, at, big: 2 ** 40 }]);
      expect((await preparedTexts(conn)).filter((t) => t.startsWith("INSERT INTO answers"))).toHaveLength(1);
    });
  });

  it("name nothing when opened without prepared statements", async () => {
    let plain: Database | undefined;
    try {
      plain = await openDatabase({ url: database.url, poolSize: 1, preparedStatements: false });
      await plain.db.connection().execute(async (conn) => {
        await conn.selectFrom("streams").select("version").where("stream_id", "=", "lease-none").execute();
        expect(await preparedTexts(conn)).toEqual([]);
      });
    } finally {
      await plain?.close();
    }
  });
});
