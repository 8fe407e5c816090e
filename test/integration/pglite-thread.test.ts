/**
 * The embedded database runs in a thread of its own (src/store/pglite-thread.ts), one session
 * shared by the service's connections. What the service relies on: a transaction's statements
 * run alone, others waiting until it ends; rows and errors come back as PGlite gives them; a
 * NOTIFY is heard; a thread that stopped fails what waits on it; and an idle thread keeps no
 * process alive (a CLI command that is done exits).
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PGliteDialect } from "../../src/store/pglite-dialect";
import { PGliteThread } from "../../src/store/pglite-thread";
import { testDialect } from "../support/test-database";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let thread: PGliteThread;

const count = async (connection: number) => (await thread.query<{ c: number }>(connection, "SELECT count(*)::int AS c FROM t WHERE id LIKE $1", ["tx-%"])).rows[0]!.c;

describe.runIf(testDialect === "pglite")("PGlite in its own thread", () => {
  // PGlite only: the PostgreSQL run of the suite has nothing to add here.
  beforeAll(async () => {
    thread = await PGliteThread.start({});
    await thread.query(0, "CREATE TABLE t (id text PRIMARY KEY, n int8, at timestamptz, data jsonb, bytes bytea)", []);
    await thread.query(0, "CREATE TABLE counter (n int NOT NULL)", []);
    await thread.query(0, "INSERT INTO counter VALUES (0)", []);
  });
  afterAll(async () => {
    await thread?.close();
  });

  it("runs a transaction's statements alone: another connection's statement waits for its end, and never sees what it rolled back", async () => {
    const order: string[] = [];
    await thread.query(1, "BEGIN", []);
    await thread.query(1, "INSERT INTO t (id) VALUES ($1)", ["tx-1"]);
    // Sent while the transaction is open: in one session it would see the uncommitted row.
    const other = count(2).then((c) => (order.push("other"), c));
    expect(await count(1)).toBe(1);
    await thread.query(1, "ROLLBACK", []).then(() => order.push("rollback"));
    expect(await other).toBe(0);
    expect(order).toEqual(["rollback", "other"]);
  });

  it("keeps a transaction whose statement failed its own until its ROLLBACK", async () => {
    await thread.query(3, "BEGIN", []);
    const failed = await thread.query(3, "SELECT * FROM nowhere WHERE id = $1", ["x"]).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: "42P01" });
    const order: string[] = [];
    const other = thread.query(4, "SELECT 1 AS one", []).then((r) => (order.push("other"), r));
    await thread.query(3, "ROLLBACK", []).then(() => order.push("rollback"));
    expect((await other).rows).toEqual([{ one: 1 }]);
    expect(order).toEqual(["rollback", "other"]);
  });

  it("keeps a transaction its own through a rollback to a savepoint", async () => {
    await thread.query(5, "BEGIN", []);
    await thread.query(5, "SAVEPOINT before_insert", []);
    await thread.query(5, "INSERT INTO t (id) VALUES ($1)", ["tx-2"]);
    await thread.query(5, "ROLLBACK TO SAVEPOINT before_insert", []);
    await thread.query(5, "INSERT INTO t (id) VALUES ($1)", ["tx-3"]);
    const order: string[] = [];
    const other = count(6).then((c) => (order.push("other"), c));
    await new Promise((r) => setTimeout(r, 20));
    await thread.query(5, "ROLLBACK", []).then(() => order.push("rollback"));
    expect(await other).toBe(0);
    expect(order).toEqual(["rollback", "other"]);
  });

  it("gives no lost update to concurrent read-then-write transactions through Kysely", async () => {
    const db = new Kysely<{ counter: { n: number } }>({ dialect: new PGliteDialect(thread) });
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction().execute(async (trx) => {
          const { n } = await trx.selectFrom("counter").select("n").executeTakeFirstOrThrow();
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          await trx.updateTable("counter").set({ n: n + 1 }).execute();
        }),
      ),
    );
    expect((await db.selectFrom("counter").select("n").executeTakeFirstOrThrow()).n).toBe(20);
  });

  it("gives rows as PGlite parses them: numbers, Dates, JSON and bytes; and how many rows a change touched", async () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    const inserted = await thread.query(0, "INSERT INTO t (id, n, at, data, bytes) VALUES ($1, $2, $3, $4, $5) RETURNING *", ["row", 42, at, JSON.stringify({ x: [1, "y"] }), new Uint8Array([1, 2, 255])]);
    expect(inserted.rows).toEqual([{ id: "row", n: 42, at, data: { x: [1, "y"] }, bytes: new Uint8Array([1, 2, 255]) }]);
    expect(inserted.rows[0]).toMatchObject({ at: expect.any(Date) });
    expect((await thread.query(0, "UPDATE t SET n = n + 1 WHERE id = $1", ["row"])).affectedRows).toBe(1);
  });

  it("gives json and jsonb as PGlite parses them, though they cross the threads as text: objects, scalars, null, arrays of them, and a column named twice", async () => {
    const { rows } = await thread.query(
      0,
      `SELECT '{"a": [1, {"b": null}], "s": "x"}'::json AS j, '{"x": 1.50}'::jsonb AS jb, '"text"'::json AS s, 'null'::jsonb AS n, NULL::json AS z,
              ARRAY['{"k": 1}'::jsonb, '[2]'::jsonb] AS arr, ARRAY[ARRAY['{"k": 1}'::json]] AS nested, '["not parsed"]'::text AS t, $1::jsonb AS p`,
      [JSON.stringify({ q: ["r"] })],
    );
    expect(rows).toEqual([{ j: { a: [1, { b: null }], s: "x" }, jb: { x: 1.5 }, s: "text", n: null, z: null, arr: [{ k: 1 }, [2]], nested: [[{ k: 1 }]], t: '["not parsed"]', p: { q: ["r"] } }]);
    // The later of two columns of the same name is the row's, as in PGlite's own rows.
    expect((await thread.query(0, `SELECT '1'::text AS v, '{"w": 2}'::jsonb AS v`, [])).rows).toEqual([{ v: { w: 2 } }]);
    expect((await thread.query(0, `SELECT '{"w": 2}'::jsonb AS v, 'plain'::text AS v`, [])).rows).toEqual([{ v: "plain" }]);
  });

  it("fails as PGlite fails, with the error's code, constraint and statement", async () => {
    const insert = "INSERT INTO t (id) VALUES ($1)";
    await thread.query(0, insert, ["dup"]);
    const error = await thread.query(0, insert, ["dup"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: "23505", constraint: "t_pkey", query: insert, params: ["dup"] });
  });

  it("hears the NOTIFYs statements send, until it stops listening", async () => {
    const heard: string[] = [];
    const stop = await thread.listen("drydock_test", (payload) => heard.push(payload));
    await thread.query(0, "SELECT pg_notify($1, $2)", ["drydock_test", "one"]);
    await waitFor(() => heard.length === 1);
    stop();
    await thread.query(0, "SELECT pg_notify($1, $2)", ["drydock_test", "two"]);
    await thread.query(0, "SELECT 1", []);
    expect(heard).toEqual(["one"]);
  });

  it("hands a notice over in memory to every listen, after the caller's turn", async () => {
    const heard: string[] = [];
    const hear = (payload: string) => heard.push(payload);
    // The same function listening twice hears twice, as two LISTENs would.
    const stops = [await thread.listen("drydock_memory", hear), await thread.listen("drydock_memory", hear)];
    thread.deliver("drydock_memory", "in memory");
    expect(heard).toEqual([]);
    await Promise.resolve();
    expect(heard).toEqual(["in memory", "in memory"]);
    for (const stop of stops) stop();
  });

  it("fails every statement once the thread has stopped", async () => {
    const other = await PGliteThread.start({});
    await other.close();
    await expect(other.query(0, "SELECT 1", [])).rejects.toThrow(/PGlite's thread stopped/);
  });

  it("keeps no process alive once idle: a command that opened the database and is done exits", async () => {
    // Opens the database, runs a statement and returns without closing it, as a careless command might.
    const script = `const { openDatabase } = await import(${JSON.stringify(path.join(root, "src/store/database.ts"))}); const d = await openDatabase({}); await d.db.selectFrom("events").select("global_position").limit(1).execute(); console.log("done");`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, timeout: 30_000 });
    expect(stdout.trim()).toBe("done");
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("the notification never came");
    await new Promise((r) => setTimeout(r, 10));
  }
}
