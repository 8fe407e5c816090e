import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { rowWriteQuery } from "../../projections/row-change";
import { allocationSnapshotQuery, snapshotArgs, snapshotSql, type SnapshotRequest } from "../../src/allocator/allocation-snapshot";
import { CompiledShapes, compiledOnce } from "../../src/store/compiled-once";
import type { DrydockDatabase } from "../../src/store/schema";
import { streamMoveQuery } from "../../src/store/stream-move";
import type { StreamState } from "../../src/store/stream-state";

/**
 * A query compiled once per shape must send exactly what Kysely would have compiled for the
 * same arguments, whatever the arguments are; and refuse, rather than send wrongly, a build that
 * looks at its arguments or an argument that is an expression.
 */
const db = new Kysely<DrydockDatabase>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

const state = (n: number): StreamState => ({ status: "active", context: { n } }) as unknown as StreamState;

describe("queries compiled once per shape", () => {
  it("fill the same SQL with each call's arguments, as Kysely compiles them", () => {
    const byOwner = compiledOnce((db, { owner, now }: { owner: string; now: Date }) =>
      db.selectFrom("tokens").select("token_id").where("owner", "=", owner).where("status", "=", "active").where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)])),
    );
    for (const [owner, now] of [["ci", new Date(0)], ["alice's", new Date(1_000)]] as const) {
      const direct = db.selectFrom("tokens").select("token_id").where("owner", "=", owner).where("status", "=", "active").where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)])).compile();
      const once = byOwner(db, { owner, now });
      expect(once.sql).toBe(direct.sql);
      expect(once.parameters).toEqual(direct.parameters);
    }
  });

  it("move a stream as the builder did: a new stream inserted, an existing one updated at its version", () => {
    const at = new Date("2026-12-02T10:00:00Z");
    const created = streamMoveQuery(db, { streamId: "lease-a1", expectedVersion: 0, eventCount: 4, state: state(1), at }, "fail");
    const directInsert = db.insertInto("streams").values({ stream_id: "lease-a1", stream_type: "lease", version: 4, state: JSON.stringify(state(1)), updated_at: at }).returning("stream_id").compile();
    expect(created.sql).toBe(directInsert.sql);
    expect(created.parameters).toEqual(directInsert.parameters);
    const skipped = streamMoveQuery(db, { streamId: "resource-r", expectedVersion: 0, eventCount: 1, state: state(2), at }, "skip");
    expect(skipped.sql).toMatch(/on conflict \("stream_id"\) do nothing/);
    expect(skipped.parameters[1]).toBe("resource");
    const moved = streamMoveQuery(db, { streamId: "lease-a1", expectedVersion: 4, eventCount: 2, state: state(3), at }, "fail");
    const directUpdate = db.updateTable("streams").set({ version: 6, state: JSON.stringify(state(3)), updated_at: at }).where("stream_id", "=", "lease-a1").where("version", "=", 4).returning("stream_id").compile();
    expect(moved.sql).toBe(directUpdate.sql);
    expect(moved.parameters).toEqual(directUpdate.parameters);
  });

  it("write a row with the columns each write sets: a different set of columns is a different shape", () => {
    const key = { table: "leases" as const, column: "lease_id", value: "l1", json: ["attributes"] };
    const inserted = rowWriteQuery(db, key, { insert: { lease_id: "l1", status: "pending", attributes: { os: "linux" } } });
    expect(inserted.sql).toBe('insert into "leases" ("lease_id", "status", "attributes") values ($1, $2, $3)');
    expect(inserted.parameters).toEqual(["l1", "pending", '{"os":"linux"}']);
    const set = rowWriteQuery(db, key, { set: { status: "active", resource_id: "r1" } });
    expect(set.sql).toBe('update "leases" set "status" = $1, "resource_id" = $2 where "lease_id" = $3');
    expect(set.parameters).toEqual(["active", "r1", "l1"]);
    // A value left undefined is not written, as Kysely leaves it out.
    const fewer = rowWriteQuery(db, { ...key, value: "l2" }, { set: { status: "released", resource_id: undefined } });
    expect(fewer.sql).toBe('update "leases" set "status" = $1 where "lease_id" = $2');
    expect(fewer.parameters).toEqual(["released", "l2"]);
    const returning = ["status"] as const;
    const back = rowWriteQuery(db, key, { set: { status: "active" } }, returning);
    expect(back.sql).toBe('update "leases" set "status" = $1 where "lease_id" = $2 returning "status"');
  });

  it("read the capacity view in each of its four shapes as Kysely compiles it for the same request", () => {
    const lease = (owner: string, authorizingObject: string | null) => ({ leaseId: `ls_${owner.length}`, owner, authorizingObject });
    const quota = { maxLiveLeases: 2 };
    const requests: SnapshotRequest[] = [];
    for (const [owner, client, withQuota] of [["ci", "ci", false], ["o'brien", null, true]] as const) {
      const base = { resourceType: owner === "ci" ? "host" : "working-copy", kinds: ["local-host", "static-hosts"], lease: lease(owner, client) };
      const place = { priority: owner.length, requestedAt: new Date(owner.length * 1_000), quota: withQuota ? quota : null };
      const token = { tokenId: `tk_${owner.length}`, at: new Date(5_000 + owner.length) };
      requests.push(base, { ...base, place }, { ...base, token }, { ...base, place, token });
    }
    const texts = new Set<string>();
    for (const q of requests) {
      const once = allocationSnapshotQuery(db, q);
      const direct = snapshotSql(db, snapshotArgs(q)).compile(db);
      expect(once.sql).toBe(direct.sql);
      expect(once.parameters).toEqual(direct.parameters);
      texts.add(once.sql);
    }
    // One text per shape: with or without the token, with or without a place in the queue.
    expect(texts.size).toBe(4);
  });

  it("refuse a build that looks at an argument instead of passing it on", () => {
    const shapes = new CompiledShapes();
    expect(() => shapes.compile(db, "peeks", { owner: "ci" }, (db, a) => db.selectFrom("tokens").select("token_id").where("owner", "=", a.owner === "ci" ? "ci" : "other"))).toThrow(/owner not a parameter/);
  });

  it("refuse an expression where a value belongs", () => {
    const shapes = new CompiledShapes();
    const build = (k: Kysely<DrydockDatabase>, a: { status: unknown }) => k.updateTable("leases").set({ status: a.status as string });
    expect(shapes.compile(db, "set-status", { status: "active" }, build).parameters).toEqual(["active"]);
    expect(() => shapes.compile(db, "set-status", { status: sql`upper(status)` }, build)).toThrow(/status is an expression/);
  });
});
