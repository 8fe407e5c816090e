/**
 * PGlite runs Drydock's statements prepared, once per text (src/store/pglite-prepared.ts): the
 * results and errors are those of PGlite.query, and the prepared statements survive what the
 * session does around them (a rollback, a table that changes shape).
 */
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PGlitePreparedStatements } from "../../src/store/pglite-prepared";
import { testDialect } from "../support/test-database";

let pglite: PGlite;
let statements: PGlitePreparedStatements;

const prepared = async () => (await pglite.query<{ statement: string }>("SELECT statement FROM pg_prepared_statements ORDER BY name")).rows.map((r) => r.statement);

describe.runIf(testDialect === "pglite")("PGlite statements run prepared", () => {
  // PGlite only: the PostgreSQL run of the suite has nothing to add here.
  beforeAll(async () => {
    pglite = await PGlite.create();
    statements = new PGlitePreparedStatements(pglite, 3);
    await pglite.exec("CREATE TABLE t (id text PRIMARY KEY, n int8, at timestamptz, data jsonb, tags text[], ok boolean)");
  });
  afterAll(async () => {
    await pglite.close();
  });

  it("give what PGlite.query gives, for each column type, and prepare a text once", async () => {
    const insert = "INSERT INTO t (id, n, at, data, tags, ok) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *";
    const at = new Date("2026-01-02T03:04:05.678Z");
    const mine = await statements.query(insert, ["a", 42, at, JSON.stringify({ x: [1, "y"] }), ["p", "q"], true]);
    const theirs = await pglite.query(insert, ["b", 42, at, JSON.stringify({ x: [1, "y"] }), ["p", "q"], true]);
    expect({ ...mine, rows: mine.rows.map((r) => ({ ...(r as object), id: "?" })) }).toEqual({ ...theirs, rows: theirs.rows.map((r) => ({ ...(r as object), id: "?" })) });
    const select = "SELECT * FROM t WHERE id = $1 AND n >= $2";
    expect(await statements.query(select, ["a", null])).toEqual(await pglite.query(select, ["a", null]));
    await statements.query(select, ["b", 0]);
    const update = "UPDATE t SET ok = $1 WHERE n = $2";
    expect(await statements.query(update, [false, 42])).toEqual(await pglite.query(update, [false, 42]));
    expect(await prepared()).toEqual([insert, select, update]);
  });

  it("fail as PGlite.query fails, with the statement on the error", async () => {
    const insert = "INSERT INTO t (id) VALUES ($1)";
    const error = await statements.query(insert, ["a"]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "23505", query: insert, params: ["a"] });
    expect(await pglite.query(insert, ["a"]).catch((e: unknown) => e)).toMatchObject({ code: "23505" });
    await expect(statements.query("SELECT 1; SELECT 2", [])).rejects.toThrow(/multiple commands/);
  });

  it("keep a statement prepared inside a transaction that rolled back", async () => {
    const count = "SELECT count(*)::int AS c FROM t WHERE ok IS NOT NULL AND id <> $1";
    await statements.query("BEGIN", []);
    await statements.query(count, ["z"]);
    await statements.query("ROLLBACK", []);
    expect((await statements.query<{ c: number }>(count, ["z"])).rows).toEqual([{ c: 2 }]);
    expect(await prepared()).toContain(count);
  });

  it("close the least recently used beyond the limit, and prepare a statement again after its table changed shape", async () => {
    const select = "SELECT * FROM t WHERE id = $1";
    await statements.query(select, ["a"]);
    await pglite.exec("ALTER TABLE t ADD COLUMN extra text");
    expect((await statements.query<Record<string, unknown>>(select, ["a"])).rows[0]).toHaveProperty("extra", null);
    expect((await prepared()).length).toBe(3);
  });
});
