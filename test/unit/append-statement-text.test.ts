import { describe, expect, it } from "vitest";
import { renumber } from "../../src/store/append-statement";
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
