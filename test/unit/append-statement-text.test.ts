import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from "kysely";
import { describe, expect, it } from "vitest";
import { inlineProjections } from "../../projections/index";
import { planAppendStatement, renumber } from "../../src/store/append-statement";
import type { DrydockDatabase } from "../../src/store/schema";
import { evolveState, initialState } from "../../src/store/stream-state";
import { countCommits } from "../../src/store/commit-count";

describe("renumber: one statement's placeholders after another's", () => {
  it("shifts every $n by the offset", () => {
    expect(renumber('update "leases" set "status" = $1 where "lease_id" = $2', 7)).toBe('update "leases" set "status" = $8 where "lease_id" = $9');
    expect(renumber("select $10, $2", 0)).toBe("select $10, $2");
  });

  it("leaves quoted literals and identifiers alone, quotes escaped by doubling included", () => {
    expect(renumber(`select 'costs $1' || $1, "col$2", 'it''s $3' || $2`, 3)).toBe(`select 'costs $1' || $4, "col$2", 'it''s $3' || $5`);
  });
});

describe("countCommits", () => {
  it("counts COMMITs and writes sent outside a transaction, not reads or NOTIFYs", () => {
    const statements = [
      "select * from leases",
      "begin",
      'insert into "events" values ($1)',
      "commit",
      "SELECT pg_notify($1, $2)",
      'WITH moved AS (update "streams" set "version" = $1) SELECT 1',
      'update "work_items" set "run_at" = $1',
      "begin",
      'insert into "events" values ($1)',
      "rollback",
    ];
    expect(countCommits(statements)).toBe(3);
  });
});

describe("the one-statement append's text, made once per shape", () => {
  const db = new Kysely<DrydockDatabase>({
    dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler() },
  });
  const at = new Date("2026-12-02T12:00:00Z");
  const plan = (leaseId: string, owner: string) => {
    const streamId = `lease-${leaseId}`;
    const data = { leaseId, resourceType: "host", attributes: {}, blueprintIds: null, owner, ownerResourceId: null, ttlSeconds: 3600, expiresAt: null, authorizingObject: null, ttlSource: "request" };
    const events = [{ streamId, streamVersion: 1, type: "LeaseRequested", data, version: 1, recordedAt: at, metadata: { actor: owner } }];
    const state = evolveState(streamId, initialState(streamId), events, at);
    return planAppendStatement(db, inlineProjections, { streamId, expectedVersion: 0, events, state }, undefined, at)!;
  };

  it("sends a second append of the same shape with the first's text and its own values in the same places", () => {
    const first = plan("l_first", "alice");
    const second = plan("l_second", "bob");
    expect(second.query.sql).toBe(first.query.sql);
    expect(second.query.parameters).toHaveLength(first.query.parameters.length);
    const placesOf = (params: readonly unknown[], value: unknown) => params.flatMap((p, i) => (p === value || (typeof p === "string" && p.includes(`"${value}"`)) ? [i] : []));
    for (const [a, b] of [["lease-l_first", "lease-l_second"], ["l_first", "l_second"], ["alice", "bob"]]) {
      expect(placesOf(second.query.parameters, b)).toEqual(placesOf(first.query.parameters, a));
      expect(placesOf(second.query.parameters, b).length).toBeGreaterThan(0);
      expect(placesOf(second.query.parameters, a)).toEqual([]);
    }
  });
});
