import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import type { EventStore } from "../../src/store/event-store";
import * as m005 from "../../src/store/migrations/005-blueprint-name-unique";
import { dumpProjections, rebuildProjections } from "../../src/store/rebuild-projections";
import { testDialect } from "../support/test-database";
import { waitUntil } from "../support/wait-until";
import { startApi, type ApiHarness } from "./api-harness";

/**
 * Blueprint names are unique, also under a race: the commands check the projection first, and a
 * unique constraint (migration 005) refuses whichever concurrent request commits second. Either
 * way the client gets the same 409 naming `name`, and nothing of the refused request is in the log.
 */
let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});

const draft = (name: string) => ({ name, kind: "local-host", config: {} });

async function logCounts(name: string) {
  const created = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM events WHERE event_type = 'BlueprintCreated' AND data->>'name' = ${name}`.execute(api.drydock.database.db);
  const rows = await api.drydock.database.db.selectFrom("blueprints").select("blueprint_id").where("name", "=", name).execute();
  // A refused append must leave no stream row behind either.
  const orphans = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM streams s
     WHERE s.stream_type = 'blueprint' AND NOT EXISTS (SELECT 1 FROM blueprints b WHERE 'blueprint-' || b.blueprint_id = s.stream_id)`.execute(api.drydock.database.db);
  return { created: created.rows[0]!.n, rows: rows.map((r) => r.blueprint_id), orphanStreams: orphans.rows[0]!.n };
}

/**
 * Holds every append of the API's commands until `n` have arrived: all `n` requests have passed
 * the name check before any of them commits, the race the check alone cannot close.
 */
async function withAppendsHeldUntil<T>(n: number, run: () => Promise<T>): Promise<T> {
  const commands = api.drydock.commands;
  const store = commands.store;
  let arrived = 0;
  commands.store = new Proxy(store, {
    get(target, key) {
      if (key === "append") {
        return async (...args: Parameters<EventStore["append"]>) => {
          arrived++;
          await waitUntil(`${n} appends to arrive`, () => arrived >= n, 20_000, { intervalMs: 5, seen: () => `${arrived} arrived` });
          return target.append(...args);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  try {
    return await run();
  } finally {
    commands.store = store;
  }
}

function expectNameTaken(res: { status: number; body: any }, winner: string) {
  expect(res.status).toBe(409);
  expect(res.body.error).toMatchObject({ code: "name_taken", details: { field: "name", blueprintId: winner } });
  expect(res.body.error.message).toMatch(/^name: a blueprint named ".*" exists already/);
}

describe(`blueprint names (${testDialect})`, () => {
  it("a second create of a name is refused with 409 naming the field, and appends nothing", async () => {
    const first = await api.call("POST", "/v1/blueprints", draft("builders"));
    expect(first.status).toBe(201);
    const before = await api.eventCount();
    expectNameTaken(await api.call("POST", "/v1/blueprints", draft("builders")), first.body.id);
    expect(await api.eventCount()).toBe(before);
    expect(await logCounts("builders")).toEqual({ created: 1, rows: [first.body.id], orphanStreams: 0 });
  });

  it("of many concurrent creates of one name, exactly one succeeds; the rest get the 409 and leave nothing in the log", async () => {
    const racers = 12;
    const before = await api.eventCount();
    const responses = await withAppendsHeldUntil(racers, () => Promise.all(Array.from({ length: racers }, () => api.call("POST", "/v1/blueprints", draft("racing")))));
    const won = responses.filter((r) => r.status === 201);
    expect(won).toHaveLength(1);
    const winner = won[0]!.body.id;
    for (const lost of responses.filter((r) => r.status !== 201)) expectNameTaken(lost, winner);
    expect(await logCounts("racing")).toEqual({ created: 1, rows: [winner], orphanStreams: 0 });
    expect(await api.eventCount()).toBe(before + 1);
  });

  it("of two concurrent renames to one name, one succeeds and the other gets the 409", async () => {
    const ids = await Promise.all(["left", "right"].map(async (name) => (await api.call("POST", "/v1/blueprints", draft(name))).body.id as string));
    const before = await api.eventCount();
    const responses = await withAppendsHeldUntil(2, () => Promise.all(ids.map((id) => api.call("PATCH", `/v1/blueprints/${id}`, { name: "middle" }))));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = responses.find((r) => r.status === 200)!.body.id;
    expectNameTaken(responses.find((r) => r.status === 409)!, winner);
    expect(await api.eventCount()).toBe(before + 1);
    const names = await api.drydock.database.db.selectFrom("blueprints").select(["blueprint_id", "name"]).where("blueprint_id", "in", ids).orderBy("name").execute();
    expect(names.map((b) => b.name).sort()).toEqual(winner === ids[0] ? ["middle", "right"] : ["left", "middle"]);
  });

  it("a rebuild replays a name freed and taken again even when the taker's event drew the earlier position", async () => {
    // A renamed from "dock" to "dock-old"; then B created as "dock". Under concurrency B's event
    // can draw the earlier position while committing later; this puts the log in that order.
    const a = (await api.call("POST", "/v1/blueprints", draft("dock"))).body.id;
    expect((await api.call("PATCH", `/v1/blueprints/${a}`, { name: "dock-old" })).status).toBe(200);
    const b = (await api.call("POST", "/v1/blueprints", draft("dock"))).body.id;
    expect(b).toBeTruthy();
    await api.drydock.worker.stop();
    try {
      const db = api.drydock.database.db;
      const live = await dumpProjections(db);
      await db.transaction().execute(async (trx) => {
        const rows = await sql<{ global_position: string }>`
          SELECT global_position FROM events
           WHERE (stream_id = ${`blueprint-${a}`} AND event_type = 'BlueprintUpdated') OR (stream_id = ${`blueprint-${b}`} AND event_type = 'BlueprintCreated')
           ORDER BY global_position`.execute(trx);
        const [renamed, created] = rows.rows.map((r) => Number(r.global_position));
        await sql`CREATE TEMP TABLE swapped ON COMMIT DROP AS SELECT * FROM events WHERE global_position IN (${renamed}, ${created})`.execute(trx);
        await sql`DELETE FROM events WHERE global_position IN (${renamed}, ${created})`.execute(trx);
        await sql`UPDATE swapped SET global_position = CASE global_position WHEN ${renamed} THEN ${created}::bigint ELSE ${renamed}::bigint END`.execute(trx);
        await sql`INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM swapped`.execute(trx);
      });
      const order = await sql<{ stream_id: string; event_type: string }>`
        SELECT stream_id, event_type FROM events WHERE stream_id IN (${`blueprint-${a}`}, ${`blueprint-${b}`}) ORDER BY global_position`.execute(db);
      expect(order.rows.map((r) => `${r.stream_id === `blueprint-${a}` ? "a" : "b"}:${r.event_type}`)).toEqual(["a:BlueprintCreated", "b:BlueprintCreated", "a:BlueprintUpdated"]);

      await rebuildProjections(db, inlineProjections);
      expect(await dumpProjections(db)).toEqual(live);
    } finally {
      await api.drydock.worker.start();
    }
  });

  it("the migration stops on a database that already holds a name twice, naming them", async () => {
    const db = api.drydock.database.db;
    const [x, y] = ["bp_dup00000000000000001", "bp_dup00000000000000002"];
    await sql`ALTER TABLE blueprints DROP CONSTRAINT ${sql.raw(m005.BLUEPRINT_NAME_CONSTRAINT)}`.execute(db);
    try {
      for (const id of [x, y]) {
        await sql`INSERT INTO blueprints (blueprint_id, name, kind, resource_type, config, resource_limit, enabled, version, created_at, updated_at)
                  VALUES (${id}, 'twice', 'local-host', 'host', '{}'::jsonb, 1, true, 1, now(), now())`.execute(db);
      }
      await expect(m005.up(db)).rejects.toThrow(`blueprint names must be unique, and these are not: "twice" (${x}, ${y})`);
    } finally {
      await sql`DELETE FROM blueprints WHERE blueprint_id IN (${x}, ${y})`.execute(db);
      await m005.up(db);
    }
    expect((await api.call("POST", "/v1/blueprints", draft("builders"))).status).toBe(409);
  });
});
